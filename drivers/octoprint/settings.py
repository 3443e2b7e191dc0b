"""How one OctoPrint-backed printer is reached and watched."""

from __future__ import annotations

from dataclasses import dataclass

from .http import DEFAULT_TIMEOUT, Verify


@dataclass(frozen=True)
class OctoPrintSettings:
    url: str
    api_key: str
    verify_tls: Verify = True  # True (system CAs), a CA bundle path, or False (lab only)
    timeout: tuple[float, float] = DEFAULT_TIMEOUT  # (connect, read) seconds for every request
    push_quiet_s: float = 3.0  # push silent this long -> poll REST to check
    poll_interval_s: float = 1.0  # polling cadence while the push socket is unavailable
    push_retry_s: float = 30.0  # how often to retry a push socket that could not be opened
    push_stale_s: float = 60.0  # push silent this long while REST answers -> reopen the push socket
    max_backoff_s: float = 5.0  # cap of the retry delay for an unreachable OctoPrint
    throttle: int = 1  # push cadence in units of 500 ms
    keep_uploads: bool = False  # leave finished jobs' files in OctoPrint's farmctl/ folder

    def __repr__(self) -> str:  # dataclass repr would print the key
        return f"OctoPrintSettings(url={self.url!r}, api_key=<hidden>)"


@dataclass(frozen=True)
class UploadProgress:
    job_id: str
    sent: int
    total: int
