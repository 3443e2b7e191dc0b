"""The jobs the last uploads became, by the path the client uploaded to.

OctoPrint clients name an upload by its path afterwards: Cura's plugin may upload first and then
post `{"command": "select", "print": true}` to `/api/files/local/<path>`, OrcaSlicer may call
Moonraker's `/printer/print/start?filename=<path>`. Those are answered from here. Kept in memory
and bounded: such a follow-up comes seconds after its upload, and after a restart the technician
releases the held job by its id instead.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

_KEEP = 1000


class RecentUploads:
    def __init__(self, keep: int = _KEEP) -> None:
        self._keep = keep
        self._jobs: OrderedDict[str, list[int]] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, path: str, job_ids: list[int]) -> None:
        key = path.strip("/")
        with self._lock:
            self._jobs.pop(key, None)
            self._jobs[key] = list(job_ids)
            while len(self._jobs) > self._keep:
                self._jobs.popitem(last=False)

    def jobs_for(self, path: str) -> list[int] | None:
        with self._lock:
            found = self._jobs.get(path.strip("/"))
        return None if found is None else list(found)
