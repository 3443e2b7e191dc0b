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
    file: Annotated[Path, typer.Argument(help="G-code file to print.")],
    port: Annotated[
        str,
        typer.Option(
            "--port",
            help="Printer URL: /dev/ttyUSB0, /dev/serial/by-id/..., usb://VID:PID/SERIAL, socket://HOST:PORT.",
        ),
    ],
    baud: Annotated[int, typer.Option("--baud", help="Serial speed.")] = 115200,
    ping_pong: Annotated[
        bool, typer.Option("--ping-pong", help="One line in flight (for firmware that cannot take more).")
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Stream one file to one printer now (no queue). Ctrl-C cancels safely (heaters off, park)."""
    from farmctl.drivers.base import JobSpec
    from farmctl.drivers.serial.driver import MarlinDriver, MarlinSettings
    from farmctl.drivers.serial.preflight import PreflightError, preflight_file
    from farmctl.drivers.serial.settings import ProtocolSettings
    from farmctl.drivers.serial.transport import LinkSettings

    if not file.is_file():
        raise UserError(f"{file}: no such file; give the path of a G-code file")
    settings = MarlinSettings(link=LinkSettings(baud=baud), protocol=ProtocolSettings(ping_pong=ping_pong))
    try:
        plan = preflight_file(file, settings.protocol.max_line_bytes)
    except PreflightError as error:
        raise UserError(str(error)) from None
    if not plan.commands:
        raise UserError(f"{file}: no G-code commands in this file; nothing to print")
    events: queue.Queue[DriverEvent] = queue.Queue()
    driver = MarlinDriver("cli", port, events.put, settings)
    interrupted = {"count": 0}

    def on_sigint(signum: int, frame: Any) -> None:
        interrupted["count"] += 1
        driver.cancel()

    driver.connect()
    try:
        _wait_until_idle(driver, events)
        previous = signal.signal(signal.SIGINT, on_sigint)
        try:
            driver.start_job(JobSpec(file, file.name))
            finished = _follow(driver, events, len(plan.commands), plan.total_bytes, file.name)
            if finished.outcome.value == "cancelled":
                _wait_for_script(driver, events)
        finally:
            signal.signal(signal.SIGINT, previous)
    finally:
        driver.close()
    _report(finished, json_output)


def _wait_until_idle(driver: MarlinDriver, events: queue.Queue[DriverEvent]) -> None:
    from farmctl.drivers.base import DriverState, PrinterError, StateChanged

    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    last_error = ""
    while time.monotonic() < deadline:
        try:
            event = events.get(timeout=0.5)
        except queue.Empty:
            continue
        if isinstance(event, PrinterError):
            last_error = event.message
        if isinstance(event, StateChanged):
            if event.state is DriverState.IDLE:
                return
            if event.state in (DriverState.ERROR, DriverState.FAULT, DriverState.OFFLINE):
                raise UserError(f"cannot connect to {driver.url}: {last_error or event.reason}")
    raise UserError(f"no answer from {driver.url} within {CONNECT_TIMEOUT_S:g} s; check --port and --baud")


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
                console.print(f"[yellow]{event.message}")
            elif isinstance(event, JobFinished):
                return event


def _wait_for_script(driver: MarlinDriver, events: queue.Queue[DriverEvent]) -> None:
    """After a cancel, let the safe-stop script reach the printer before the port closes."""
    from farmctl.drivers.base import DriverState

    deadline = time.monotonic() + CANCEL_TIMEOUT_S
    while time.monotonic() < deadline and driver.status().state is DriverState.CANCELLING:
        with contextlib.suppress(queue.Empty):
            events.get(timeout=0.2)


def _report(finished: JobFinished, json_output: bool) -> None:
    document: dict[str, Any] = {
        "outcome": finished.outcome.value,
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
            f"{finished.outcome.value}: {finished.lines_acked}/{finished.lines_total} lines, "
            f"{finished.bytes_acked} bytes, {finished.resends} resends, {finished.duration_s:.1f} s "
            f"({rate:.0f} lines/s)" + (f"; {finished.error}" if finished.error else "")
        )
    if finished.outcome.value != "completed":
        sys.stderr.flush()
        raise typer.Exit(1 if finished.outcome.value == "failed" else 130)
