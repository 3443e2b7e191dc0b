"""CLI commands: `farmctl ports` (serial ports and their stable identities) and `farmctl print` (stream
one file to one printer directly, without the queue)."""

from __future__ import annotations

import contextlib
import queue
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from farmctl.cli.common import JsonOpt, message, print_json
from farmctl.errors import UserError

if TYPE_CHECKING:
    from farmctl.drivers.base import DriverEvent, JobFinished
    from farmctl.drivers.serial.driver import MarlinDriver

CONNECT_TIMEOUT_S = 30.0
# Marlin's usual rates, most common first. With --auto-baud each gets two handshakes 3 s apart (a board
# that resets when the port opens needs the second one), so a full search takes about half a minute.
AUTO_BAUDS = (115200, 250000, 230400, 57600, 500000, 1000000)
AUTO_BAUD_HELLOS = 2
AUTO_BAUD_HELLO_RETRY_S = 3.0
CANCEL_TIMEOUT_S = 60.0


def register(app: typer.Typer) -> None:
    app.command("ports")(ports)
    app.command("print")(print_file)


def ports(json_output: JsonOpt = False) -> None:
    """List serial ports with their USB ids and the stable identity to configure (usb://...)."""
    from farmctl.drivers.serial.usb import list_serial_ports

    found = list_serial_ports()
    if json_output:
        print_json(
            [
                {
                    "device": port.device,
                    "description": port.description,
                    "vid": f"{port.vid:04x}" if port.vid is not None else None,
                    "pid": f"{port.pid:04x}" if port.pid is not None else None,
                    "serial_number": port.serial_number,
                    "location": port.location,
                    "manufacturer": port.manufacturer,
                    "product": port.product,
                    "stable_url": port.stable_url,
                }
                for port in found
            ]
        )
        return
    if not found:
        message("no serial ports found")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("device", "USB id", "serial number", "description", "use as --port")
    for port in found:
        usb_id = f"{port.vid:04x}:{port.pid:04x}" if port.vid is not None and port.pid is not None else "-"
        table.add_row(
            port.device, usb_id, port.serial_number or "-", port.description, port.stable_url or port.device
        )
    Console().print(table)


