"""HTTP plumbing under octorest: timeouts, safe retries, TLS verification, error mapping.

octorest 0.4 calls ``session.get/post`` without a timeout (a hung OctoPrint or a proxy that accepts
and never answers blocks forever) and has no TLS option. Both are fixed here by handing octorest a
session that applies a default timeout to every request and verifies certificates unless told
otherwise, with a retry adapter that retries *only* idempotent methods: repeating a POST such as
"start" or "cancel" after a lost reply could start a second print or cancel the wrong one.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry

from .errors import (
    NotOctoPrint,
    OctoPrintAuthError,
    OctoPrintConflict,
    OctoPrintError,
    OctoPrintRequestError,
    OctoPrintTLSError,
    OctoPrintUnreachable,
    scrub,
)

#: (connect, read) seconds. Connect is short: a refused or unroutable OctoPrint must show as offline
#: quickly. Read is longer: OctoPrint answers slowly while it is busy analysing a fresh upload.
DEFAULT_TIMEOUT: tuple[float, float] = (3.05, 15.0)

#: Methods that are safe to send twice. POST/DELETE change the printer and are never retried.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Verify = bool | str  # True/False, or the path of a CA bundle for a private certificate authority


class TimeoutSession(requests.Session):
    """A `requests.Session` that never waits forever: every request gets the default timeout."""

    def __init__(self, timeout: tuple[float, float] = DEFAULT_TIMEOUT, verify: Verify = True) -> None:
        super().__init__()
        self.default_timeout = timeout
        self.verify = verify
        retry = Retry(
            total=2,
            connect=1,  # a refused connection never reached OctoPrint, so one retry is harmless
            read=1,
            status=1,
            other=0,  # TLS and protocol errors are not transient: report them at once
            backoff_factor=0.2,
            status_forcelist=(502, 503, 504),  # reverse proxies in front of a restarting OctoPrint
            allowed_methods=IDEMPOTENT_METHODS,
            raise_on_status=False,
            respect_retry_after_header=False,
        )
        adapter = HTTPAdapter(max_retries=retry, pool_connections=1, pool_maxsize=2)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        # Passed per request on purpose: requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override a
        # *session's* verify setting (psf/requests#3829), which would silently drop a CA bundle or a
        # deliberate verify=False.
        if kwargs.get("verify") is None:
            kwargs["verify"] = self.verify
        return super().request(method, url, *args, **kwargs)


def normalise_base_url(url: str) -> str:
    """Check an OctoPrint URL and return it without a trailing slash.

    A path prefix is kept (OctoPrint behind a reverse proxy at https://host/octoprint/): octorest
    itself drops it, which is one more reason the REST layer builds URLs on its own.
    """
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OctoPrintError(
            f"{url!r} is not an OctoPrint URL; give it as http://host:port or https://host/prefix"
        )
    if parts.query or parts.fragment:
        raise OctoPrintError(f"{url!r} has a query or fragment; give only scheme, host, port and path")
    return text.rstrip("/")


def map_transport_error(exc: requests.RequestException, url: str, secret: str | None) -> OctoPrintError:
    """Turn a requests exception into one clear line (the key never appears in it)."""
    where = scrub(url, secret)
    if isinstance(exc, requests.exceptions.SSLError):
        reason = _innermost_reason(exc)
        return OctoPrintTLSError(
            f"TLS problem talking to OctoPrint at {where}: {reason}; check the certificate "
            "(or give farmctl the CA bundle that signed it), or use the right http/https scheme"
        )
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return OctoPrintUnreachable(f"OctoPrint at {where} did not accept a connection in time; "
                                    "check the URL and that the host is up")
    if isinstance(exc, requests.exceptions.Timeout) or _caused_by(exc, ReadTimeoutError):
        # After retries, requests reports a read timeout as a ConnectionError wrapping urllib3's error.
        return OctoPrintUnreachable(f"OctoPrint at {where} stopped answering (timed out); "
                                    f"it may be overloaded or restarting{_scheme_hint(url)}")
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = _innermost_reason(exc)
        return OctoPrintUnreachable(f"cannot reach OctoPrint at {where}: {reason}; check the URL and "
                                    f"that OctoPrint is running{_scheme_hint(url)}")
    return OctoPrintUnreachable(f"request to OctoPrint at {where} failed: {scrub(str(exc), secret)}")


def map_status(response: requests.Response, base_url: str, secret: str | None) -> OctoPrintError:
    """Turn a refusing reply into a typed error; OctoPrint's own description is kept (it is useful)."""
    status = response.status_code
    detail = scrub(_reply_detail(response), secret)
    path = scrub(urlsplit(response.url).path, secret)
    if status in (401, 403):
        return OctoPrintAuthError(
            f"OctoPrint at {base_url} refused the API key ({status} on {path}); create an Application "
            "Key in OctoPrint (Settings > Application Keys) and give that key to farmctl"
        )
    if status == 409:
        return OctoPrintConflict(
            f"OctoPrint at {base_url} refused {path}: {detail or 'printer not ready'} (409)"
        )
    suffix = f": {detail}" if detail else ""
    return OctoPrintRequestError(f"OctoPrint at {base_url} answered {status} on {path}{suffix}",
                                 status=status)


def not_octoprint(base_url: str, why: str) -> NotOctoPrint:
    return NotOctoPrint(f"{base_url} does not look like OctoPrint ({why}); check the URL "
                        "(scheme, host, port, and path prefix if it is behind a proxy)")


def _reply_detail(response: requests.Response) -> str:
    """OctoPrint's error replies are either JSON {"error": "..."} or a short HTML page."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    text = response.text.strip()
    if text.startswith("<"):
        # Flask's abort() page: the description sits in the first <p>.
        start, end = text.find("<p>"), text.find("</p>")
        text = text[start + 3:end] if 0 <= start < end else ""
    return " ".join(text.split())[:200]


def _scheme_hint(url: str) -> str:
    # A plain-HTTP server never answers a TLS ClientHello: it looks like a hang, not a TLS error.
    return " (if that server speaks plain HTTP, use an http:// URL)" if url.startswith("https:") else ""


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, kind):
            return True
        nested = seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else None
        seen = nested if nested is not None else getattr(seen, "reason", None)
        if not isinstance(seen, BaseException):
            return False
    return False


def _innermost_reason(exc: BaseException) -> str:
    """requests wraps urllib3 wraps socket/ssl errors; the innermost one names the real problem."""
    seen = exc
    for _ in range(8):
        nested = seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else None
        nested = getattr(seen, "reason", None) if nested is None else nested
        if not isinstance(nested, BaseException):
            break
        seen = nested
    text = str(seen)
    # urllib3 prefixes "<urllib3.connection.HTTPConnection object at 0x...>: "; drop the noise.
    if ">: " in text:
        text = text.split(">: ", 1)[1]
    if "[Errno" in text:
        text = text[text.index("[Errno"):]
    elif "): " in text and "Pool(" in text:
        text = text.split("): ", 1)[1]
    return " ".join(text.split())[:200] or type(seen).__name__
