"""`farmctl doctor`: what is broken on this farm and how to fix it, one check at a time.

Each check returns `Check(name, status, detail, fix)`; status is ok, info, warn or fail. Only a
`fail` makes the command exit non-zero (the daemon would not work); a `warn` is worth a look.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from farmctl.errors import UserError
from farmctl.ids import format_id

LOW_DISK_BYTES = 500 * 1024 * 1024


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | info | warn | fail
    detail: str
    fix: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def summary_line(results: list[Check]) -> str:
    """The last line of `farmctl doctor`: never "fine" while a check warns."""
    broken = sum(r.status == "fail" for r in results)
    warned = sum(r.status == "warn" for r in results)
    parts = [f"{broken} problem(s) to fix"] if broken else []
    if warned:
        parts.append(f"{warned} warning(s) to look at")
    return "; ".join(parts) if parts else "everything looks fine"


def run_checks(home: Path) -> list[Check]:
    results: list[Check] = []
    config = _guard(results, "config", lambda: _check_config(home, results))
    if config is None:
        return results
    store = _guard(results, "database", lambda: _check_database(home, config, results))
    _guard(results, "file store", lambda: _check_files(home, store, results))
    _guard(results, "daemon", lambda: _check_daemon(home, results))
    if store is not None:
        try:
            printers = store.list_printers()
            shared = _shared_devices(printers)
            for printer in printers:
                check = _bind(_check_printer, printer, store, results, shared)
                _guard(results, f"printer {printer.id}", check)
        finally:
            store.close()
    _guard(results, "broker", lambda: _check_broker(config, results))
    return results


def _bind(check: Callable[..., None], *args: Any) -> Callable[[], None]:
    return lambda: check(*args)


def _guard(results: list[Check], name: str, check: Callable[[], Any]) -> Any:
    try:
        return check()
    except UserError as error:
        results.append(Check(name, "fail", str(error), "see the message"))
    except Exception as error:
        results.append(Check(name, "fail", f"{type(error).__name__}: {error}", None))
    return None


def _check_config(home: Path, results: list[Check]) -> Any:
    from farmctl.config import load_config
    from farmctl.errors import ConfigError

    if not home.exists():
        results.append(Check("farm home", "fail", f"{home} does not exist",
                             f"create it: `farmctl --home {home} printers add ...` or `mkdir -p {home}`"))
        return None
    if not os.access(home, os.W_OK):
        results.append(Check("farm home", "fail", f"{home} is not writable by this user",
                             f"fix its owner/permissions: `sudo chown -R $USER {home}`"))
    else:
        results.append(Check("farm home", "ok", str(home)))
    try:
        config = load_config(home)
    except ConfigError as error:
        results.append(Check("config", "fail", str(error), "edit farm.toml (keys: docs/daemon.md)"))
        return None
    where = str(config.source) if config.source else "no farm.toml (defaults)"
    results.append(Check("config", "ok", where))
    return config


def _check_database(home: Path, config: Any, results: list[Check]) -> Any:
    from farmctl.store.jobstore import JobStore
    from farmctl.store.live import LiveStore

    store = JobStore.open(home, config=config, actor="doctor")
    live = LiveStore.attach(store)
    live.last_change_id()
    printers = store.list_printers()
    results.append(Check("database", "ok", f"{store.where} ({store.dialect}, {len(printers)} printer(s))"))
    return store


def _check_files(home: Path, store: Any, results: list[Check]) -> None:
    from farmctl.files import FileStore

    files = FileStore.for_home(home, store if store is not None and store.shares_files else None)
    usage = shutil.disk_usage(home)
    if usage.free < LOW_DISK_BYTES:
        results.append(Check("disk", "warn", f"only {usage.free // (1024 * 1024)} MB free under {home}",
                             "free space: queueing files and logging need room"))
    else:
        results.append(Check("disk", "ok", f"{usage.free // (1024 * 1024 * 1024)} GB free"))
    if files.root.exists() and not os.access(files.root, os.W_OK):
        fix = f"`chown -R $USER {files.root}`"
        results.append(Check("file store", "fail", f"{files.root} is not writable", fix))
        return
    if store is None:
        return
    from farmctl.scheduler.model import JobState

    missing = []
    for state in (JobState.QUEUED, JobState.PRINTING, JobState.HELD, JobState.INTERRUPTED):
        for job in store.list_jobs(state=state, site=store.site, limit=10_000).items:
            if not files.has(job.file_sha):
                missing.append(format_id("job", job.id))
    if missing:
        results.append(Check("file store", "fail", f"queued job(s) {', '.join(missing[:10])} lost their file",
                             "cancel them (`farmctl jobs cancel ID`) and queue the files again"))
    else:
        results.append(Check("file store", "ok", f"{files.root}: every queued job's file is present"))


def _check_daemon(home: Path, results: list[Check]) -> None:
    from farmctl.app.daemon_lock import lock_holder

    pid = lock_holder(home)
    if pid:
        results.append(Check("daemon", "ok", f"running (pid {pid})"))
    else:
        results.append(Check("daemon", "info", "not running on this farm home", "start it: `farmctl daemon`"))


def _shared_devices(printers: list[Any]) -> dict[str, Any]:
    """Enabled printers whose addresses reach one machine, as their kinds judge it (two serial ports
    that are one device: the daemon can open it for one of them only): printer id -> its finding."""
    from farmctl.drivers.kinds import kinds

    clashes: dict[str, Any] = {}
    for kind in kinds():
        addresses = {p.id: p.connection[kind.address] for p in printers
                     if p.enabled and p.kind == kind.name and p.connection.get(kind.address)}
        clashes.update(kind.clashes(addresses))
    return clashes


def _check_printer(printer: Any, store: Any, results: list[Check], shared: dict[str, Any]) -> None:
    """What the printer's kind checks (farmctl/drivers/kinds.py): its port or its server and key."""
    from farmctl.drivers.kinds import kind_of

    name = f"printer {printer.id}"
    if not printer.enabled:
        results.append(Check(name, "info", "disabled"))
        return
    kind = kind_of(printer.kind)
    findings = [shared[printer.id]] if printer.id in shared else None
    if findings is None:
        found = store.printer_secret(printer.id) if kind.secret is not None else None
        settings = {column: printer.connection.get(column) for column in kind.columns
                    if column != kind.secret}
        findings = kind.doctor(printer.id, settings, found.api_key if found else None)
    results.extend(Check(name, f.status, f.detail, f.fix) for f in findings)


def _check_broker(config: Any, results: list[Check]) -> None:
    from farmctl.telemetry.settings import settings_from

    settings = settings_from(config, config.home)  # a bad [mqtt] raises: the daemon would refuse it too
    if settings is None:
        results.append(Check("broker", "info", "no [mqtt] configured: the farm runs without telemetry"))
        return
    from farmctl.telemetry.probe import check_broker

    # One real MQTT round trip (TLS, credentials, ACL), as the daemon would connect. A warning, not a
    # failure: the broker is never in the print path, so the farm itself works without it.
    outcome = check_broker(settings)
    fix = "check [mqtt] in farm.toml (url, username/password, ca_file) and the broker's ACL (docs/mqtt.md)"
    results.append(Check("broker", "ok", outcome.detail) if outcome.ok else
                   Check("broker", "warn", outcome.detail, fix))
