"""A real OctoPrint server for tests and benchmarks.

OctoPrint pins its own Flask/Tornado/... versions, so it lives in its OWN virtual environment,
created once under the test cache (``$FARMCTL_TEST_CACHE`` or ``~/.cache/farmctl-tests``) and
reused by every later run. The first run installs it from the package index (about 25-45 s);
later runs only check a stamp file.

Each `OctoPrintServer` gets a generated basedir: first-run wizard off, everything that phones
home disabled, an admin user (password hash made once by ``octoprint user add`` and cached), and
an Application Key seeded in ``data/appkeys/keys.yaml`` so no browser approval is needed. The
serial side is OctoPrint's bundled virtual printer by default, or any serial port (for example a
pseudo-terminal of farmctl's own simulator) listed in ``serial.additionalPorts``.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OCTOPRINT_VERSION = "1.11.8"
ADMIN_USER = "farmadmin"
ADMIN_PASSWORD = "farmadmin-pass"
# Any fixed value works; it only has to be the same in every basedir that shares the cached users.yaml.
ACCESS_SALT = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"

# Plugins that reach out to the network or multicast; tests must stay on loopback.
_DISABLED_PLUGINS = [
    "discovery",
    "softwareupdate",
    "announcements",
    "tracking",
    "errortracking",
    "pluginmanager",
    "health_check",
    "firmware_check",
]


def cache_root() -> Path:
    root = os.environ.get("FARMCTL_TEST_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "farmctl-tests"


@contextlib.contextmanager
def _cache_lock() -> Iterator[None]:
    """Serialise installs between concurrent test runs (several engineers share this machine)."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".octoprint.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def octoprint_python() -> Path:
    """Return the Python of the cached OctoPrint venv, installing OctoPrint first if needed.

    The venv is built in a temporary directory and renamed into place, so an interrupted install
    never leaves a half-built venv that later runs would trust. OctoPrint is always started as
    ``python -m octoprint`` so the renamed venv's console-script shebangs do not matter.
    """
    venv = cache_root() / "octoprint-venv"
    python = venv / "bin" / "python"
    stamp = venv / ".farmctl-octoprint"
    if stamp.exists() and stamp.read_text().strip() == OCTOPRINT_VERSION and python.exists():
        return python
    with _cache_lock():
        if stamp.exists() and stamp.read_text().strip() == OCTOPRINT_VERSION and python.exists():
            return python
        building = venv.with_name(venv.name + ".building")
        shutil.rmtree(building, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(building)], check=True, env=_clean_env())
        install = subprocess.run(
            [str(building / "bin" / "python"), "-m", "pip", "install", "--quiet",
             f"octoprint=={OCTOPRINT_VERSION}"],
            env=_clean_env(), capture_output=True, text=True,
        )
        if install.returncode != 0:
            raise RuntimeError(f"installing OctoPrint {OCTOPRINT_VERSION} failed:\n{install.stderr[-3000:]}")
        (building / ".farmctl-octoprint").write_text(OCTOPRINT_VERSION + "\n")
        shutil.rmtree(venv, ignore_errors=True)
        building.rename(venv)
    return python


def _clean_env() -> dict[str, str]:
    """The environment for OctoPrint's own venv: nothing of the test venv may leak into it."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


def _cached_users_yaml(python: Path) -> str:
    """users.yaml with the admin user; made once by OctoPrint's own CLI (argon2 hash) and cached."""
    cached = cache_root() / f"octoprint-users-{OCTOPRINT_VERSION}.yaml"
    if cached.exists():
        return cached.read_text()
    with _cache_lock():
        if cached.exists():
            return cached.read_text()
        scratch = cache_root() / "octoprint-users-scratch"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        _write_config(scratch, port=5000, serial_port="VIRTUAL", extra_ports=(), autoconnect=False)
        subprocess.run(
            [str(python), "-m", "octoprint", "--basedir", str(scratch), "user", "add", ADMIN_USER,
             "--password", ADMIN_PASSWORD, "--admin"],
            check=True, capture_output=True, env=_clean_env(),
        )
        text = (scratch / "users.yaml").read_text()
        cached.write_text(text)
        shutil.rmtree(scratch, ignore_errors=True)
        return text


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_config(
    basedir: Path,
    *,
    port: int,
    serial_port: str,
    extra_ports: tuple[str, ...],
    autoconnect: bool,
    virtual_throttle: float = 0.001,
) -> None:
    # JSON is valid YAML, and it saves depending on a YAML writer in the test venv.
    config: dict[str, Any] = {
        "accessControl": {"salt": ACCESS_SALT},
        "plugins": {
            "_disabled": _DISABLED_PLUGINS,
            "virtual_printer": {"enabled": True, "throttle": virtual_throttle},
        },
        "serial": {
            "port": serial_port,
            "baudrate": 115200,
            "autoconnect": autoconnect,
            "additionalPorts": list(extra_ports),
        },
        "server": {
            "host": "127.0.0.1",
            "port": port,
            "firstRun": False,
            "onlineCheck": {"enabled": False},
            "pluginBlacklist": {"enabled": False},
            "pythonEolCheck": {"enabled": False},
            "seenWizards": {"corewizard": 4},
        },
    }
    (basedir / "config.yaml").write_text(json.dumps(config, indent=1))


