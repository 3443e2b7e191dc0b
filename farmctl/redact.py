"""Keeping secrets out of what people see: listings, messages, logs and the event log.

One helper for every URL that may carry credentials (`postgresql://user:pw@host/farm`,
`http://user:pw@octopi.local`, `mqtt://user:pw@broker`): the password of the userinfo part is
replaced by `***`, the user name is kept so the URL stays recognisable. It works on free text
too (an error message or a state detail that quotes a URL), so callers need not find the URL first.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"

# scheme://user:password@ ... ; RFC 3986 forbids a raw '/', '@' or whitespace inside userinfo.
_USERINFO_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):(?P<password>[^@/\s]+)@")


def mask_url_passwords(text: str) -> str:
    """`text` with the password of every `scheme://user:password@` in it replaced by ***."""
    if "@" not in text:
        return text  # the common case, and cheap: no regex
    return _USERINFO_PASSWORD.sub(rf"\g<head>:{MASK}@", text)


def mask_optional(text: str | None) -> str | None:
    return None if text is None else mask_url_passwords(text)


def mask_values(detail: dict[str, Any]) -> dict[str, Any]:
    """A copy of a detail mapping (an event's, a log line's) with every string value masked."""
    return {k: mask_url_passwords(v) if isinstance(v, str) else v for k, v in detail.items()}
