"""The octoprint kind: a printer behind an OctoPrint server, driven over its REST API and push socket.

Its connection settings are the base URL and the API key (secret: stored, never shown). A new URL or
key is verified against the server before it is stored, unless the operator says not to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from farmctl.drivers.kinds import DriverContext, Finding, Notify, PrinterKind, Settings, register

from farmctl.errors import UserError
from farmctl.redact import mask_url_passwords

if TYPE_CHECKING:
    from farmctl.drivers.base import EventSink, PrinterDriver


def check_octoprint_url(url: str) -> None:
    """An OctoPrint base URL: http(s)://host[:port][/prefix], nothing after the path."""
    shown = mask_url_passwords(url)
    try:
        parts = urlsplit(url.strip())
        _ = parts.port  # raises on a port that is not a number in range
    except ValueError:
        raise UserError(f"OctoPrint URL '{shown}' has an invalid port; give http://HOST[:PORT]") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(
            f"'{shown}' is not an OctoPrint URL; give it as http://host[:port] or https://host/prefix"
        )
    if parts.query or parts.fragment:
        raise UserError(f"OctoPrint URL '{shown}' has a query or fragment; give scheme, host, port, path")


class OctoPrintKind(PrinterKind):
    name = "octoprint"
    columns = ("octoprint_url", "api_key")
    address = "octoprint_url"
    option = "--octoprint URL"
    secret = "api_key"
    secret_option = "--api-key"
    title = "OctoPrint"
    source = "octoprint"

    def parse_setting(self, column: str, text: str) -> Any:
        return text.rstrip("/") if column == "octoprint_url" else text  # as --octoprint takes it

    def check(self, settings: Settings) -> None:
        if settings.get("octoprint_url") is not None:
            check_octoprint_url(settings["octoprint_url"])

    def check_new(self, settings: Settings) -> None:
        if not settings.get("api_key"):
            raise UserError("an OctoPrint printer needs --api-key KEY or --api-key-file FILE")

    def verify(self, settings: Settings, notify: Notify) -> None:
        """Refuse a wrong URL, a wrong key, a TLS problem or a disconnected printer before storing it."""
        from farmctl.drivers.octoprint import verify_octoprint

        info = verify_octoprint(settings["octoprint_url"], settings["api_key"], timeout=10.0)
        notify(
            f"OctoPrint {info.server_version} at {info.url} accepted the key; printer {info.printer_state}"
        )

    def make_driver(
        self, printer_id: str, settings: Settings, secret: str | None, sink: EventSink, context: DriverContext
    ) -> PrinterDriver:
        from farmctl.drivers.octoprint.driver import OctoPrintDriver, OctoPrintSettings

        if not settings.get("octoprint_url"):
            raise UserError(f"printer {printer_id} has no OctoPrint URL; `farmctl printers set` one")
        options = OctoPrintSettings(url=settings["octoprint_url"], api_key=secret or "")
        return OctoPrintDriver(printer_id, options, sink)

    def doctor(self, printer_id: str, settings: Settings, secret: str | None) -> list[Finding]:
        from farmctl.drivers.octoprint.verify import verify_octoprint

        if secret is None:
            fix = f"`farmctl printers set {printer_id} --api-key ...`"
            return [Finding("fail", "no API key stored", fix)]
        try:
            info = verify_octoprint(settings["octoprint_url"], secret, timeout=5.0, require_printer=False)
        except Exception as error:
            return [Finding("fail", str(error), "check the URL, the network and the API key")]
        return [Finding("ok", f"OctoPrint {info.server_version} at {info.url}, printer {info.printer_state}")]


OCTOPRINT = register(OctoPrintKind())
