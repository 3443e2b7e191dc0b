"""A farmctl run builds only the command it runs, and `farmctl status` imports only what it draws with.

The full app (every module registered, what `--help` shows) is the reference: each command built alone
must be the same command, with the same subcommands in the same order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from farmctl.cli.app import COMMANDS, build, invoked


def _tree(app: Any) -> dict[str, list[str] | None]:
    import typer

    command = typer.main.get_command(app)
    tree: dict[str, list[str] | None] = {}
    for name, sub in command.commands.items():  # type: ignore[attr-defined]
        tree[name] = list(sub.commands) if hasattr(sub, "commands") else None
    return tree


def test_every_command_is_mapped_to_the_modules_that_build_it() -> None:
    full = _tree(build())
    assert set(full) == set(COMMANDS)
    for name in COMMANDS:
        alone = _tree(build([name]))
        assert alone[name] == full[name], name


@pytest.mark.parametrize(("argv", "command"), [
    (["status"], "status"),
    (["--home", "/x", "printers", "list"], "printers"),
    (["--home=/x", "jobs"], "jobs"),
    (["--help"], None),
    (["-h", "status"], None),
    (["--version"], None),
    ([], None),
    (["no-such-command"], "no-such-command"),
])
def test_the_command_is_found_after_the_root_options(argv: list[str], command: str | None) -> None:
    assert invoked(argv) == command


def test_an_unknown_command_gets_every_command_to_choose_from() -> None:
    assert set(_tree(build(["sttaus"]))) == set(COMMANDS)


# Runs the console entry point as `farmctl ARGS...` and prints, at exit, the modules it imported.
PROBE = """
import atexit, json, sys
atexit.register(lambda: print("MODULES " + json.dumps(sorted(sys.modules))))
sys.argv = ["farmctl", *sys.argv[1:]]
from farmctl.cli.main import main
main()
"""

HEAVY = ("sqlmodel", "sqlalchemy.orm", "pydantic", "farmctl.store.schema")


def _imported(tmp_path: Path, *args: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPYCACHEPREFIX=str(tmp_path / "pycache"), FARMCTL_HOME=str(tmp_path / "farm"))
    done = subprocess.run([sys.executable, "-c", PROBE, *args], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("MODULES "))
    modules: list[str] = json.loads(line.removeprefix("MODULES "))
    return modules


@pytest.mark.parametrize("args", [("status",), ("status", "--json")])
def test_status_imports_neither_the_model_machinery_nor_other_commands(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    _imported(tmp_path, "printers", "add", "p1", "--port", "/dev/null-p1")  # a farm, and the tables' cache
    modules = _imported(tmp_path, *args)
    heavy = [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert heavy == [], f"`farmctl {' '.join(args)}` imported {heavy[:5]}"
    commands = {m.rsplit(".", 1)[1] for m in modules if m.startswith("farmctl.cli.")}
    assert not commands & {"jobs", "orders", "printers", "quote", "stats", "gcode", "serve", "keys"}


def test_values_needing_no_conversion_leave_pydantic_out_others_are_still_checked(tmp_path: Path) -> None:
    _imported(tmp_path, "printers", "add", "p1", "--port", "/dev/null-p1")
    for args in (("printers", "show", "p1", "--json"), ("jobs", "list")):
        assert "pydantic" not in _imported(tmp_path, *args), args  # a str argument; an int default
    env = {**os.environ, "FARMCTL_HOME": str(tmp_path / "farm")}
    done = subprocess.run([sys.executable, "-m", "farmctl", "jobs", "list", "--limit", "many"], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 2 and "Invalid value for '--limit'" in done.stderr
