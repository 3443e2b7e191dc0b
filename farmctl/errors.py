"""Errors a user can act on.

Any code may raise `UserError`; the CLI turns it into one line on stderr and a non-zero exit,
never a traceback. The message must say what happened and what to do about it.
"""

from __future__ import annotations

from collections.abc import Callable


class UserError(Exception):
    """A problem caused by input, configuration or environment that the user can fix."""

    exit_code: int = 1

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__


class BadValue(UserError):
    """A value a person gave that a use case refuses, with the inputs it names as data, so each face
    names them as people type them there: `farmctl stats --since` and `GET /api/v1/stats?since=` give
    the same refusal, the CLI naming its option (`--since`), HTTP its parameter (`since`).

    `text` is the one line with a `{slot}` for each input (`inputs`: the use case's names, e.g.
    "spool_g") and for each of `values` (what was given, formatted as the slot says). The plain message
    (`.message`, what HTTP and MQTT answer) names each input by the use case's name; `worded(name)`
    by the face's."""

    def __init__(self, text: str, *inputs: str, **values: object) -> None:
        self.text = text
        self.inputs = inputs
        self.values = values
        super().__init__(self.worded(str))

    def worded(self, name: Callable[[str], str]) -> str:
        """The line with each input named `name(input)`."""
        return self.text.format(**self.values, **{given: name(given) for given in self.inputs})


class NotFound(UserError):
    """An id or name that does not exist (printer, job, order, file)."""


class ConfigError(UserError):
    """A broken or invalid configuration file or environment override."""


class DatabaseError(UserError):
    """The database failed: broken, read-only, unreachable. The message says which and what to do."""


class DatabaseUnavailable(DatabaseError):
    """The database cannot take this transaction now (locked by another process, connection lost,
    disk full, an I/O error), but the same transaction may work later: the daemon keeps it and
    retries instead of dropping it (daemon/supervisor.py)."""


class NoFarm(NotFound):
    """No farm home at this path (and the command does not create one)."""

    def __init__(self, home: object) -> None:
        super().__init__(f"no farm at {home}")
        self.home = home
