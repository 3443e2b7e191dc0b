"""Tunable protocol and driver settings.

The rule ids in the comments (H10, H35 ...) are defined in docs/serial-rules.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# OctoPrint's longRunningCommands plus the heat-up waits: no ok for minutes is normal for these.
LONG_RUNNING = frozenset(
    {
        "G4",
        "G28",
        "G29",
        "G30",
        "G32",
        "M0",
        "M1",
        "M109",
        "M190",
        "M191",
        "M116",
        "M226",
        "M303",
        "M400",
        "M600",
    }
)


@dataclass(frozen=True)
class ProtocolSettings:
    # Flow control. The window is min(bufsize - 1 lines, rx budget bytes); ping_pong forces one line.
    bufsize: int = 4  # firmware command slots (Marlin BUFSIZE); ADVANCED_OK B lowers it when reported
    rx_buffer_bytes: int = 128  # firmware RX ring (Marlin RX_BUFFER_SIZE)
    # Bytes of the ring kept free for lines the window does not plan for (tickles, operator commands).
    rx_reserve_bytes: int = 32  # H35: un-acked bytes stay at most RX_BUFFER_SIZE - 32
    ping_pong: bool = False
    # After the first line error of a job, one line in flight for the rest of it: Marlin flushes its RX ring
    # on a line error and runs the unnumbered tail of a line that was still on the wire (no checksum
    # check), so every extra line in flight at an error can execute as a fragment (see protocol.py).
    ping_pong_after_line_error: bool = True
    history_lines: int = 100  # resend history; an older request stops the job (H13)
    max_line_bytes: int = 96  # Marlin MAX_CMD_SIZE, numbered line including N, *cs
    # Handshake
    hello_attempts: int = 3
    hello_retry_s: float = 5.0
    # Timeouts (two flavours, H16): nothing at all received / no ok while lines are in flight.
    communication_timeout_s: float = 30.0
    # No ok while lines are in flight: an M105 tickle after a few times the longest recent wait for an ok
    # (gap factor), at least ok_timeout_min_s and at most ok_timeout_s. Busy lines and long-running
    # commands suspend it.
    ok_timeout_s: float = 3.0
    ok_timeout_min_s: float = 0.3
    ok_timeout_gap_factor: float = 4.0
    # Before the tickle, a bare newline after twice the longest recent wait (at least this): it ends a line
    # whose newline was corrupted, which the firmware otherwise holds unanswered.
    ok_nudge_min_s: float = 0.05
    # No ok or busy for this long despite tickles: the printer is not responding and the job fails. Long
    # enough for one slow move on firmware without busy support (OctoPrint allows 5 x 30 s).
    unresponsive_s: float = 60.0
    # While a long-running command (G28, M109 ...) runs: nothing at all received for this long.
    unresponsive_silent_s: float = 150.0
    # Resends
    resend_settle_s: float = 0.02  # wait this long for stale responses before replaying (H11)
    resend_timeout_s: float = 0.5  # replayed line got no answer at all: replay it again (H10)
    max_consecutive_resends: int = 10  # H14 loop guard
    resend_ok: bool | None = None  # firmware sends ok after Resend: None = detect (H10)
    resend_ratio_threshold: float = 0.10  # H15
    resend_ratio_start_lines: int = 100
    # Temperatures: M155 autoreport interval, or the M105 polling interval without it. While printing an
    # M105 goes out at this interval regardless: its `ok T:` is the one ok whose command we can recognise,
    # which re-synchronises the credit count after lost or duplicated oks.
    temperature_interval_s: float = 2.0
    idle_poll_interval_s: float = 5.0
    progress_interval_s: float = 0.5
    long_running: frozenset[str] = field(default_factory=lambda: LONG_RUNNING)

    @property
    def window_lines(self) -> int:
        return 1 if self.ping_pong else max(1, self.bufsize - 1)

    @property
    def window_bytes(self) -> int:
        return max(self.max_line_bytes, self.rx_buffer_bytes - self.rx_reserve_bytes)


@dataclass(frozen=True)
class Scripts:
    """G-code run around pause/resume/cancel/emergency. Lines are sent as operator commands."""

    # Empty by default on purpose: a park move needs G91/G90, and G90 also switches a relative-E (M83)
    # file back to absolute E, which would ruin the print after resume. Configure per printer.
    pause: tuple[str, ...] = ()
    resume: tuple[str, ...] = ()
    cancel: tuple[str, ...] = ("M104 S0", "M140 S0", "M107", "G91", "G1 Z10 F600", "G90", "M84")
    heaters_off: tuple[str, ...] = ("M104 S0", "M140 S0")
