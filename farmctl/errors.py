"""Errors a user can act on.

Any code may raise `UserError`; the CLI turns it into one line on stderr and a non-zero exit,
never a traceback. The message must say what happened and what to do about it.
"""

from __future__ import annotations


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


class NotFound(UserError):
    """An id or name that does not exist (printer, job, order, file)."""


class ConfigError(UserError):
    """A broken or invalid configuration file or environment override."""


class UnknownPrinter(NotFound):
    """No printer has this id. Each face adds its own pointer to the printer list."""

    def __init__(self, printer_id: str) -> None:
        super().__init__(f"no printer {printer_id}")
        self.printer_id = printer_id
