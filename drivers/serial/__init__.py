"""USB serial (Marlin-family) printers: transport, pure protocol, driver.

    from farmctl.drivers.serial import MarlinDriver, MarlinSettings
    driver = MarlinDriver("printer-1", "usb://1a86:7523@1-1.2:1.0", events.put, MarlinSettings())

See docs/serial.md; the protocol rules the comments cite (H1-H36) are in docs/serial-rules.md.

The public names are loaded on first use (PEP 562), so importing a light submodule such as
`farmctl.drivers.serial.kind` or `.ports` (the store checks a port with it) does not pull in pyserial
and the driver.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from farmctl.drivers.serial.driver import MarlinDriver, MarlinSettings
    from farmctl.drivers.serial.preflight import PreflightError, PreflightResult, preflight_file
    from farmctl.drivers.serial.settings import ProtocolSettings, Scripts
    from farmctl.drivers.serial.transport import LinkSettings

_EXPORTS = {
    "MarlinDriver": "driver", "MarlinSettings": "driver", "PreflightError": "preflight",
    "PreflightResult": "preflight", "preflight_file": "preflight", "ProtocolSettings": "settings",
    "Scripts": "settings", "LinkSettings": "transport",
}

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
