"""Options and output helpers shared by every command group.

Conventions (see README): every listing takes `--json` and then prints exactly one JSON document on
stdout, with messages on stderr; `--home DIR` on any command overrides FARMCTL_HOME.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
# FARMCTL_HOME is read by farmctl.home.resolve_home, not by typer: typer validates every value it is
# given, the environment's too, through a pydantic adapter, and importing pydantic for it was ~10 % of
# `farmctl status` (an option left unset costs nothing).
HomeOpt = Annotated[
    Path | None,
    typer.Option(
        "--home", metavar="DIR",
        help="Farm home directory (config, database, file store, logs). Overrides FARMCTL_HOME.",
    ),
]

# Set by the root callback when `farmctl --home DIR <command>` is used.
_root_home: dict[str, Path | None] = {"home": None}


def set_root_home(home: Path | None) -> None:
    _root_home["home"] = home


def resolve_home_option(home: Path | None) -> Path | None:
    """The --home given to the command, else the one given before the command, else None (then
    FARMCTL_HOME or the default, farmctl.home)."""
    return home if home is not None else _root_home["home"]


def print_json(document: Any) -> None:
    """Write one JSON document to stdout (datetimes and paths become strings)."""
    sys.stdout.write(json.dumps(document, indent=2, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def message(text: str) -> None:
    """A human message: always stderr, so stdout stays clean for --json consumers."""
    print(text, file=sys.stderr)


def add_to_group(app: typer.Typer, group_name: str, commands: dict[str, Any]) -> None:
    """Add `commands` (name -> function) to the command group `group_name` of `app`, when this run has
    registered that group (`farmctl status` builds only its own module: farmctl/cli/app.py), and once:
    the group's Typer is a module's, and the app may be built more than once in a process."""
    group = next((info.typer_instance for info in app.registered_groups if info.name == group_name), None)
    if group is None:
        return
    present = {info.name for info in group.registered_commands}
    for name, function in commands.items():
        if name not in present:
            group.command(name)(function)
