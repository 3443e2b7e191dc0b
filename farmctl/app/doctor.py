"""`farmctl doctor`: what is broken on this farm and how to fix it, one check at a time.

Each check returns `Check(name, status, detail, fix)`; status is ok, info, warn or fail. Only a
`fail` makes the command exit non-zero (the daemon would not work); a `warn` is worth a look.
"""

from __future__ import annotations

import contextlib
import grp
import os
import shutil
import socket
import stat
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

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
    """Enabled serial printers whose ports reach one device (a by-id link and its target, a usb://
    identity and its node): the daemon can open it for one of them only."""
    from farmctl.drivers.serial.device import shared_devices

    ports = {p.id: p.port for p in printers if p.enabled and p.kind == "serial" and p.port}
    return shared_devices(ports)


def _check_printer(printer: Any, store: Any, results: list[Check], shared: dict[str, Any]) -> None:
    name = f"printer {printer.id}"
    if not printer.enabled:
        results.append(Check(name, "info", "disabled"))
        return
    if printer.kind == "octoprint":
        _check_octoprint(name, printer, store, results)
        return
    if printer.id in shared:
        device, others = shared[printer.id]
        other_names = ", ".join(f"printer {other}" for other in others)
        detail = (f"port {device.shown} is the same device as the port of {other_names}: the daemon can "
                  "open it for one of them only")
        fix = f"give each printer its own port (`farmctl printers set {printer.id} --port ...`) or remove one"
        results.append(Check(name, "fail", detail, fix))
        return
    port = printer.port or ""
    if port.startswith("socket://"):
        parsed = urlparse(port)
        _tcp(name, parsed.hostname or "", parsed.port or 0, results, "is the simulator running?")
    elif port.startswith("usb://"):
        from farmctl.drivers.serial.usb import UsbIdentityError, resolve_usb_url

        try:
            device = resolve_usb_url(port)
        except UsbIdentityError as error:
            results.append(Check(name, "fail", str(error), "plug the printer in and switch it on"))
            return
        _device(name, Path(device), results)
    elif port.startswith("/"):
        _device(name, Path(port), results)
    else:
        results.append(Check(name, "info", f"port {port} (not checked)"))


def _device(name: str, path: Path, results: list[Check]) -> None:
    if not path.exists():
        results.append(Check(name, "fail", f"{path} does not exist",
                             "plug the printer in; prefer a /dev/serial/by-id/... path or usb:// identity"))
        return
    if os.access(path, os.R_OK | os.W_OK):
        results.append(Check(name, "ok", f"{path} is readable and writable"))
        return
    group = ""
    with contextlib.suppress(KeyError, OSError):
        group = grp.getgrgid(os.stat(path).st_gid).gr_name
    mode = stat.filemode(os.stat(path).st_mode)
    member = group and group in {grp.getgrgid(g).gr_name for g in os.getgroups()}
    fix = (f"add yourself to the {group or 'dialout'} group: `sudo usermod -aG {group or 'dialout'} $USER`, "
           "then log out and in again")
    if member:
        fix = "you are in the group already: log out and in again so it takes effect"
    results.append(Check(name, "fail", f"no permission to open {path} ({mode}, group {group or '?'})", fix))


def _tcp(name: str, host: str, port: int, results: list[Check], hint: str) -> None:
    try:
        with socket.create_connection((host, port), timeout=2.0):
            pass
    except OSError as error:
        results.append(Check(name, "fail", f"cannot reach {host}:{port}: {error.strerror or error}", hint))
        return
    results.append(Check(name, "ok", f"{host}:{port} reachable"))


def _check_octoprint(name: str, printer: Any, store: Any, results: list[Check]) -> None:
    from farmctl.drivers.octoprint.verify import verify_octoprint

    secret = store.printer_secret(printer.id)
    if secret is None:
        fix = f"`farmctl printers set {printer.id} --api-key ...`"
        results.append(Check(name, "fail", "no API key stored", fix))
        return
    try:
        info = verify_octoprint(printer.octoprint_url, secret.api_key, timeout=5.0, require_printer=False)
    except Exception as error:
        results.append(Check(name, "fail", str(error), "check the URL, the network and the API key"))
        return
    detail = f"OctoPrint {info.server_version} at {info.url}, printer {info.printer_state}"
    results.append(Check(name, "ok", detail))


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
