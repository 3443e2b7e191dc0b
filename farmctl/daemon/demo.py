"""`farmctl demo`: a whole farm on this machine, no hardware, no servers, no network.

Starts simulated printers (`printer-sim` subprocesses, one per kind of printer), a farm home, a
daemon in this process, and queues a realistic prototype order from the sample files. The CLI
layer shows it (live view or summaries) and calls `stop()` on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from farmctl.app.farm import open_store
from farmctl.daemon.runner import Daemon
from farmctl.errors import UserError
from farmctl.store.jobstore import JobStore
from farmctl.store.records import NewJob, PrinterSpec


@dataclass(frozen=True)
class DemoPrinterKind:
    """A kind of printer in the demo fleet: simulator profile plus what the queue knows about it."""

    profile: str
    prefix: str
    material: str
    color: str
    nozzle_mm: float
    bed_mm: tuple[float, float, float]
    power_w: float


# A workshop's mix: Ender-3 class AVR boards (reset on open, 115200 UART), 32-bit boards with
# ADVANCED_OK, and a native-USB large-format machine with a 0.6 mm nozzle.
FLEET: tuple[DemoPrinterKind, ...] = (
    DemoPrinterKind("default", "ender", "PLA", "black", 0.4, (220, 220, 250), 350.0),
    DemoPrinterKind("advanced_ok", "mk3", "PETG", "orange", 0.4, (250, 210, 210), 300.0),
    DemoPrinterKind("native_usb", "bigbox", "PLA", "white", 0.6, (300, 300, 400), 600.0),
)


def fleet_for(count: int) -> list[tuple[str, DemoPrinterKind]]:
    """`count` printers, kinds dealt round-robin: ender-1, mk3-1, bigbox-1, ender-2, ..."""
    seen: dict[str, int] = {}
    printers = []
    for index in range(count):
        kind = FLEET[index % len(FLEET)]
        seen[kind.prefix] = seen.get(kind.prefix, 0) + 1
        printers.append((f"{kind.prefix}-{seen[kind.prefix]}", kind))
    return printers


def simulator_command() -> list[str]:
    """printer-sim from this interpreter when installed alongside, else from PATH."""
    if importlib.util.find_spec("printer_sim") is not None:
        return [sys.executable, "-m", "printer_sim"]
    found = shutil.which("printer-sim")
    if found:
        return [found]
    raise UserError("the printer simulator is not installed; `pip install ./hardware-sim` (printer-sim)")


def _die_with_parent() -> None:
    """In the child, before exec (Linux): SIGTERM when `farmctl demo` dies, even by kill -9, so no
    simulator outlives the demo. Elsewhere a no-op (the demo's own stop() still ends them)."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class SimulatorProcess:
    process: subprocess.Popen[str]
    endpoints: list[str] = field(default_factory=list)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class DemoStartError(UserError):
    """The demo could not start; `log` is the file that says more (it goes if the home is discarded)."""

    def __init__(self, reason: str, log: Path | None = None) -> None:
        super().__init__(f"{reason}; see {log}" if log is not None else reason)
        self.reason = reason
        self.log = log

    def without_log(self) -> UserError:
        """The same error once the log is gone: the log's last words travel in the message."""
        last = _last_line(self.log) if self.log is not None else None
        return UserError(f"{self.reason} ({last})" if last else self.reason)


def _last_line(path: Path) -> str | None:
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return None
    return lines[-1][:200] if lines else None


def check_demo_options(printers: int, speed: float, duration: float | None) -> None:
    """Refuse bad options before anything is created (a temporary home, a simulator)."""
    if printers < 1 or printers > 100:
        raise UserError(f"--printers must be between 1 and 100 (got {printers})")
    if speed <= 0:
        raise UserError(f"--speed must be greater than 0 (got {speed:g})")
    if duration is not None and duration <= 0:
        raise UserError(f"--duration must be greater than 0 seconds (got {duration:g})")


def start_simulator(
    profile: str, count: int, speed: float, log_path: Path, timeout: float = 20.0
) -> SimulatorProcess:
    args = [*simulator_command(), "--tcp", "127.0.0.1:0", "--count", str(count), "--profile", profile,
            "--speed", str(speed)]
    with log_path.open("a") as log:
        # Own session: the terminal's Ctrl-C goes to `farmctl demo` alone, which then cancels the prints
        # safely on printers that are still there, and stops the simulators itself.
        process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    sim = SimulatorProcess(process)
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while len(sim.endpoints) < count:
        line = process.stdout.readline()
        if not line:
            sim.stop()
            raise DemoStartError(f"printer-sim ({profile}) did not start", log_path)
        parts = line.split()
        if len(parts) == 3 and parts[0] == "printer":
            sim.endpoints.append(parts[2])
        if time.monotonic() > deadline:
            sim.stop()
            raise DemoStartError(f"printer-sim ({profile}) did not announce its printers in {timeout:g} s",
                                 log_path)
    # Keep reading so the pipe never fills (re-plug announcements); nothing else needs them.
    threading.Thread(target=lambda: [None for _ in process.stdout or ()], daemon=True).start()
    return sim


def write_demo_config(home: Path, printers: int) -> None:
    config = home / "farm.toml"
    if config.exists():
        return
    budget = 350.0 * max(2, (printers + 1) // 2) + 250.0
    config.write_text(
        "# Written by `farmctl demo`. See docs/daemon.md for every setting.\n"
        "[daemon]\n"
        'bed_clear = "always"    # simulated beds: no operator needed, not even after a failed print\n'
        'on_stop = "cancel"      # Ctrl-C cancels running prints safely\n'
        "dispatch_interval_s = 2.0\n\n"
        "[power]\n"
        f"budget_w = {budget:.0f}   # heat-ups are staggered to stay under this\n",
        encoding="utf-8",
    )


DEMO_CUSTOMER = "Acme Robotics"
DEMO_PROJECT = "gripper prototype v3"


def resume_prototype_order(store: JobStore) -> tuple[int, list[int]] | None:
    """The demo order an earlier `farmctl demo` queued on this home (newest), with its jobs; copies
    a killed demo left interrupted go back to the queue (the beds are simulated and auto-cleared)."""
    from farmctl.scheduler.model import JobState

    orders = [o for o in store.list_orders() if o.customer == DEMO_CUSTOMER and o.project == DEMO_PROJECT]
    if not orders:
        return None
    order = max(orders, key=lambda o: o.id)
    jobs = list(store.list_jobs(order_id=order.id, limit=1000).items)
    for job in jobs:
        if job.state is JobState.INTERRUPTED:
            store.retry_job(job.id)
    return order.id, [job.id for job in jobs]


def queue_prototype_order(store: JobStore, home: Path, printers: int) -> list[int]:
    """A customer order: PLA cubes and PETG spacers, due in a few (simulated) hours."""
    from farmctl.files import FileStore
    from farmctl.gcode import analyse_file
    from farmctl.gcode.extrusion import encode_marks
    from farmctl.samples import sample_path
    from farmctl.store.records import FileInfo

    due = time.time() + 3 * 3600.0  # estimates are in real time, whatever the simulation speed
    order = store.add_order(DEMO_CUSTOMER, due=due, priority=10, project=DEMO_PROJECT,
                            notes="fit check before Friday's review")
    files = FileStore.for_home(home, store if store.shares_files else None)
    new_jobs: list[NewJob] = []
    infos: list[FileInfo] = []
    plan = (
        ("cube25_cura.gcode", "PLA", max(2, printers)),
        ("spacer20_petg.gcode", "PETG", max(1, printers // 2)),
    )
    for name, material, copies in plan:
        path = sample_path(name)
        analysis = analyse_file(path)
        kept = files.put(path)
        box = analysis.bbox
        infos.append(FileInfo(
            sha256=kept.sha256, size=kept.size, name=name, estimated_time_s=analysis.estimated_time_s,
            slicer_time_s=analysis.slicer_time_s, filament_mm=analysis.filament_mm,
            bbox_min=(box.min_x, box.min_y, box.min_z) if box else None,
            bbox_max=(box.max_x, box.max_y, box.max_z) if box else None,
            layers=analysis.layers, lines=analysis.lines, slicer=analysis.slicer, material=material,
            nozzle_mm=analysis.nozzle_diameter_mm, filament_marks=encode_marks(analysis.time_marks),
        ))
        new_jobs.append(NewJob(file_sha=kept.sha256, name=name, copies=copies, order_id=order.id,
                               material=material))
    return [job.id for job in store.add_jobs(new_jobs, infos)]


class DemoFarm:
    """Everything `farmctl demo` starts, and the one place that stops it all."""

    def __init__(self, home: Path, printers: int, speed: float) -> None:
        check_demo_options(printers, speed, None)
        self.home = home
        self.count = printers
        self.speed = speed
        self.simulators: list[SimulatorProcess] = []
        self.daemon: Daemon | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.job_ids: list[int] = []
        self.resumed_order: int | None = None  # set when this home already had the demo order
        self.stopped = False

    def start(self) -> None:
        from farmctl.home import ensure_home

        ensure_home(self.home)
        write_demo_config(self.home, self.count)
        fleet = fleet_for(self.count)
        (self.home / "logs").mkdir(exist_ok=True)
        try:
            endpoints: dict[str, list[str]] = {}
            for kind in FLEET:
                members = [name for name, k in fleet if k is kind]
                if members:
                    log = self.home / "logs" / "simulators.log"
                    sim = start_simulator(kind.profile, len(members), self.speed, log)
                    self.simulators.append(sim)
                    endpoints[kind.prefix] = list(sim.endpoints)
            with open_store(self.home, actor="demo") as store:
                registered = {p.id for p in store.list_printers()}
                for name, kind in fleet:
                    url = endpoints[kind.prefix].pop(0)
                    if name in registered:
                        store.update_printer(name, port=url)  # a re-used demo home: new simulator ports
                        continue
                    store.add_printer(PrinterSpec(
                        id=name, kind="serial", connection={"port": url, "baud": 115200},
                        material=kind.material, color=kind.color,
                        nozzle_mm=kind.nozzle_mm, bed_mm=kind.bed_mm, power_w=kind.power_w,
                        tags=frozenset({"demo"}), bed_clear_mode="always",
                    ))
                resumed = resume_prototype_order(store)
                if resumed is not None:  # a re-run on the same home goes on with its order
                    self.resumed_order, self.job_ids = resumed
                else:
                    self.job_ids = queue_prototype_order(store, self.home, self.count)
            # The simulators print `speed` times faster than the estimates (real printers' time): a
            # copy at 0 % shows its ETA at that speed, not the file's full estimate.
            self.daemon = Daemon(self.home, log_to_stderr=False, on_stop="cancel",
                                 estimate_scale=1 / self.speed)
            self._thread = threading.Thread(target=self._run_daemon, name="farmctl-daemon", daemon=True)
            self._thread.start()
            if not self.daemon.wait_ready(30.0):
                raise DemoStartError("the demo daemon did not start", self.home / "logs" / "daemon.log")
        except BaseException:
            self.stop()
            raise

    def _run_daemon(self) -> None:
        assert self.daemon is not None
        try:
            self.daemon.run(install_signals=False)
        except BaseException as error:  # reported by `check()` on the main thread
            self._error = error

    def check(self) -> None:
        """Raise the daemon's error, if it died."""
        if self._error is not None:
            raise UserError(f"the demo daemon stopped: {self._error}")

    def order_done(self) -> bool:
        with open_store(self.home, actor="demo") as store:
            states = [store.get_job(job_id).state.value for job_id in self.job_ids]
        return all(state in ("done", "failed", "cancelled") for state in states)

    def stop(self) -> None:
        self.stopped = True
        if self.daemon is not None and self._thread is not None:
            self.daemon.request_stop("cancel")
            self._thread.join(timeout=150)
        for sim in self.simulators:
            sim.stop()
        self.simulators.clear()
