"""The composition root: builds one daemon from a farm home and its farm.toml, runs it, tears it down.

    daemon = Daemon(home, bed_clear="auto")
    daemon.run()                       # blocks; SIGTERM/SIGINT ask it to stop (see [daemon] on_stop)

Nothing here is global: the store, the drivers, the logs and the lock all belong to this object, so a
test (or `farmctl demo`) can run a daemon in a thread of its own process.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from farmctl import __version__
from farmctl.app.daemon_lock import DaemonLock
from farmctl.config import FarmConfig, load_config
from farmctl.config_schema import BED_CLEAR_MODES, STOP_POLICIES, DaemonSettings, PowerSettings
from farmctl.daemon.drivers import DriverFactory, driver_factory
from farmctl.daemon.logs import install_logging
from farmctl.daemon.observer import FarmObserver
from farmctl.daemon.supervisor import Supervisor
from farmctl.errors import UserError
from farmctl.home import ensure_home


class Companion(Protocol):
    """A service that runs beside the printers (the HTTP server, [http]), given by the caller so the
    daemon does not import the faces. Its failure is logged and never stops printing."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


class Daemon:
    def __init__(
        self,
        home: Path,
        *,
        config: FarmConfig | None = None,
        bed_clear: str | None = None,
        on_stop: str | None = None,
        log_to_stderr: bool = True,
        make_driver: DriverFactory | None = None,
        observer: FarmObserver | None = None,
        wall: Callable[[], float] | None = None,
        companions: Sequence[Companion] = (),
        estimate_scale: float = 1.0,
    ) -> None:
        """`estimate_scale`: what a file's time estimate is multiplied by for the live ETA before a
        print shows its pace; `farmctl demo` drives simulators `--speed` times faster than real
        printers and passes 1 / speed (a real farm's correction is each printer's learned ratio)."""
        self.home = ensure_home(home)
        self.config = config or load_config(self.home)
        settings = self.config.section(DaemonSettings)
        if bed_clear is not None:
            if bed_clear not in BED_CLEAR_MODES:
                raise UserError(f"--bed-clear must be one of {', '.join(BED_CLEAR_MODES)}, got {bed_clear!r}")
            settings = dataclasses.replace(settings, bed_clear=bed_clear)
        if on_stop is not None:
            if on_stop not in STOP_POLICIES:
                raise UserError(f"--on-stop must be one of {', '.join(STOP_POLICIES)}, got {on_stop!r}")
            settings = dataclasses.replace(settings, on_stop=on_stop)
        self.settings = settings
        self.power = self.config.section(PowerSettings)
        self.log_to_stderr = log_to_stderr
        self.daemon_id = f"{socket.gethostname()}:{os.getpid()}:{int(time.time() * 1000) % 10**9}"
        self._make_driver = make_driver
        self._observer = observer
        self.estimate_scale = estimate_scale
        # Tests stand in the wall clock to make the daemon believe the laptop slept (field.py).
        self._clocks: dict[str, Callable[[], float]] = {"wall": wall} if wall is not None else {}
        self._supervisor: Supervisor | None = None
        self._stop_requested: str | None = None
        self._ready = threading.Event()
        self._companions = tuple(companions)

    @property
    def supervisor(self) -> Supervisor | None:
        return self._supervisor

    def wait_ready(self, timeout: float) -> bool:
        """For in-process callers: True once the daemon owns its printers and loops."""
        return self._ready.wait(timeout)

    def request_stop(self, policy: str | None = None) -> None:
        supervisor = self._supervisor
        if supervisor is not None:
            supervisor.request_stop(policy)
        else:
            self._stop_requested = policy or self.settings.on_stop

    def run(self, *, install_signals: bool = True) -> None:
        from farmctl.app.farm import files_of
        from farmctl.store.jobstore import JobStore
        from farmctl.store.live import LiveStore

        lock = DaemonLock(self.home)
        lock.acquire()
        log, remove_logging = install_logging(
            self.home, to_stderr=self.log_to_stderr, max_mb=self.settings.log_max_mb,
            backups=self.settings.log_backups,
        )
        previous: dict[signal.Signals, Any] = {}
        store = None
        telemetry = None
        make_driver: DriverFactory | None = None
        started: list[Companion] = []
        try:
            store = JobStore.open(self.home, config=self.config, actor="daemon")
            live = LiveStore.attach(store)
            from farmctl.daemon.telemetry_wiring import start_daemon_telemetry  # MQTT: docs/mqtt.md

            telemetry = start_daemon_telemetry(
                self.home, self.config, self.settings.printers, self.daemon_id, log, store
            )
            from farmctl.drivers.serial.artefact import PreflightArtefacts
            from farmctl.drivers.serial.preflight import PreflightCache

            files = files_of(store)
            # One per daemon: drivers, dispatch and recovery share it. A file's pre-flight comes from the
            # artefact made when it was queued, not from a pass over it on the supervisor thread.
            preflight = PreflightCache(kept=PreflightArtefacts(files))
            make_driver = self._make_driver or driver_factory(store, preflight)
            supervisor = Supervisor(
                store=store, live=live, files=files, settings=self.settings,
                power=self.power, make_driver=make_driver,
                daemon_id=self.daemon_id, log=log, observer=telemetry.observer(self._observer),
                identity={"host": socket.gethostname(), "pid": os.getpid(), "version": __version__,
                          "home": str(self.home), "on_stop": self.settings.on_stop,
                          "bed_clear": self.settings.bed_clear},
                preflight=preflight, estimate_scale=self.estimate_scale, **self._clocks,
            )
            self._supervisor = supervisor
            if self._stop_requested is not None:
                supervisor.request_stop(self._stop_requested)
            if install_signals:
                for signum in (signal.SIGTERM, signal.SIGINT):
                    previous[signum] = signal.signal(signum, self._on_signal)
            threading.Thread(target=self._mark_ready, args=(supervisor,), daemon=True).start()
            extra = [*self._site_sync(store, log), *self._prefetch(store, log)]
            started = self._start_companions(log, extra)
            supervisor.run()
        finally:
            for companion in reversed(started):
                try:
                    companion.stop()
                except Exception as exc:
                    log.error("companion.stop_failed", name=companion.name, error=str(exc))
            close_factory = getattr(make_driver, "close", None)
            if callable(close_factory):
                close_factory()  # the supervisor closed every driver: the shared serial loop can stop
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            if telemetry is not None:
                telemetry.close()  # already closed by a clean stop; here for a supervisor that crashed
            if store is not None:
                store.close()
            remove_logging()
            lock.release()

    def _site_sync(self, store: Any, log: Any) -> list[Companion]:
        """A site ([sync] central set) syncs by itself every [sync] interval_s (farmctl/sync/periodic.py)."""
        from farmctl.config_schema import SyncSettings

        settings = self.config.section(SyncSettings) if self.config else SyncSettings()
        if settings.central is None:
            return []
        from farmctl.sync.periodic import PeriodicSync

        return [PeriodicSync(self.home, settings.interval_s, log)]

    def _prefetch(self, store: Any, log: Any) -> list[Companion]:
        """A farm on several hosts (PostgreSQL): the files of waiting jobs are fetched into this host's
        cache before a printer needs them, off the dispatcher's thread (farmctl/daemon/prefetch.py)."""
        if not store.shares_files:
            return []
        from farmctl.app.farm import files_of
        from farmctl.daemon.prefetch import FilePrefetcher

        only = set(self.settings.printers)

        def wanted(printer_id: str) -> bool:
            return not only or printer_id in only

        return [FilePrefetcher(store, files_of(store), log, wanted=wanted)]

    def _start_companions(self, log: Any, extra: Sequence[Companion] = ()) -> list[Companion]:
        started: list[Companion] = []
        for companion in [*self._companions, *extra]:
            try:
                companion.start()
            except Exception as exc:  # e.g. its port is taken: printing goes on without it
                message = exc.message if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
                log.error("companion.not_started", name=companion.name, error=message)
            else:
                started.append(companion)
        return started

    def _mark_ready(self, supervisor: Supervisor) -> None:
        if supervisor.started.wait(60.0):
            self._ready.set()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self._supervisor is not None:
            self._supervisor.request_stop()
