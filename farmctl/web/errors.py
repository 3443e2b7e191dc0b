"""The web face's one error: an HTTP status and the one line that says what happened and what to do.

Each dialect renders it in the shape its clients read (OctoPrint and the farm's own API:
`{"error": "..."}`; Moonraker: `{"error": {"code", "message"}}`), see app.py.
"""

from __future__ import annotations

from farmctl.errors import NotFound, UserError


class WebError(Exception):
    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def from_user_error(exc: UserError, status: int = 400) -> WebError:
    """A use case's typed error as an HTTP answer: an unknown id is 404, anything else `status`."""
    return WebError(404 if isinstance(exc, NotFound) else status, exc.message)
