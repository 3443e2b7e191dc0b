"""Options left unset cost nothing: typer's pydantic coercion is built only for a value to coerce.

typer 0.29 coerces every parameter through a pydantic adapter that it builds the first time the
parameter is processed, even when the value is None (an option nobody typed), and building one
imports pydantic: ~20 % of a `farmctl status` process, spent on turning None into None. Here each
parameter of a farmctl command answers None (or () for a repeatable one, as typer does) itself and
hands any real value to typer's own coercion, unchanged. With a typer that processes parameters
some other way the parameters are left as they are (tests/test_cli_app.py notices the cost coming
back: `farmctl status` must not import pydantic).
"""

from __future__ import annotations

from typing import Any


class _UnsetFirst:
    """Stands in for a parameter's runtime coercion until a value other than None arrives."""

    def __init__(self, param: Any) -> None:
        self._param = param

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        if value is None:
            return () if param.multiple or param.nargs == -1 else None
        return type(self._param).get_runtime_param(self._param).coerce(value, param=param, ctx=ctx)


def defer_coercion(params: list[Any]) -> None:
    """Make each of `params` skip typer's coercion for values left unset (see the module's docstring)."""
    for param in params:
        typer_param = callable(getattr(type(param), "get_runtime_param", None))
        if typer_param and "get_runtime_param" not in vars(param):  # not yet stood in for
            stand_in = _UnsetFirst(param)
            param.get_runtime_param = lambda stand_in=stand_in: stand_in
