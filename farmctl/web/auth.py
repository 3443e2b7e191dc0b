"""Who is asking: the API key of a request, and whether its scope allows what it asks.

A key arrives as `X-Api-Key` (what slicers send, OctoPrint's header), as `Authorization: Bearer`, or,
for the dashboard's own pages and its event stream (a browser's EventSource cannot set headers), as
the cookie the dashboard sets after asking for the key once. Never in the URL: URLs end up in logs.

With no key configured at all, a server bound to loopback lets every local request in (the farm is as
open as its shell); `farmctl serve` refuses to bind elsewhere without a key, and a server that was bound
elsewhere treats "no keys" (all revoked while it ran) as "nobody gets in", never as "everyone".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from farmctl.store.keys import SCOPES, ApiKey
from farmctl.web.errors import WebError

if TYPE_CHECKING:
    from starlette.requests import Request

    from farmctl.store import JobStore

KEY_COOKIE = "farmctl_key"
LOCAL = ApiKey(name="(no keys: loopback only)", scope="admin", created_at=0.0)


@dataclass(frozen=True)
class Gate:
    """The server's access rules: what it was bound to and whether the dashboard needs a key."""

    exposed: bool  # bound to an address beyond loopback
    open_dashboard: bool = False


def presented_key(request: Request, *, cookie: bool = False) -> str | None:
    header = request.headers.get("x-api-key")
    if header:
        return header.strip()
    authorization = request.headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if cookie:
        return request.cookies.get(KEY_COOKIE) or None
    return None


def authorize(store: JobStore, gate: Gate, secret: str | None, needed: str) -> ApiKey:
    """The key this request acts with, or WebError 401 (no or unknown key) / 403 (scope too small)."""
    assert needed in SCOPES
    if secret is None:
        if not gate.exposed and store.count_api_keys() == 0:
            return LOCAL
        raise WebError(
            401,
            f"this needs an API key with scope '{needed}': send it as X-Api-Key "
            "(create one with `farmctl keys add NAME --scope " + needed + "`)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    key = store.find_api_key(secret)
    if key is None:
        raise WebError(
            401,
            "unknown or revoked API key; check the key in the client (`farmctl keys list` shows the names)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not key.allows(needed):
        raise WebError(
            403, f"the API key '{key.name}' has scope '{key.scope}'; this needs '{needed}' or above"
        )
    return key
