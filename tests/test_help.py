"""`--help` of every command reads for people: what to type after each option, no Python type names."""

from __future__ import annotations

import re

import pytest
import typer.main
from typer.testing import CliRunner

from farmctl.cli.app import app


def _command_paths() -> list[list[str]]:
    root = typer.main.get_command(app)
    paths: list[list[str]] = [[]]
    ctx = root.make_context("farmctl", ["--version"], resilient_parsing=True)
    for name in root.list_commands(ctx):  # type: ignore[attr-defined]
        sub = root.get_command(ctx, name)  # type: ignore[attr-defined]
        paths.append([name])
        if hasattr(sub, "list_commands"):
            paths.extend([name, verb] for verb in sub.list_commands(ctx))
    return paths


PATHS = _command_paths()
# What Typer 0.2x printed: `<bool>`, `<list[Path]>`, `<path>`, `<str>`, `{files}...`.
PYTHON_INSIDES = re.compile(r"<[a-z_\[\]|, ]+>|\{[a-z_]+\}|list\[|\b(?:str|int|float|bool|Path)\b\]?")


def test_every_command_is_covered() -> None:
    assert ["jobs", "add"] in PATHS and ["printers", "show"] in PATHS and ["gcode", "info"] in PATHS
    assert len(PATHS) > 30


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "farmctl")
def test_help_shows_no_python_types(path: list[str]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    assert "Usage: farmctl" in result.output
    found = PYTHON_INSIDES.findall(result.output)
    assert not found, f"{' '.join(path)} --help shows {found}:\n{result.output}"


def test_options_and_arguments_say_what_to_type() -> None:
    runner = CliRunner()
    add = runner.invoke(app, ["jobs", "add", "--help"], terminal_width=100).output
    assert "Usage: farmctl jobs add [OPTIONS] FILE..." in add
    for shown in ("--copies N", "--due DATE", "--order ORDER", "--nozzle MM", "--home DIR", "--tag TAG"):
        assert shown in add
    assert re.search(r"--json\s+Print one JSON", add)  # a flag takes nothing
    printers = runner.invoke(app, ["printers", "add", "--help"], terminal_width=100).output
    assert "--verify / --no-verify" in printers and "--bed XxYxZ" in printers
    assert re.search(r"\[default:\s+--verify\]", printers.replace("│", " "))
    missing = runner.invoke(app, ["jobs", "add"], terminal_width=100)
    assert missing.exit_code != 0 and "FILE..." in missing.output and "{" not in missing.output
