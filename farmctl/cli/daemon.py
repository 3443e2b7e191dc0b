"""CLI commands: `daemon`, `status`, `watch`, `demo`, `doctor`, and the control verbs
`printers pause|resume|cancel|stop ID` (the daemon carries them out; see docs/daemon.md)."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from farmctl.app.farm import open_store
from farmctl.cli.common import HomeOpt, JsonOpt, add_to_group, message, print_json, resolve_home_option
from farmctl.cli.startup import long_lived_imports
from farmctl.cli.watch_remote import MqttCaOpt, MqttOpt, SiteOpt, TopicPrefixOpt
from farmctl.errors import UserError

if TYPE_CHECKING:
    from farmctl.config import FarmConfig
    from farmctl.daemon.runner import Companion

TimeoutOpt = Annotated[float, typer.Option("--timeout", metavar="SECONDS",
                                           help="Seconds to wait for the printer to confirm.")]
PrinterArg = Annotated[str, typer.Argument(metavar="PRINTER", help="Printer id, e.g. mk3-1.")]


def register(app: typer.Typer) -> None:
    app.command("daemon")(daemon)
    app.command("status")(status)
    app.command("watch")(watch)
    app.command("demo")(demo)
    app.command("doctor")(doctor)
    add_to_group(app, "printers", {"pause": pause, "resume": resume, "cancel": cancel, "stop": stop})


def _home(home: Path | None) -> Path:
    from farmctl.home import resolve_home

    return resolve_home(resolve_home_option(home))


def _config_from(path: Path, home: Path) -> FarmConfig:
    """farm.toml from another place than the farm home (`farmctl daemon --config FILE`); its problems
    name that file."""
    from farmctl.config import load_config

    if not path.is_file():
        raise UserError(f"--config {path}: no such file")
    return load_config(home, file=path)


def daemon(
    config: Annotated[Path | None, typer.Option("--config", metavar="FILE",
                                                help="farm.toml to use instead.")] = None,
    bed_clear: Annotated[
        str | None,
        typer.Option(
            "--bed-clear",
            metavar="MODE",
            help="manual (wait for `printers clear`), auto (not after a completed print) or always "
            "(not after a failed or cancelled one either); overrides [daemon] bed_clear.",
        ),
    ] = None,
    on_stop: Annotated[
        str | None,
        typer.Option("--on-stop", metavar="POLICY",
                     help="SIGTERM/SIGINT with prints running: refuse, wait, pause or cancel."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="Log only to the file in the farm home.")] = False,
    home: HomeOpt = None,
) -> None:
    """Run the farm: connect every printer, dispatch the queue, carry out the CLI's requests."""
    from farmctl.daemon.runner import Daemon

    farm_home = _home(home)
    loaded = _config_from(config, farm_home) if config is not None else None
    runner = Daemon(
        farm_home, config=loaded, bed_clear=bed_clear, on_stop=on_stop, log_to_stderr=not quiet,
        companions=_companions(farm_home, loaded),
    )
    runner.run()


def _companions(home: Path, config: FarmConfig | None) -> list[Companion]:
    """What runs beside the printers: the HTTP server when [http] enabled = true (docs/web.md)."""
    from farmctl.config import load_config
    from farmctl.config_schema import HttpSettings

    settings = (config or load_config(home)).section(HttpSettings)
    if not settings.enabled:
        return []
    from farmctl.web.server import DaemonWeb

    return [DaemonWeb(home, host=settings.host, port=settings.port, open_dashboard=settings.open_dashboard)]


StatusSiteOpt = Annotated[
    str | None,
    typer.Option("--site", metavar="SITE",
                 help="With --mqtt: only this site; without: only the jobs reserved for this site."),
]


def status(json_out: JsonOpt = False, home: HomeOpt = None, mqtt: MqttOpt = None, site: StatusSiteOpt = None,
           mqtt_ca_file: MqttCaOpt = None, topic_prefix: TopicPrefixOpt = None) -> None:
    """One-shot overview: what needs attention (with the command for each), every printer (state and why it
    is not printing, temperatures, job, progress, ETA), the next jobs, the orders at risk, and the jobs
    reserved for other sites (--site NAME: only that site's)."""
    from farmctl.cli.queue_support import open_store

    if mqtt is not None:  # a remote farm, from its broker (docs/mqtt.md)
        from farmctl.cli.watch_remote import status_remote

        status_remote(mqtt, site, mqtt_ca_file, topic_prefix, json_out)
        return
    with long_lived_imports():
        from farmctl.app.status import collect
        from farmctl.sites import check_site

    with open_store(home) as store:
        view = collect(store, site=check_site(site) if site is not None else None)
        where = store.where
    if json_out:
        print_json(view.to_json())
        return
    with long_lived_imports():
        from rich.console import Console

        from farmctl.cli.dashboard import render

    Console().print(render(view, where))


