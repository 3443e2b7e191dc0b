"""Planner starvation, and whose fault it was: the host's, the link's, or the simulator's own.

A streaming printer starves when its planner runs out of moves while the file still has more: the
nozzle stops (and oozes) mid-print. Some of that the file asks for itself, and none of it is counted
here: a command that waits (G4, G28, G29, M400, M109, M190, M0/M1, M600) stops the motion on purpose,
so the dry time before it and during it is the file's own; the spell after it starts when the wait
ends. A spell also ends uncounted when the motors are switched off (M84/M18: the print is over) or the
planner is cleared (M410, a quick stop), until the next move is planned.

A dry spell (planner empty, no command executing or queued) is counted when it ends with a move
being planned (the file had more moves), and split by what the printer was waiting for at each moment:

* host: nothing on the wire in either direction, no complete line received: every `ok` has reached
  the host and it has not sent the next line. This is the figure a host is judged by (the target is 0);
* link: bytes on the wire, to the printer (the next line on its way) or from it (an `ok` or report the
  host cannot have read yet). A file denser than the baud rate starves here with any host;
* late: a line had arrived but the simulator had not run the firmware yet (it was not given a CPU in
  time): an artefact of a loaded machine, never the host's.

What is on the wire is tracked as the current run of back-to-back bytes, so a pause inside a line the
host writes in pieces counts as the host's. A host that pauses a print on purpose by no longer sending
is, to the printer, a host that stalls: benchmarks leave such printers out.
"""

from __future__ import annotations

from typing import Any


class StarvationMeter:
    """Writes its figures into `stats` (the firmware's exit stats) whenever a spell is counted; times
    in them are seconds since `epoch`."""

    def __init__(self, stats: dict[str, Any], epoch: float) -> None:
        self._stats = stats
        self._epoch = epoch
        self.host_s = 0.0
        self.link_s = 0.0
        self.late_s = 0.0
        self.host_gaps = 0  # spells in which the host was waited for at all
        self.host_max_s = 0.0  # the longest such wait in one spell
        self.host_max_at = 0.0  # when that spell ended (model clock)
        self._since: float | None = None  # start of the spell being measured (the planner's dry time)
        self._checkpoint = 0.0  # classified up to here
        self._host = self._link = self._late = 0.0
        self._ignoring = False  # motors off or planner cleared: no spell counts until the next move
        self._write_stats()

    def observe(
        self, now: float, since: float, due: float | None, sent_until: float, run: tuple[float, float]
    ) -> None:
        """The planner has been dry since `since` and the firmware is idle: classify the time up to `now`.

        `due`: when the first complete line not yet run arrived (None: none); `sent_until`: when the
        last output the firmware emitted reaches the host; `run`: start and end of the latest run of
        bytes on the wire from the host."""
        if self._ignoring:
            return
        if since != self._since:  # a new spell (a wait ended, or motion ran out again)
            self._since, self._checkpoint = since, since
            self._host = self._link = self._late = 0.0
        start = self._checkpoint
        if now <= start:
            return
        self._checkpoint = now
        end = now
        if due is not None and due < now:
            end = max(start, due)
            self._late += now - end
        # Busy wire within [start, end]: the reply still leaving (a prefix), the host's bytes on their
        # way (the latest run, clipped); the rest is waiting for the host.
        replying = min(end, sent_until) - start if sent_until > start else 0.0
        run_start, run_end = max(start, run[0]), min(end, run[1])
        sending = run_end - run_start if run_end > run_start else 0.0
        overlap = max(0.0, min(start + replying, run_end) - run_start) if sending else 0.0
        busy = replying + sending - overlap
        self._link += busy
        self._host += (end - start) - busy

    def refilled(self, since: float | None) -> None:
        """A move was planned into the empty planner that was dry since `since`: the spell counts."""
        if self._ignoring:
            self._ignoring = False
        elif since is not None and since == self._since:
            self.host_s += self._host
            self.link_s += self._link
            self.late_s += self._late
            if self._host > 0:
                self.host_gaps += 1
                if self._host > self.host_max_s:
                    self.host_max_s, self.host_max_at = self._host, self._checkpoint - self._epoch
            self._write_stats()
        self._since = None
        self._host = self._link = self._late = 0.0

    def restart(self) -> None:
        """The printer rebooted: a new planner, no spell in progress."""
        self._since = None
        self._ignoring = False
        self._host = self._link = self._late = 0.0

    def motion_ended(self) -> None:
        """Motors off or planner cleared: the spell in progress, and any until the next move, is not
        starvation."""
        self._ignoring = True
        self._since = None
        self._host = self._link = self._late = 0.0

    def _write_stats(self) -> None:
        self._stats.update(
            host_starvation_s=round(self.host_s, 6),
            link_starvation_s=round(self.link_s, 6),
            late_starvation_s=round(self.late_s, 6),
            host_starvation_gaps=self.host_gaps,
            host_starvation_max_s=round(self.host_max_s, 6),
            host_starvation_max_at=round(self.host_max_at, 3),
        )
