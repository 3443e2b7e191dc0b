"""The `_octoprint._tcp` announcement Cura's plugin browses for, on the loopback interface only (tests
send nothing beyond this machine)."""

from __future__ import annotations

import threading

from zeroconf import ServiceBrowser, ServiceListener, Zeroconf

from farmctl.web.mdns import SERVICE, FarmAnnouncement


class _Found(ServiceListener):
    def __init__(self) -> None:
        self.names: list[str] = []
        self.seen = threading.Event()

    def add_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        self.names.append(name)
        self.seen.set()

    def update_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        pass

    def remove_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        pass


def test_the_farm_is_found_as_an_octoprint_with_its_path_and_version() -> None:
    announcement = FarmAnnouncement(port=5123, addresses=["127.0.0.1"], version="0.1.0", name="farmctl test",
                                    interfaces=["127.0.0.1"])
    announcement.start()
    browser_side = Zeroconf(interfaces=["127.0.0.1"])
    try:
        found = _Found()
        ServiceBrowser(browser_side, SERVICE, found)
        assert found.seen.wait(10), "no _octoprint._tcp service seen on loopback"
        assert "farmctl test._octoprint._tcp.local." in found.names
        info = browser_side.get_service_info(SERVICE, "farmctl test._octoprint._tcp.local.", timeout=5000)
        assert info is not None and info.port == 5123
        assert info.properties[b"path"] == b"/" and info.properties[b"version"] == b"0.1.0"
        assert info.parsed_addresses() == ["127.0.0.1"]
    finally:
        browser_side.close()
        announcement.stop()
