"""Typed failures of an OctoPrint, each with a one-line message a user can act on.

octorest raises a bare ``RuntimeError`` with the reply body for every non-2xx status and lets
requests' own exceptions escape unchanged; the driver needs to tell "wrong key" from "OctoPrint
down" from "printer busy", so the REST layer turns both into these classes. They derive from
`farmctl.errors.UserError` because every one of them is something the operator can fix (a key, a
URL, a certificate, a cable), and the CLI then prints the message without a traceback.
"""

from __future__ import annotations

from farmctl.errors import UserError
from farmctl.redact import mask_url_passwords


class OctoPrintError(UserError):
    """Base class: something went wrong talking to one OctoPrint."""

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        # Most messages quote the URL, and a URL may carry user:password@: never show the password.
        super().__init__(mask_url_passwords(message), exit_code=exit_code)


class OctoPrintUnreachable(OctoPrintError):
    """Nothing answered (refused, DNS, timeout, connection dropped): OctoPrint is down or the URL is wrong."""


class OctoPrintTLSError(OctoPrintError):
    """The HTTPS handshake failed (untrusted or mismatched certificate, plain HTTP on an https URL ...)."""


class OctoPrintAuthError(OctoPrintError):
    """The API key was refused (403/401) or lacks a permission farmctl needs."""


class NotOctoPrint(OctoPrintError):
    """Something answered, but it is not an OctoPrint REST API (404 on /api/version, HTML, ...)."""


class OctoPrintConflict(OctoPrintError):
    """409: the printer is not in a state that allows the request (not operational, busy, no job)."""


class OctoPrintRequestError(OctoPrintError):
    """Any other refusal (400, 404 for a file, 415, 5xx ...)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


def mask_key(key: str | None) -> str:
    """What listings show instead of an API key: enough to tell two keys apart, useless to an attacker.

    Short keys are masked completely, since their last characters would reveal a large part of them.
    """
    if not key:
        return "(none)"
    if len(key) < 16:
        return "****"
    return "****" + key[-4:]


def scrub(text: str, secret: str | None) -> str:
    """Remove a secret from text that is about to be logged or shown (defence in depth: error bodies
    and exception strings from libraries could in principle echo a request back)."""
    if secret and secret in text:
        return text.replace(secret, mask_key(secret))
    return text
