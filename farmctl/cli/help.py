"""`--help` for people: what to type after each option, never a Python type.

Typer's own help (0.2x) prints each parameter's annotation (`<bool>`, `<list[Path]>`, `<path>`) and a
required argument as `{files}...`. Every command of farmctl is built from `FarmTyper`, whose commands
and groups draw their help here from the plain parameter attributes (options, metavar, help, default,
env var), so the text does not depend on how a Typer release spells types:

    Usage: farmctl jobs add [OPTIONS] FILE...
    --copies N        Copies of each file.  [default: 1]
    --json            Print one JSON document on stdout.

An option's metavar is written where it is declared (`typer.Option("--due", metavar="DATE")`); one
declared without gets its name in capitals (`--site SITE`), a flag gets none.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from typer.core import TyperCommand, TyperGroup

from farmctl.cli.unset_params import defer_coercion

_BORDER = "dim"


def metavar_of(param: Any) -> str:
    """What the user types for this parameter ('' for a flag): its declared metavar, else its name."""
    if param.param_type_name == "option" and (param.is_flag or param.count):
        return ""
    name = param.metavar or str(param.name or "").upper()
    if param.param_type_name == "argument" and param.nargs != 1 and not name.endswith("..."):
        name += "..."
    return str(name)


def _declare_metavars(params: list[Any]) -> None:
    # Typer quotes `metavar` in its own messages (`Missing argument 'FILE...'`): give every argument one.
    for param in params:
        if param.param_type_name == "argument":
            param.metavar = metavar_of(param)


def _usage(command: Any, ctx: Any) -> str:
    pieces = [command.options_metavar] if command.options_metavar else []
    for param in command.get_params(ctx):
        if param.param_type_name == "argument" and not param.hidden:
            name = metavar_of(param)
            pieces.append(name if param.required else f"[{name}]")
    if isinstance(command, TyperGroup):
        pieces.append("COMMAND [ARGS]...")
    return " ".join(pieces)


def _paragraphs(text: str | None) -> list[str]:
    """The docstring's paragraphs, each joined into one line (the console wraps them)."""
    if not text:
        return []
    blocks = inspect.cleandoc(text).split("\n\n")
    return [" ".join(line.strip() for line in block.splitlines()) for block in blocks]


def _default_text(param: Any) -> str | None:
    if param.param_type_name != "option" or not param.show_default or param.required:
        return None
    default = param.default
    if isinstance(param.show_default, str):
        return param.show_default
    if callable(default) or default is None:
        return None
    if param.is_flag:  # a --x/--no-x pair: name the side that is on by default
        if not param.secondary_opts:
            return None
        return param.opts[0] if default else param.secondary_opts[0]
    if isinstance(default, list | tuple):
        return ", ".join(str(v) for v in default) or None
    return str(default)


def _param_row(param: Any, ctx: Any) -> tuple[Text, Text, Text]:
    marker = Text("*" if param.required else "", style="red")
    if param.param_type_name == "argument":
        name = Text(metavar_of(param), style="bold cyan")
    else:
        switches = sorted(param.opts, key=lambda opt: (not opt.startswith("--"), opt))
        name = Text(", ".join(switches), style="bold cyan")
        if param.secondary_opts:
            name.append(" / " + ", ".join(param.secondary_opts), style="bold magenta")
        value = metavar_of(param)
        if value:
            name.append(f" {value}", style="yellow")
    help_text = Text(" ".join(_paragraphs(getattr(param, "help", None))))
    extras = []
    if getattr(param, "show_envvar", False) and param.envvar:
        extras.append(f"env var: {param.envvar}")
    default = _default_text(param)
    if default is not None:
        extras.append(f"default: {default}")
    if param.required:
        extras.append("required")
    for extra in extras:
        help_text.append(f"  [{extra}]", style="dim")
    return marker, name, help_text


def _panel(title: str, rows: list[tuple[RenderableType, ...]]) -> Panel:
    if all(isinstance(row[0], Text) and not row[0].plain for row in rows) and len(rows[0]) > 2:
        rows = [row[1:] for row in rows]  # no required parameter: no column for the marker
    grid = Table.grid(padding=(0, 2))
    for _ in rows[0]:
        grid.add_column()
    grid.columns[-1].ratio = 1
    for row in rows:
        grid.add_row(*row)
    return Panel(grid, title=title, title_align="left", border_style=_BORDER)


def render_help(command: Any, ctx: Any) -> Group:
    """The whole help screen of a command or group."""
    usage = f"{ctx.command_path} {_usage(command, ctx)}"
    parts: list[RenderableType] = [Padding(Text.assemble("Usage: ", (usage, "bold")), (0, 1))]
    for paragraph in _paragraphs(command.help):
        parts.append(Padding(Text(paragraph), (1, 1, 0, 1)))
    parts.append(Text(""))
    params = [p for p in command.get_params(ctx) if not p.hidden]
    arguments = [_param_row(p, ctx) for p in params if p.param_type_name == "argument"]
    options = [_param_row(p, ctx) for p in params if p.param_type_name == "option"]
    if arguments:
        parts.append(_panel("Arguments", list(arguments)))
    if options:
        parts.append(_panel("Options", list(options)))
    if isinstance(command, TyperGroup):
        rows: list[tuple[RenderableType, ...]] = []
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                first = (_paragraphs(sub.short_help or sub.help) or [""])[0]
                rows.append((Text(name, style="bold cyan"), Text(first)))
        if rows:
            parts.append(_panel("Commands", rows))
    if command.epilog:
        parts.append(Padding(Text(command.epilog), (0, 1)))
    return Group(*parts)


class _FarmHelp:
    """Usage and help drawn here, for commands and groups alike (listed first in their bases)."""

    params: list[Any]

    def _declare(self) -> None:
        _declare_metavars(self.params)
        defer_coercion(self.params)

    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)  # type: ignore[misc]
        defer_coercion(params)  # with --help, which typer adds only here
        return params

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [_usage(self, ctx)]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        Console(highlight=False).print(render_help(self, ctx))


class FarmCommand(_FarmHelp, TyperCommand):
    """A command whose help and usage show metavars (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._declare()


class FarmGroup(_FarmHelp, TyperGroup):
    """A command group with the same help as `FarmCommand`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._declare()


class FarmTyper(typer.Typer):
    """`typer.Typer` whose groups and commands are `FarmGroup` and `FarmCommand`."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", FarmGroup)
        super().__init__(**kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        kwargs.setdefault("cls", FarmCommand)
        return super().command(*args, **kwargs)
