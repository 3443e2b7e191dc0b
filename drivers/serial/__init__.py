"""USB serial (Marlin-family) printers: transport, pure protocol, driver.

    from farmctl.drivers.serial import MarlinDriver, MarlinSettings
    driver = MarlinDriver("printer-1", "usb://1a86:7523@1-1.2:1.0", events.put, MarlinSettings())

See docs/serial.md; the protocol rules the comments cite (H1-H36) are in docs/serial-rules.md.
"""

from farmctl.drivers.serial.driver import MarlinDriver, MarlinSettings
from farmctl.drivers.serial.preflight import PreflightError, PreflightResult, preflight_file
from farmctl.drivers.serial.settings import ProtocolSettings, Scripts
from farmctl.drivers.serial.transport import LinkSettings

__all__ = [
    "LinkSettings",
    "MarlinDriver",
    "MarlinSettings",
    "PreflightError",
    "PreflightResult",
    "ProtocolSettings",
    "Scripts",
    "preflight_file",
]
