"""Options and output helpers shared by every command group.

Conventions (see README): every listing takes `--json` and then prints exactly one JSON document on
stdout, with messages on stderr; `--home DIR` on any command overrides FARMCTL_HOME.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
HomeOpt = Annotated[
    Path | None,
    typer.Option(
        "--home", metavar="DIR",
        help="Farm home directory (config, database, file store, logs). Overrides FARMCTL_HOME.",
        envvar="FARMCTL_HOME",
        show_envvar=True,
    ),
]

# Set by the root callback when `farmctl --home DIR <command>` is used.
_root_home: dict[str, Path | None] = {"home": None}


def set_root_home(home: Path | None) -> None:
    _root_home["home"] = home


def resolve_home_option(home: Path | None) -> Path | None:
    """The --home given to the command, else the one given before the command, else None."""
    root = _root_home["home"]
    from_env = os.environ.get("FARMCTL_HOME")
    if root is not None and home is not None and from_env and Path(from_env) == home:
        return root  # `home` was filled from FARMCTL_HOME: an explicit `farmctl --home DIR` wins
    return home if home is not None else root


def print_json(document: Any) -> None:
    """Write one JSON document to stdout (datetimes and paths become strings)."""
    sys.stdout.write(json.dumps(document, indent=2, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def message(text: str) -> None:
    """A human message: always stderr, so stdout stays clean for --json consumers."""
    print(text, file=sys.stderr)
