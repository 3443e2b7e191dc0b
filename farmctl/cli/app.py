"""The composition of the CLI: one Typer app, one sub-app per command group.

Command modules import their heavy dependencies (sqlmodel, serial, the G-code analyser) inside the
command functions, so `farmctl --help` and simple commands start fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from farmctl import __version__
from farmctl.cli.common import set_root_home
from farmctl.cli.help import FarmTyper

app = FarmTyper(
    name="farmctl",
    help="Run a farm of 3D printers: queue prototype jobs, stream G-code, watch every printer.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"farmctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    home: Annotated[
        Path | None,
        typer.Option("--home", metavar="DIR",
                     help="Farm home directory for any command (overrides FARMCTL_HOME)."),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    set_root_home(home)


def _register() -> None:
    """Attach the command groups; each module owns its commands."""
    import importlib

    for module_name in _COMMAND_MODULES:
        module = importlib.import_module(f"farmctl.cli.{module_name}")
        module.register(app)


# Modules under farmctl/cli/ that define `register(app: typer.Typer) -> None`.
_COMMAND_MODULES: list[str] = [
    "printing", "printers", "orders", "jobs", "schedule", "gcode", "daemon", "recover", "quote", "stats",
    "keys", "serve", "sync",
]

_register()
