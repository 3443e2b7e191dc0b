"""Structured logs: one `key=value` line per event, per printer, to stderr and a rotating file.

    2026-11-21T06:12:03.120Z INFO printer=mk3-1 event=run.started run=r4 job=j2 file=cube.gcode

The composition root installs the handlers on the `farmctl.daemon` logger and removes them when the
daemon ends (no global configuration is left behind, tests can run daemons in-process).
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

LOGGER_NAME = "farmctl.daemon"
LOG_DIR = "logs"
LOG_FILE = "daemon.log"


def _quote(value: object) -> str:
    text = str(value)
    if not text or any(c in text for c in ' ="'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        fields: dict[str, Any] = getattr(record, "fields", {})
        parts = [stamp, record.levelname]
        printer = getattr(record, "printer", None)
        if printer:
            parts.append(f"printer={_quote(printer)}")
        parts.append(f"event={_quote(record.getMessage())}")
        parts.extend(f"{key}={_quote(value)}" for key, value in fields.items() if value is not None)
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class EventLog:
    """What the daemon's code calls: `log.info("run.started", printer="mk3-1", run="r4")`."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def _log(self, level: int, event: str, printer: str | None, fields: dict[str, Any]) -> None:
        if self._logger.isEnabledFor(level):
            self._logger.log(level, event, extra={"printer": printer, "fields": fields})

    def info(self, event: str, printer: str | None = None, **fields: Any) -> None:
        self._log(logging.INFO, event, printer, fields)

    def warning(self, event: str, printer: str | None = None, **fields: Any) -> None:
        self._log(logging.WARNING, event, printer, fields)

    def error(self, event: str, printer: str | None = None, **fields: Any) -> None:
        self._log(logging.ERROR, event, printer, fields)

    def debug(self, event: str, printer: str | None = None, **fields: Any) -> None:
        self._log(logging.DEBUG, event, printer, fields)

    def exception(self, event: str, printer: str | None = None, **fields: Any) -> None:
        self._logger.exception(event, extra={"printer": printer, "fields": fields})


def install_logging(
    home: Path, *, to_stderr: bool, level: int = logging.INFO, max_mb: int = 10, backups: int = 5
) -> tuple[EventLog, Callable[[], None]]:
    """Attach the handlers; returns the log and a function that detaches and closes them."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level)
    logger.propagate = False
    formatter = KeyValueFormatter()
    handlers: list[logging.Handler] = []
    (home / LOG_DIR).mkdir(parents=True, exist_ok=True)
    file_handler = logging.handlers.RotatingFileHandler(
        home / LOG_DIR / LOG_FILE, maxBytes=max_mb * 1024 * 1024, backupCount=backups, encoding="utf-8"
    )
    handlers.append(file_handler)
    if to_stderr:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler.setFormatter(formatter)
        logger.addHandler(handler)

    def remove() -> None:
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()

    return EventLog(logger), remove
