"""Printers behind OctoPrint, through octorest (see docs/octoprint.md).

The public names are loaded on first use (PEP 562), so importing a light submodule such as
`farmctl.drivers.octoprint.errors` does not pull in requests, octorest and websocket-client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .driver import OctoPrintDriver
    from .errors import (
        NotOctoPrint,
        OctoPrintAuthError,
        OctoPrintConflict,
        OctoPrintError,
        OctoPrintRequestError,
        OctoPrintTLSError,
        OctoPrintUnreachable,
        mask_key,
    )
    from .models import OctoPrintInfo, OctoPrintSnapshot, OctoPrintState
    from .rest import OctoPrintClient
    from .settings import OctoPrintSettings, UploadProgress
    from .verify import read_api_key_file, verify_octoprint

_EXPORTS = {
    "OctoPrintDriver": "driver", "OctoPrintSettings": "settings", "UploadProgress": "settings",
    "NotOctoPrint": "errors", "OctoPrintAuthError": "errors", "OctoPrintConflict": "errors",
    "OctoPrintError": "errors", "OctoPrintRequestError": "errors", "OctoPrintTLSError": "errors",
    "OctoPrintUnreachable": "errors", "mask_key": "errors",
    "OctoPrintInfo": "models", "OctoPrintSnapshot": "models", "OctoPrintState": "models",
    "OctoPrintClient": "rest",
    "read_api_key_file": "verify", "verify_octoprint": "verify",
}

__all__ = [
    "NotOctoPrint",
    "OctoPrintAuthError",
    "OctoPrintClient",
    "OctoPrintConflict",
    "OctoPrintDriver",
    "OctoPrintError",
    "OctoPrintInfo",
    "OctoPrintRequestError",
    "OctoPrintSettings",
    "OctoPrintSnapshot",
    "OctoPrintState",
    "OctoPrintTLSError",
    "OctoPrintUnreachable",
    "UploadProgress",
    "mask_key",
    "read_api_key_file",
    "verify_octoprint",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