def watch(
    interval: Annotated[float, typer.Option("--interval", metavar="SECONDS",
                                            help="Seconds between refreshes.")] = 1.0,
    home: HomeOpt = None,
    mqtt: MqttOpt = None,
    site: SiteOpt = None,
    mqtt_ca_file: MqttCaOpt = None,
    topic_prefix: TopicPrefixOpt = None,
) -> None:
    """Live dashboard of the farm, as `status` (Ctrl-C to leave; the daemon keeps running).

    Without a terminal: one line per refresh, with each printer's progress and ETA and the first thing
    that needs attention."""
    from farmctl.cli.queue_support import open_store

    if interval <= 0:
        raise UserError("--interval must be greater than 0")
    if mqtt is not None:  # a remote farm, from its broker (docs/mqtt.md)
        from farmctl.cli.watch_remote import watch_remote

        watch_remote(mqtt, interval, site, mqtt_ca_file, topic_prefix)
        return
    with open_store(home) as store, contextlib.suppress(KeyboardInterrupt):
        _live_view(store, interval, until=None)


def _live_view(store: object, interval: float, until: object) -> None:
    """Refresh the dashboard until Ctrl-C or until `until()` is true (a callable or None)."""
    from rich.console import Console
    from rich.live import Live

    from farmctl.app.status import collect
    from farmctl.cli.dashboard import render
    from farmctl.store.jobstore import JobStore

    assert isinstance(store, JobStore)
    console = Console()
    if not console.is_terminal:
        from farmctl.cli.dashboard import summary_line

        while True:
            message(summary_line(collect(store)))
            if callable(until) and until():
                return
            time.sleep(interval)
    first = render(collect(store), store.where)
    with Live(first, console=console, refresh_per_second=4, screen=False) as live:
        while True:
            time.sleep(interval)
            live.update(render(collect(store), store.where))
            if callable(until) and until():
                return


