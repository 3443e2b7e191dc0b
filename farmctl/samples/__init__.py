"""Sample G-code for `farmctl demo` (and for trying the queue by hand).

* `cube25_cura.gcode`: a 25 mm calibration cube sliced by CuraEngine 4.13 for an Ender-3 (PLA,
  0.4 mm nozzle, 226 KB, ~43 min at real speed).
* `spacer20_petg.gcode`: a 20 mm round spacer, 5 mm tall (PETG, generated, ~120 KB, ~9 min).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SAMPLES = ("cube25_cura.gcode", "spacer20_petg.gcode")


def sample_path(name: str) -> Path:
    """The installed file (samples ship as package data inside the wheel)."""
    resource = resources.files(__name__) / name
    return Path(str(resource))
