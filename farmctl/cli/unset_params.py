"""Values that need no conversion cost nothing: typer's pydantic coercion is built only when one does.

typer 0.29 coerces every parameter's value through a pydantic adapter that it builds the first time
the parameter is processed, even when the value is None (an option nobody typed) or already what the
annotation asks for (a `str` argument, an `int` default), and building one imports pydantic: ~20 % of
a `farmctl status` process, spent on turning None into None. Here each parameter of a farmctl command
answers those cases itself, exactly as the adapter would (None, or () for a repeatable parameter; a
`str` for `str`; an `int` for `int` and a `float` for `float` without bounds), and hands every other
value to typer's own coercion, unchanged: text to parse as a number or a path, a choice, a parser.
With a typer that processes parameters some other way the parameters are left as they are
(tests/test_cli_app.py notices the cost coming back: `farmctl status` must not import pydantic).
"""

from __future__ import annotations

from typing import Any

_AS_IS = (str, int, float)  # annotations whose adapter returns a value of exactly that type unchanged


class _NeedlessFirst:
    """Stands in for a parameter's runtime coercion until a value arrives that needs converting."""

    def __init__(self, param: Any) -> None:
        self._param = param

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        if value is None:
            return () if param.multiple or param.nargs == -1 else None
        if self._as_is(value, param):
            return value
        return type(self._param).get_runtime_param(self._param).coerce(value, param=param, ctx=ctx)

    @staticmethod
    def _as_is(value: Any, param: Any) -> bool:
        descriptor = getattr(param, "type_descriptor", None)
        info = getattr(descriptor, "parameter_info", None)
        annotation = getattr(descriptor, "annotation", None)
        if info is None or annotation not in _AS_IS or type(value) is not annotation:
            return False
        if getattr(info, "parser", None) is not None or getattr(info, "click_type", None) is not None:
            return False
        return all(getattr(info, bound, None) is None for bound in ("min", "max"))


def defer_coercion(params: list[Any]) -> None:
    """Make each of `params` skip typer's coercion where it changes nothing (see the module's docstring)."""
    for param in params:
        typer_param = callable(getattr(type(param), "get_runtime_param", None))
        if typer_param and "get_runtime_param" not in vars(param):  # not yet stood in for
            stand_in = _NeedlessFirst(param)
            param.get_runtime_param = lambda stand_in=stand_in: stand_in
