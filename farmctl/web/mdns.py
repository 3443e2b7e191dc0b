"""Announcing the farm on the LAN as an OctoPrint (`_octoprint._tcp`), so Cura's OctoPrint plugin lists
it by itself, as OctoPrint's own discovery plugin does (TXT records `path` and `version`).

Only a server bound beyond loopback is announced (nobody else could reach one on 127.0.0.1), and only
with `[http] mdns = true` (the default). A failure to announce is logged; the server serves anyway.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

SERVICE = "_octoprint._tcp.local."


def lan_addresses(host: str) -> list[str]:
    """The IPv4 addresses a server bound to `host` is reached at (every interface's for 0.0.0.0)."""
    if host not in ("0.0.0.0", ""):
        infos = socket.getaddrinfo(host, None, family=socket.AF_INET, type=socket.SOCK_STREAM)
        return sorted({str(info[4][0]) for info in infos})
    import ifaddr

    found = set()
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and not ipaddress.ip_address(ip.ip).is_loopback:
                found.add(ip.ip)
    return sorted(found)


class FarmAnnouncement:
    """One `_octoprint._tcp` service record for the farm, registered until `stop()`."""

    def __init__(self, *, port: int, addresses: list[str], version: str, name: str | None = None,
                 interfaces: list[str] | None = None) -> None:
        self.name = name or f"farmctl on {socket.gethostname()}"
        self.port = port
        self.addresses = addresses
        self.version = version
        self.interfaces = interfaces  # None: every interface; tests pass ["127.0.0.1"]
        self._zeroconf: Any = None
        self._info: Any = None

    def start(self) -> None:
        from zeroconf import InterfaceChoice, ServiceInfo, Zeroconf

        host = socket.gethostname().split(".")[0] or "farmctl"
        self._info = ServiceInfo(
            SERVICE,
            f"{self.name}.{SERVICE}",
            addresses=[socket.inet_aton(a) for a in self.addresses],
            port=self.port,
            properties={"path": "/", "version": self.version, "api": "0.1", "model": "farmctl farm"},
            server=f"{host}.local.",
        )
        self._zeroconf = Zeroconf(interfaces=self.interfaces or InterfaceChoice.All)
        self._zeroconf.register_service(self._info)

    def stop(self) -> None:
        if self._zeroconf is not None:
            self._zeroconf.unregister_service(self._info)
            self._zeroconf.close()
            self._zeroconf = None
