"""The composition of the CLI: one Typer app, one sub-app per command group.

Command modules import their heavy dependencies (sqlmodel, serial, the G-code analyser) inside the
command functions, so `farmctl --help` and simple commands start fast. A run registers only the
modules of the command it runs (`build(argv)`): typer converts every registered command's signature
when it starts, and each module imports what its commands share, so `farmctl status` paid for all
twelve modules before. `--help`, no command or an unknown one get every module.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from farmctl import __version__
from farmctl.cli.common import set_root_home
from farmctl.cli.help import FarmTyper


def _version(value: bool) -> None:
    if value:
        print(f"farmctl {__version__}")
        raise typer.Exit()


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


# Modules under farmctl/cli/ that define `register(app: typer.Typer) -> None`, in the order their
# commands are listed.
_COMMAND_MODULES: list[str] = [
    "printing", "printers", "orders", "jobs", "schedule", "gcode", "daemon", "recover", "quote", "stats",
    "keys", "serve", "sync",
]

# Each top-level command and the modules that register it or add to it (`printers pause` comes from
# daemon.py, `printers recover` from recover.py). tests/test_cli_app.py checks it against the app
# that registers every module.
COMMANDS: dict[str, tuple[str, ...]] = {
    "ports": ("printing",), "print": ("printing",),
    "printers": ("printers", "daemon", "recover"),
    "orders": ("orders",), "jobs": ("jobs",), "schedule": ("schedule",), "gcode": ("gcode",),
    "daemon": ("daemon",), "status": ("daemon",), "watch": ("daemon",), "demo": ("daemon",),
    "doctor": ("daemon",), "quote": ("quote",), "stats": ("stats",), "keys": ("keys",), "serve": ("serve",),
    "sync": ("sync",),
}

# Options of the root callback that take a value (the command follows it).
_ROOT_VALUE_OPTIONS = ("--home",)


def invoked(argv: Sequence[str]) -> str | None:
    """The command `argv` (without the program name) runs; None for help, the version or none."""
    args = iter(argv)
    for arg in args:
        if arg in ("--help", "-h", "--version"):
            return None
        if arg in _ROOT_VALUE_OPTIONS:
            next(args, None)
        elif not arg.startswith("-"):
            return arg
    return None


def build(argv: Sequence[str] | None = None) -> typer.Typer:
    """The app, with the modules the command in `argv` needs (every module when `argv` is None)."""
    app = FarmTyper(
        name="farmctl",
        help="Run a farm of 3D printers: queue prototype jobs, stream G-code, watch every printer.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(root)
    import importlib

    command = invoked(argv) if argv is not None else None
    needed = COMMANDS.get(command or "", _COMMAND_MODULES)
    for module_name in _COMMAND_MODULES:
        if module_name in needed:
            importlib.import_module(f"farmctl.cli.{module_name}").register(app)
    return app


_full: list[typer.Typer] = []


def __getattr__(name: str) -> typer.Typer:
    """`from farmctl.cli.app import app`: the app with every command (built on first use)."""
    if name != "app":
        raise AttributeError(name)
    if not _full:
        _full.append(build())
    return _full[0]
