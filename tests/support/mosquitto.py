"""A private mosquitto for tests: its own free port, generated config, optional TLS, users and ACL.

Never the machine's broker on 1883: each instance listens on 127.0.0.1:<free port> with everything
(config, certificates, password file, ACL, log) in its own directory. It can be stopped, killed with
SIGKILL (to prove what clients do when the broker vanishes), and started again on the same port.

    with MosquittoBroker(tmp_path, tls=True, users={"farmd": "pw"}, acl=ACL) as broker:
        broker.url, broker.ca_file, broker.log_text()
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


def mosquitto_available() -> bool:
    return (
        Path(MOSQUITTO).exists() and Path(MOSQUITTO_PASSWD).exists() and shutil.which("openssl") is not None
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class BrokerError(RuntimeError):
    pass


class MosquittoBroker:
    def __init__(
        self,
        directory: Path,
        *,
        tls: bool = False,
        users: Mapping[str, str] | None = None,
        acl: str | None = None,
        require_client_cert: bool = False,
        extra_config: tuple[str, ...] = (),
    ) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = free_port()
        self.tls = tls
        self.users = dict(users or {})
        self.acl = acl
        self.require_client_cert = require_client_cert
        self.extra_config = extra_config
        self.ca_file = directory / "ca.crt"
        self.client_cert = directory / "client.crt"
        self.client_key = directory / "client.key"
        self.log_file = directory / "mosquitto.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._write_config()

    # -- addresses ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    def section(self, **extra: object) -> dict[str, object]:
        """A `[mqtt]` config mapping pointing at this broker (TLS files included when TLS is on)."""
        mapping: dict[str, object] = {"url": self.url}
        if self.tls:
            mapping["ca_file"] = str(self.ca_file)
        mapping.update(extra)
        return mapping

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        if self.running:
            return
        self._process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.directory / "mosquitto.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrokerError(f"mosquitto exited with {self._process.returncode}:\n{self.log_text()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        self.kill()
        raise BrokerError(f"mosquitto did not listen on {self.port} within {timeout} s:\n{self.log_text()}")

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """Orderly shutdown (SIGTERM): clients see the connection close."""
        if self._process is None:
            return
        if self._process.poll() is None:
            os.kill(self._process.pid, signal.SIGCONT)  # a frozen broker cannot act on SIGTERM
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        self._process = None

    def kill(self) -> None:
        """SIGKILL: the broker vanishes without closing anything."""
        if self._process is None:
            return
        if self._process.poll() is None:
            os.kill(self._process.pid, signal.SIGKILL)
            self._process.wait(5)
        self._process = None

    def freeze(self) -> None:
        """SIGSTOP: connections stay open but nothing is answered (a hung or overloaded broker)."""
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGCONT)

    def log_text(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> MosquittoBroker:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    # -- generated files ---------------------------------------------------------------------

    def _write_config(self) -> None:
        lines = [
            "per_listener_settings false",
            "persistence false",
            f"log_dest file {self.log_file}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            # Running as root, mosquitto would switch to user `mosquitto` and then fail to read
            # files in a private temp directory; as any other user this line has no effect.
            f"user {pwd.getpwuid(os.getuid()).pw_name}",
            f"listener {self.port} {self.host}",
            f"allow_anonymous {'false' if self.users else 'true'}",
        ]
        if self.users:
            password_file = self.directory / "passwd"
            password_file.write_text("")
            for name, password in self.users.items():
                subprocess.run(
                    [MOSQUITTO_PASSWD, "-b", str(password_file), name, password],
                    check=True,
                    capture_output=True,
                )
            lines.append(f"password_file {password_file}")
        if self.acl is not None:
            acl_file = self.directory / "acl"
            acl_file.write_text(self.acl)
            lines.append(f"acl_file {acl_file}")
        if self.tls:
            self._make_certificates()
            lines += [
                f"cafile {self.ca_file}",
                f"certfile {self.directory / 'server.crt'}",
                f"keyfile {self.directory / 'server.key'}",
                f"require_certificate {'true' if self.require_client_cert else 'false'}",
            ]
        lines += self.extra_config
        (self.directory / "mosquitto.conf").write_text("\n".join(lines) + "\n")

    def _make_certificates(self) -> None:
        d = self.directory
        key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        _openssl(
            [
                "req",
                "-x509",
                *key,
                "-keyout",
                d / "ca.key",
                "-out",
                self.ca_file,
                "-subj",
                "/CN=farmctl test CA",
                "-days",
                "2",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ]
        )
        for name, subject, extensions in (
            (
                "server",
                "/CN=localhost",
                "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
            ),
            ("client", "/CN=farmd", "extendedKeyUsage=clientAuth\n"),
        ):
            (d / f"{name}.ext").write_text(extensions)
            _openssl(["req", *key, "-keyout", d / f"{name}.key", "-out", d / f"{name}.csr", "-subj", subject])
            _openssl(
                [
                    "x509",
                    "-req",
                    "-in",
                    d / f"{name}.csr",
                    "-CA",
                    self.ca_file,
                    "-CAkey",
                    d / "ca.key",
                    "-CAcreateserial",
                    "-out",
                    d / f"{name}.crt",
                    "-days",
                    "2",
                    "-extfile",
                    d / f"{name}.ext",
                ]
            )


def _openssl(arguments: list[str | Path]) -> None:
    result = subprocess.run(["openssl", *map(str, arguments)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BrokerError(f"openssl {arguments[0]} failed: {result.stderr.strip()}")
