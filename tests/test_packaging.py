"""The distribution layout: drivers/ and config/ install under farmctl, never as top-level names."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE_ROOTS = {
    "farmctl": ROOT / "farmctl",
    "farmctl.drivers": ROOT / "drivers",
    "farmctl.defaults": ROOT / "config",
}


def _declared_packages() -> set[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return set(data["tool"]["setuptools"]["packages"])


def test_every_source_package_is_declared() -> None:
    # The package list is kept by hand because of the directory mapping; a missing entry would
    # only show up as an ImportError after a non-editable install.
    found: set[str] = set()
    for prefix, root in SOURCE_ROOTS.items():
        for init in root.rglob("__init__.py"):
            relative = init.parent.relative_to(root).parts
            if prefix == "farmctl" and relative and relative[0] in {"drivers", "defaults"}:
                continue
            found.add(".".join((prefix, *relative)))
    assert found == _declared_packages()


def test_installed_names_are_specific() -> None:
    import farmctl.defaults
    import farmctl.drivers

    assert Path(farmctl.drivers.__file__).parent == ROOT / "drivers"
    assert Path(farmctl.defaults.__file__).parent == ROOT / "config"
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import importlib.util, sys; sys.exit(importlib.util.find_spec('drivers') is not None)",
        ],
        cwd="/",
        check=False,
    )
    assert probe.returncode == 0, "a top-level module named 'drivers' is importable"


def test_module_entry_point_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "farmctl", "--version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("farmctl ")


def test_license_is_an_spdx_string_and_the_build_backend_knows_it() -> None:
    """A TOML table (`{ text = ... }`) made every install print setuptools' deprecation warning; the
    SPDX string form needs setuptools 77 or newer, so the build requirement says so."""
    for pyproject in (ROOT / "pyproject.toml", ROOT / "hardware-sim" / "pyproject.toml"):
        data = tomllib.loads(pyproject.read_text())
        assert data["project"]["license"] == "AGPL-3.0-or-later", pyproject
        requires = [r for r in data["build-system"]["requires"] if r.startswith("setuptools")]
        assert requires == ["setuptools>=77"], pyproject