def demo(
    printers: Annotated[int, typer.Option("--printers", metavar="N",
                                          help="Simulated printers to start.")] = 4,
    speed: Annotated[float, typer.Option("--speed", metavar="FACTOR",
                                         help="Simulated time runs this much faster.")] = 20.0,
    duration: Annotated[
        float | None, typer.Option("--duration", metavar="SECONDS",
                                   help="Stop after this many seconds (default: Ctrl-C).")
    ] = None,
    until_done: Annotated[bool, typer.Option("--until-done", help="Stop once the order is printed.")] = False,
    no_watch: Annotated[
        bool, typer.Option("--no-watch",
                           help="No live view: a line every 5 s with each printer's progress and ETA.")
    ] = False,
    json_out: JsonOpt = False,
    home: Annotated[
        Path | None, typer.Option("--home", metavar="DIR",
                                  help="Farm home to use (default: a new temporary directory).")
    ] = None,
) -> None:
    """A whole farm on this machine: simulated printers, a daemon, a prototype order, the live view."""
    import signal
    import tempfile

    from farmctl.daemon.demo import DemoFarm, DemoStartError, check_demo_options

    def stop_on_term(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM ends the demo like Ctrl-C: prints cancelled, data kept

    signal.signal(signal.SIGTERM, stop_on_term)
    check_demo_options(printers, speed, duration)  # before any directory or simulator exists
    chosen = resolve_home_option(home)
    farm_home = chosen if chosen is not None else Path(tempfile.mkdtemp(prefix="farmctl-demo-"))
    farm = DemoFarm(farm_home, printers, speed)
    message(f"starting {printers} simulated printers at {speed:g}x speed in {farm_home} ...")
    try:
        farm.start()
    except BaseException as error:
        if chosen is None:  # our own temporary home, and the demo never ran: nothing in it is worth keeping
            import shutil

            failed_with = error.without_log() if isinstance(error, DemoStartError) else error
            shutil.rmtree(farm_home, ignore_errors=True)
            if failed_with is not error:
                raise failed_with from None
        raise
    if farm.resumed_order is not None:
        state = "already complete" if farm.order_done() else "resuming it"
        from farmctl.ids import format_id

        order = format_id("order", farm.resumed_order)
        message(f"this home already has the demo order {order} ({state}); nothing new queued")
    started = time.monotonic()

    def finished() -> bool:
        farm.check()
        if duration is not None and time.monotonic() - started >= duration:
            return True
        return until_done and farm.order_done()

    interrupted = False
    try:

        with open_store(farm_home, actor="demo") as store:
            if no_watch or json_out or not sys.stdout.isatty():
                _summaries(store, finished)
            else:
                _live_view(store, 1.0, until=finished)
    except KeyboardInterrupt:
        interrupted = True
    except UserError:  # the daemon died under the demo: its log says why, so the home is kept and named
        message("stopping: cancelling running prints, disconnecting printers ...")
        farm.stop()
        message(f"the demo's farm is kept in {farm_home}: see {farm_home / 'logs' / 'daemon.log'}")
        raise
    finally:
        if not farm.stopped:
            message("stopping: cancelling running prints, disconnecting printers ...")
            farm.stop()
    _demo_report(farm_home, json_out, interrupted)


def _summaries(store: object, finished: object) -> None:
    from farmctl.app.status import collect
    from farmctl.cli.dashboard import summary_line
    from farmctl.store.jobstore import JobStore

    assert isinstance(store, JobStore) and callable(finished)
    last = 0.0
    while not finished():
        if time.monotonic() - last >= 5.0:
            last = time.monotonic()
            message(summary_line(collect(store)))
        time.sleep(0.5)
    message(summary_line(collect(store)))


def _demo_report(farm_home: Path, json_out: bool, interrupted: bool) -> None:
    from farmctl.ids import format_id

    with open_store(farm_home, actor="demo") as store:
        jobs = list(store.list_jobs(limit=1000).items)
        runs = store.list_runs(limit=1000)
    job_rows = [{"id": format_id("job", j.id), "file": j.name, "state": j.state.value, "copies": j.copies,
                 "copies_done": j.copies_done} for j in jobs]
    summary: dict[str, object] = {
        "home": str(farm_home),
        "database": str(farm_home / "farm.db"),
        "log": str(farm_home / "logs" / "daemon.log"),
        "interrupted": interrupted,
        "jobs": job_rows,
        "runs": {state: sum(1 for r in runs if r.state == state) for state in sorted({r.state for r in runs})
                 },
    }
    if json_out:
        print_json(summary)
    for job in job_rows:
        message(f"  {job['id']} {job['file']}: {job['copies_done']}/{job['copies']} printed ({job['state']})")
    message(f"demo stopped. The farm's data is in {farm_home} (database farm.db, logs/daemon.log, files/);")
    message(f"look again with `farmctl --home {farm_home} status`, or `farmctl demo --home {farm_home}`.")


def doctor(json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Check config, database, file store, serial ports and permissions, broker and OctoPrint."""
    from farmctl.app.doctor import run_checks, summary_line

    results = run_checks(_home(home))
    broken = [r for r in results if r.status == "fail"]
    if json_out:
        print_json({"ok": not broken, "warnings": sum(r.status == "warn" for r in results),
                    "checks": [r.to_json() for r in results]})
    else:
        marks = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL", "info": "info"}
        for result in results:
            message(f"[{marks[result.status]}] {result.name}: {result.detail}")
            if result.fix and result.status in ("warn", "fail"):
                message(f"       fix: {result.fix}")
        message(summary_line(results))
    if broken:
        raise typer.Exit(1)


# ---- control verbs (registered on the `printers` group) -----------------------------------------------
def request_control(verb: str, printer_id: str, timeout: float, home: Path | None) -> tuple[int, str]:
    """Ask the daemon that drives `printer_id` to carry out `verb`; wait for its answer
    (farmctl/app/control.py; cli/main.py words its typed errors for the CLI)."""
    from farmctl.app.control import check_driven, request_and_wait
    from farmctl.cli.queue_support import open_store

    with open_store(home) as store:
        live = check_driven(store, printer_id)
        done = request_and_wait(live, verb, printer_id, timeout_s=timeout)
    return done.request_id, done.result


def _control(verb: str, printer_id: str, timeout: float, json_out: bool, home: Path | None) -> None:
    request_id, result = request_control(verb, printer_id, timeout, home)
    if json_out:
        print_json({"printer": printer_id, "verb": verb, "request": request_id, "result": result})
    else:
        message(result)


def pause(printer_id: PrinterArg, timeout: TimeoutOpt = 10.0, json_out: JsonOpt = False,
          home: HomeOpt = None) -> None:
    """Pause the print on this printer (the daemon stops sending lines and runs the pause script)."""
    _control("pause", printer_id, timeout, json_out, home)


def resume(printer_id: PrinterArg, timeout: TimeoutOpt = 10.0, json_out: JsonOpt = False,
           home: HomeOpt = None) -> None:
    """Resume a paused print."""
    _control("resume", printer_id, timeout, json_out, home)


def cancel(printer_id: PrinterArg, timeout: TimeoutOpt = 10.0, json_out: JsonOpt = False,
           home: HomeOpt = None) -> None:
    """Cancel the print on this printer safely (heaters off, park); the copy goes back to the queue.
    To drop the whole job use `farmctl jobs cancel`."""
    _control("cancel", printer_id, timeout, json_out, home)


def stop(printer_id: PrinterArg, timeout: TimeoutOpt = 10.0, json_out: JsonOpt = False,
         home: HomeOpt = None) -> None:
    """EMERGENCY stop (M112): halts the printer at once; it needs a human and `printers clear` after."""
    _control("stop", printer_id, timeout, json_out, home)
