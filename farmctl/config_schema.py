"""The settings farm.toml may hold, one frozen dataclass per [section].

To add a section (e.g. [daemon], [mqtt], [power]): write a frozen dataclass whose fields have
defaults, and add it to `SECTIONS` under its TOML name. `farmctl.config` then parses, validates
and environment-overrides it (FARMCTL_<SECTION>_<KEY>) with no further code. Supported field
types: str, int, float, bool, list[str], dict[str, float] (a table of numbers), and the
scalars `| None`. Extra checks go in
`field(metadata=...)`: `choices` (allowed values), `min` / `max` (numbers), `help` (one line,
shown in errors and docs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from farmctl.daemon.settings import DaemonSettings, PowerSettings
from farmctl.records.settings import CostSettings
from farmctl.telemetry.settings import MqttSection

SCHEDULING_POLICIES = ("priority", "fifo", "edf", "shortest")


@dataclass(frozen=True)
class StoreSettings:
    """[store]: where the queue lives."""

    url: str | None = field(
        default=None,
        metadata={
            "help": "SQLAlchemy URL (e.g. postgresql+psycopg://host/db); default SQLite in the farm home"
        },
    )
    busy_timeout_ms: int = field(
        default=10_000, metadata={"min": 0, "help": "how long to wait for a locked database"}
    )


@dataclass(frozen=True)
class SchedulerSettings:
    """[scheduler]: how the queue is ordered and how failures are handled."""

    policy: str = field(default="priority", metadata={"choices": SCHEDULING_POLICIES})
    aging_s_per_hour: float = field(
        default=300.0,
        metadata={"min": 0, "help": "shortest-first: seconds of estimated duration forgiven per hour waited"},
    )
    max_retries: int = field(default=2, metadata={"min": 0, "help": "retries of a failed copy"})
    printer_failure_limit: int = field(
        default=3, metadata={"min": 1, "help": "consecutive failures that take a printer out of rotation"}
    )
    default_job_duration_s: int = field(
        default=3600, metadata={"min": 1, "help": "duration assumed for a file with no time estimate"}
    )


@dataclass(frozen=True)
class FilesSettings:
    """[files]: the content-addressed store of queued G-code."""

    max_file_mb: int = field(default=1024, metadata={"min": 1, "help": "largest G-code file accepted"})


# TOML section name -> settings class. Other areas append their own sections here.
SECTIONS: dict[str, type] = {
    "store": StoreSettings,
    "scheduler": SchedulerSettings,
    "files": FilesSettings,
    "daemon": DaemonSettings,
    "power": PowerSettings,
    "mqtt": MqttSection,
    "costs": CostSettings,
}