@dataclass
class OctoPrintServer:
    """One OctoPrint process with its own basedir, port and Application Key."""

    basedir: Path
    port: int
    api_key: str
    serial_port: str = "VIRTUAL"
    python: Path = field(default_factory=octoprint_python)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.basedir / "serve.log"

    @classmethod
    def create(
        cls,
        basedir: Path,
        *,
        serial_port: str = "VIRTUAL",
        extra_ports: tuple[str, ...] = (),
        autoconnect: bool = True,
        port: int | None = None,
    ) -> OctoPrintServer:
        """Write a fresh basedir (config, admin user, Application Key); does not start anything."""
        python = octoprint_python()
        basedir.mkdir(parents=True, exist_ok=True)
        port = port or free_port()
        _write_config(basedir, port=port, serial_port=serial_port, extra_ports=extra_ports,
                      autoconnect=autoconnect)
        (basedir / "users.yaml").write_text(_cached_users_yaml(python))
        api_key = "FARMTEST" + secrets.token_hex(16).upper()
        keys = basedir / "data" / "appkeys"
        keys.mkdir(parents=True, exist_ok=True)
        (keys / "keys.yaml").write_text(
            json.dumps({ADMIN_USER: [{"app_id": "farmctl-tests", "api_key": api_key}]})
        )
        return cls(basedir=basedir, port=port, api_key=api_key, serial_port=serial_port, python=python)

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("OctoPrint is already running")
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed in _reap
        self.process = subprocess.Popen(
            [str(self.python), "-m", "octoprint", "serve", "--iknowwhatimdoing",
             "--basedir", str(self.basedir), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env=_clean_env(),
        )
        log.close()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM and wait; SIGKILL if it does not exit in time."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: OctoPrint dies without any chance to tell its clients."""
        proc = self.process
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(15)

    def restart(self, *, wait_operational: bool = True, timeout: float = 60.0) -> None:
        self.stop()
        self.start()
        self.wait_ready(timeout=timeout, operational=wait_operational)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # -- readiness ---------------------------------------------------------------------------------

    def api(self, path: str, body: dict[str, Any] | None = None, timeout: float = 5.0) -> Any:
        """A tiny independent REST call (urllib, not the code under test) for setup and checks."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method="POST" if data else "GET")
        request.add_header("X-Api-Key", self.api_key)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            raw = reply.read()
        return json.loads(raw) if raw else None

    def connection_state(self) -> str:
        return str(self.api("/api/connection")["current"]["state"])

    def wait_ready(self, *, timeout: float = 60.0, operational: bool = True) -> None:
        """Poll until the REST API answers (and the printer is Operational, if asked)."""
        deadline = time.monotonic() + timeout
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"OctoPrint exited with {self.process.returncode}; see {self.log_path}")
            try:
                state = self.connection_state()
                if not operational or state == "Operational":
                    return
                last_error = f"printer state {state!r}"
            except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
                last_error = str(exc)
            time.sleep(0.1)
        raise TimeoutError(f"OctoPrint on port {self.port} not ready after {timeout}s: {last_error}")

    def connect_printer(self, port: str | None = None, timeout: float = 30.0) -> None:
        self.api("/api/connection", {"command": "connect", "port": port or self.serial_port,
                                     "baudrate": 115200, "autoconnect": False})
        self.wait_ready(timeout=timeout, operational=True)

    def rss_bytes(self) -> int:
        if not self.alive() or self.process is None:
            return 0
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0


@contextlib.contextmanager
def running_octoprint(basedir: Path, **options: Any) -> Iterator[OctoPrintServer]:
    """Create, start and (always) stop one OctoPrint; waits until its printer is Operational
    when autoconnect is on."""
    server = OctoPrintServer.create(basedir, **options)
    server.start()
    try:
        server.wait_ready(operational=options.get("autoconnect", True))
        yield server
    finally:
        server.stop()