def print_file(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="G-code file to print.")],
    port: Annotated[
        str,
        typer.Option(
            "--port", metavar="URL",
            help="Printer URL: /dev/ttyUSB0, /dev/serial/by-id/..., usb://VID:PID/SERIAL, socket://HOST:PORT.",
        ),
    ],
    baud: Annotated[int, typer.Option("--baud", metavar="BAUD", help="Serial speed.")] = 115200,
    ping_pong: Annotated[
        bool, typer.Option("--ping-pong", help="One line in flight (for firmware that cannot take more).")
    ] = False,
    auto_baud: Annotated[
        bool,
        typer.Option(
            "--auto-baud",
            help="If the printer does not answer at --baud, try the other usual rates "
            f"({', '.join(str(b) for b in AUTO_BAUDS)}).",
        ),
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Stream one file to one printer (no queue). Ctrl-C, SIGTERM or SIGHUP cancel safely (heaters off)."""
    try:
        finished, signum = _print(file, port, baud, ping_pong, auto_baud)
    except UserError as error:
        if json_output:
            # One JSON object on stdout whatever happens; the entry point prints the line on stderr.
            print_json({"outcome": "failed", "lines": 0, "bytes": 0, "resends": 0, "error": error.message})
        raise
    _report(finished, json_output, signum)


# The signals that mean "stop this print": Ctrl-C, `kill`, and the terminal closing (a laptop lid, ssh).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _print(file: Path, port: str, baud: int, ping_pong: bool, auto_baud: bool) -> tuple[JobFinished, int]:
    from farmctl.drivers.base import JobSpec
    from farmctl.drivers.serial.driver import MarlinDriver, MarlinSettings
    from farmctl.drivers.serial.preflight import PreflightCache, PreflightError
    from farmctl.drivers.serial.settings import ProtocolSettings
    from farmctl.drivers.serial.transport import LinkSettings
    from farmctl.gcode import check_gcode_file

    if not file.is_file():
        raise UserError(f"{file}: no such file; give the path of a G-code file")
    check_gcode_file(file)  # what `jobs add` refuses, from the file's head only: before connecting
    bauds: tuple[int, ...] = ()
    protocol = ProtocolSettings(ping_pong=ping_pong)
    if auto_baud:
        bauds = (baud, *(b for b in AUTO_BAUDS if b != baud))
        protocol = ProtocolSettings(
            ping_pong=ping_pong, hello_attempts=AUTO_BAUD_HELLOS, hello_retry_s=AUTO_BAUD_HELLO_RETRY_S
        )
    settings = MarlinSettings(link=LinkSettings(baud=baud), protocol=protocol, auto_baud=bauds)
    cache = PreflightCache(capacity=1)  # checked here, streamed from the same pass by the driver
    try:
        plan = cache.get(file, settings.protocol.max_line_bytes)
    except PreflightError as error:
        raise UserError(str(error)) from None
    if not plan.commands:
        raise UserError(f"{file}: no G-code commands in this file; nothing to print")
    events: queue.Queue[DriverEvent] = queue.Queue()
    driver = MarlinDriver("cli", port, events.put, settings, preflight=cache)
    connect_timeout = CONNECT_TIMEOUT_S + len(bauds) * AUTO_BAUD_HELLOS * AUTO_BAUD_HELLO_RETRY_S
    received: list[int] = []

    def on_stop_signal(signum: int, frame: Any) -> None:
        received.append(signum)
        driver.cancel()

    previous = {signum: signal.signal(signum, on_stop_signal) for signum in STOP_SIGNALS}
    try:
        driver.connect()
        try:
            _wait_until_idle(driver, events, received, connect_timeout)
            driver.start_job(JobSpec(file, file.name))
            if received:
                driver.cancel()  # a signal between connect and start: the job must not run on
            finished = _follow(driver, events, len(plan.commands), plan.total_bytes, file.name)
            if finished.outcome.value == "cancelled":
                _wait_for_script(driver, events)
        finally:
            driver.close()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return finished, received[0] if received else 0


def _wait_until_idle(
    driver: MarlinDriver, events: queue.Queue[DriverEvent], received: list[int], timeout: float
) -> None:
    from farmctl.drivers.base import PrinterError, StateChanged
    from farmctl.states import PrinterState

    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        if received:
            raise UserError(f"interrupted while connecting to {driver.url}; nothing was printed")
        try:
            event = events.get(timeout=0.5)
        except queue.Empty:
            continue
        if isinstance(event, PrinterError):
            last_error = event.message
        if isinstance(event, StateChanged):
            if event.state is PrinterState.IDLE:
                return
            if event.state in (PrinterState.ERROR, PrinterState.FAULT, PrinterState.OFFLINE):
                reason = last_error or event.reason
                if reason.startswith(f"cannot open {driver.url}"):
                    raise UserError(reason)  # already names the port and what to do
                raise UserError(f"cannot connect to {driver.url}: {reason}")
    raise UserError(f"no answer from {driver.url} within {timeout:g} s; check --port and --baud")


def _follow(
    driver: MarlinDriver, events: queue.Queue[DriverEvent], lines: int, total_bytes: int, name: str
) -> JobFinished:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from farmctl.drivers.base import JobFinished, JobProgress, Notice, PrinterError, Temperatures

    console = Console(stderr=True)
    temperatures = ""
    start = time.monotonic()
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>5.0f} lines/s"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[temps]}"),
    )
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task(name, total=lines, rate=0.0, temps="")
        while True:
            try:
                event = events.get(timeout=0.5)
            except queue.Empty:
                continue
            if isinstance(event, JobProgress):
                elapsed = max(1e-6, time.monotonic() - start)
                done = event.progress.lines_acked
                bar.update(task, completed=done, rate=done / elapsed, temps=temperatures)
            elif isinstance(event, Temperatures):
                temperatures = "  ".join(
                    f"{key} {r.actual:.0f}" + (f"/{r.target:.0f}" if r.target else "")
                    for key, r in sorted(event.readings.items())
                )
            elif isinstance(event, Notice | PrinterError):
                # One line each, also when stderr is a pipe (rich would wrap at 80 columns).
                console.print(event.message, style="yellow", soft_wrap=True, markup=False, highlight=False)
            elif isinstance(event, JobFinished):
                return event


def _wait_for_script(driver: MarlinDriver, events: queue.Queue[DriverEvent]) -> None:
    """After a cancel, let the safe-stop script reach the printer before the port closes."""
    from farmctl.states import PrinterState

    deadline = time.monotonic() + CANCEL_TIMEOUT_S
    while time.monotonic() < deadline and driver.status().state is PrinterState.CANCELLING:
        with contextlib.suppress(queue.Empty):
            events.get(timeout=0.2)


def _report(finished: JobFinished, json_output: bool, signum: int) -> None:
    # A reset mid-print is INTERRUPTED for the daemon (it offers a recovery); a one-shot print has no
    # recovery to offer, so here it is what it always was: a failed print.
    outcome = "failed" if finished.outcome.value == "interrupted" else finished.outcome.value
    document: dict[str, Any] = {
        "outcome": outcome,
        "lines": finished.lines_acked,
        "lines_total": finished.lines_total,
        "bytes": finished.bytes_acked,
        "resends": finished.resends,
        "duration_s": round(finished.duration_s, 3),
    }
    if finished.error:
        document["error"] = finished.error
    if json_output:
        print_json(document)
    else:
        rate = finished.lines_acked / finished.duration_s if finished.duration_s > 0 else 0.0
        message(
            f"{outcome}: {finished.lines_acked}/{finished.lines_total} lines, "
            f"{finished.bytes_acked} bytes, {finished.resends} resends, {finished.duration_s:.1f} s "
            f"({rate:.0f} lines/s)" + (f"; {finished.error}" if finished.error else "")
        )
    if outcome != "completed":
        sys.stderr.flush()
        # A cancel by signal exits like the shell expects (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP).
        raise typer.Exit(1 if outcome == "failed" else 128 + (signum or signal.SIGINT))
