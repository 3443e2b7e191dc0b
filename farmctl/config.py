"""Loading farm.toml: one TOML file in the farm home, every setting overridable from the environment.

The sections and their fields are declared in `farmctl.config_schema`; this module only parses,
validates and merges. Precedence: environment (FARMCTL_<SECTION>_<KEY>) > farm.toml > defaults.
Every unknown key and bad value is reported with where it came from, the key and the reason.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from farmctl.config_schema import SECTIONS
from farmctl.errors import ConfigError

CONFIG_FILE_NAME = "farm.toml"
ENV_PREFIX = "FARMCTL_"

T = TypeVar("T")


@dataclass(frozen=True)
class FarmConfig:
    """Validated settings of one farm home; `section(StoreSettings)` gives a typed section."""

    home: Path
    source: Path | None
    sections: Mapping[type, object]

    def section(self, kind: type[T]) -> T:
        value = self.sections.get(kind)
        if value is None:
            value = kind()  # a section registered after loading: its defaults
        assert isinstance(value, kind)
        return value


def load_config(
    home: Path, environ: Mapping[str, str] | None = None, *, file: Path | None = None
) -> FarmConfig:
    """Read `home/farm.toml` (optional) and the environment; raise ConfigError listing every problem.

    `file`: read this farm.toml instead of the home's (`farmctl daemon --config FILE`), so every problem
    names the file the user gave."""
    env = os.environ if environ is None else environ
    path = home / CONFIG_FILE_NAME if file is None else file
    raw: dict[str, Any] = {}
    source: Path | None = None
    if path.is_file():
        source = path
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read: {exc}") from exc
    problems: list[str] = []
    for name, value in raw.items():
        if name not in SECTIONS:
            problems.append(f"{path}: [{name}]: unknown section (known: {', '.join(sorted(SECTIONS))})")
        elif not isinstance(value, dict):
            problems.append(f"{path}: {name}: must be a [{name}] table")
    sections: dict[type, object] = {}
    for name, kind in SECTIONS.items():
        table = raw.get(name)
        sections[kind] = _build_section(
            name, kind, table if isinstance(table, dict) else {}, env, str(path), problems
        )
    if problems:
        raise ConfigError("; ".join(problems))
    return FarmConfig(home=home, source=source, sections=sections)


def _build_section(
    name: str, kind: type, table: dict[str, Any], env: Mapping[str, str], where: str, problems: list[str]
) -> object:
    fields = {f.name: f for f in dataclasses.fields(kind)}
    hints = typing.get_type_hints(kind)
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in fields:
            problems.append(f"{where}: [{name}] {key}: unknown key (known: {', '.join(fields)})")
            continue
        error = _check(hints[key], fields[key], value, from_env=False)
        if error:
            problems.append(f"{where}: [{name}] {key}: {error}")
        else:
            values[key] = value
    prefix = f"{ENV_PREFIX}{name.upper()}_"
    for env_key, text in env.items():
        if not env_key.startswith(prefix):
            continue
        key = env_key[len(prefix) :].lower()
        if key not in fields:
            problems.append(
                f"environment {env_key}: unknown setting [{name}] {key} (known: {', '.join(fields)})"
            )
            continue
        try:
            value = _from_text(hints[key], text)
        except ValueError as exc:
            problems.append(f"environment {env_key}: {exc}")
            continue
        error = _check(hints[key], fields[key], value, from_env=True)
        if error:
            problems.append(f"environment {env_key}: {error}")
        else:
            values[key] = value
    return kind(**values)


def _base_types(hint: Any) -> tuple[set[Any], bool]:
    """The accepted types of a field and whether None is allowed."""
    args = (
        typing.get_args(hint)
        if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
        else ()
    )
    if args:
        return {a for a in args if a is not type(None)}, type(None) in args
    return {hint}, False


def _from_text(hint: Any, text: str) -> Any:
    kinds, optional = _base_types(hint)
    if optional and text.strip() == "":
        return None
    if bool in kinds:
        lowered = text.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ValueError(f"expected true or false, got {text!r}")
    if int in kinds:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"expected an integer, got {text!r}") from None
    if float in kinds:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {text!r}") from None
    if list[str] in kinds:
        return [part.strip() for part in text.split(",") if part.strip()]
    if dict[str, float] in kinds:
        return _table_from_text(text)
    return text


def _table_from_text(text: str) -> dict[str, float]:
    """`PLA=22.5,PETG=27` (an environment variable standing for a TOML table of numbers)."""
    table: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, number = part.partition("=")
        try:
            table[key.strip()] = float(number)
        except ValueError:
            sep = ""
        if not sep or not key.strip():
            raise ValueError(f"expected NAME=NUMBER pairs separated by commas, got {part!r}")
    return table


def _check(hint: Any, spec: dataclasses.Field[Any], value: Any, *, from_env: bool) -> str | None:
    kinds, optional = _base_types(hint)
    if value is None:
        return None if optional else "must not be empty"
    if bool in kinds:
        ok = isinstance(value, bool)
    elif int in kinds:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif float in kinds:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif list[str] in kinds:
        ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
    elif dict[str, float] in kinds:
        ok = isinstance(value, dict) and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value.values()
        )
        if ok and "min" in spec.metadata:
            low = [f"{k} = {v!r}" for k, v in value.items() if v < spec.metadata["min"]]
            if low:
                return f"must be at least {spec.metadata['min']}, got {', '.join(low)}"
        if ok:
            return None
    else:
        ok = isinstance(value, str)
    if not ok:
        wanted = " or ".join(sorted(_type_name(k) for k in kinds))
        return f"expected {wanted}, got {value!r}"
    meta = spec.metadata
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        return f"must be one of {', '.join(map(str, choices))}, got {value!r}"
    if "min" in meta and value < meta["min"]:
        return f"must be at least {meta['min']}, got {value!r}"
    if "max" in meta and value > meta["max"]:
        return f"must be at most {meta['max']}, got {value!r}"
    return None


def _type_name(kind: Any) -> str:
    if kind == dict[str, float]:
        return "a table of numbers (e.g. { PLA = 22.5 })"
    return str(getattr(kind, "__name__", kind))
