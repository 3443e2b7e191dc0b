"""What every request handler of one server shares: the farm home, its store and the access rules.

Built once by the composition (`farmctl serve`, or the daemon with [http] enabled) and hung on the
FastAPI app's state; handlers reach it through `context_of(request)`. Nothing here is global: two
servers in one process (tests) each have their own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from farmctl.web.auth import Gate, authorize, presented_key
from farmctl.web.recent import RecentUploads

if TYPE_CHECKING:
    from starlette.requests import Request

    from farmctl.store import JobStore
    from farmctl.store.keys import ApiKey
    from farmctl.web.feed import FarmFeed


@dataclass
class WebContext:
    home: Path
    store: JobStore
    gate: Gate
    max_file_bytes: int
    version: str
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("farmctl.web"))
    uploads: RecentUploads = field(default_factory=RecentUploads)
    feed: FarmFeed = field(init=False)

    def __post_init__(self) -> None:
        from farmctl.web.feed import FarmFeed, dashboard_document, farm_marker, printers_part

        store = self.store
        self.feed = FarmFeed(lambda: dashboard_document(store), lambda: farm_marker(store),
                             printers=lambda: printers_part(store), log=self.log)

    def authorize(self, request: Request, needed: str, *, cookie: bool = False) -> ApiKey:
        return authorize(self.store, self.gate, presented_key(request, cookie=cookie), needed)


def context_of(request: Request) -> WebContext:
    context = request.app.state.farm
    assert isinstance(context, WebContext)
    return context
