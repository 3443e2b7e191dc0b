"""The settings farm.toml may hold, one frozen dataclass per [section].

Every section is declared here, at the bottom of the house, so that reading farm.toml needs no part
of the daemon or of MQTT (the checks a flat schema cannot make live with their users:
farmctl/telemetry/settings.py for [mqtt], farmctl/daemon/settings.py for [daemon] and [power]).

To add a section (e.g. [costs]): write a frozen dataclass whose fields have defaults, here, and add
it to `SECTIONS` under its TOML name. `farmctl.config` then parses, validates
and environment-overrides it (FARMCTL_<SECTION>_<KEY>) with no further code. Supported field
types: str, int, float, bool, list[str], dict[str, float] (a table of numbers), and the
scalars `| None`. Extra checks go in
`field(metadata=...)`: `choices` (allowed values), `min` / `max` (numbers), `help` (one line,
shown in errors and docs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from farmctl.scheduler.model import BedClear

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


BED_CLEAR_MODES = tuple(mode.value for mode in BedClear)
STOP_POLICIES = ("refuse", "wait", "pause", "cancel")


@dataclass(frozen=True)
class DaemonSettings:
    """[daemon]: how the daemon drives the farm."""

    bed_clear: str = field(
        default="manual",
        metadata={"choices": BED_CLEAR_MODES,
                  "help": "auto: no `printers clear` after a completed print (auto-eject); always: not "
                          "after a failed or cancelled one either (belt printers, simulators, CI)"},
    )
    on_stop: str = field(
        default="refuse",
        metadata={"choices": STOP_POLICIES, "help": "what SIGTERM/SIGINT does while prints are streaming"},
    )
    printers: list[str] = field(
        default_factory=list, metadata={"help": "only these printer ids (empty: all unowned)"}
    )
    poll_interval_s: float = field(
        default=0.1, metadata={"min": 0.01, "max": 5.0, "help": "event log check period (CLI work)"}
    )
    status_interval_s: float = field(
        default=1.0, metadata={"min": 0.1, "max": 60.0, "help": "live status save period"}
    )
    dispatch_interval_s: float = field(
        default=5.0, metadata={"min": 0.1, "help": "periodic dispatch pass (changes trigger one)"}
    )
    reconnect_min_s: float = field(default=1.0, metadata={"min": 0.01, "help": "first reconnect delay"})
    reconnect_max_s: float = field(default=60.0, metadata={"min": 0.1, "help": "largest reconnect delay"})
    lease_s: float = field(
        default=15.0, metadata={"min": 1.0, "help": "silent daemon's printers may be taken after"}
    )
    reconnect_window_s: float = field(
        default=600.0,
        metadata={"min": 1.0, "help": "a copy whose cable is out waits this long for the printer, then ends "
                  "interrupted (recoverable) and the heaters go off when it answers again"},
    )
    recovery_max_age_s: float = field(
        default=7200.0,
        metadata={"min": 60.0, "help": "`printers recover` refuses an interrupted copy older than this "
                  "(the part has likely come loose from the cold bed)"},
    )
    log_max_mb: int = field(default=10, metadata={"min": 1, "help": "size of one log file before rotating"})
    log_backups: int = field(default=5, metadata={"min": 0, "help": "rotated log files kept"})


@dataclass(frozen=True)
class PowerSettings:
    """[power]: the site's supply (the truck runs on a limited one)."""

    budget_w: float | None = field(
        default=None, metadata={"min": 1.0, "help": "watts heating printers may draw together"}
    )
    default_printer_w: float = field(
        default=350.0, metadata={"min": 1.0, "help": "heat-up draw of a printer with no power_w of its own"}
    )
    heat_timeout_s: float = field(
        default=1200.0, metadata={"min": 1.0, "help": "a heat-up longer than this is assumed to be over"}
    )


@dataclass(frozen=True)
class MqttSection:
    """[mqtt]: flat, simple types, env-overridable (`FARMCTL_MQTT_URL`, `FARMCTL_MQTT_PASSWORD` etc.
    work like every other setting). `farmctl.telemetry.settings.mqtt_settings(section, source)` does
    the checks a flat schema cannot (URL, files, combinations) and gives `MqttSettings`.
    """

    url: str | None = field(
        default=None, metadata={"help": "mqtt://host:1883 or mqtts://host:8883; unset = no MQTT"}
    )
    username: str | None = None
    password: str | None = field(default=None, repr=False, metadata={"help": "prefer password_file"})
    password_file: str | None = field(default=None, metadata={"help": "file holding the broker password"})
    ca_file: str | None = field(
        default=None, metadata={"help": "CA bundle for mqtts:// (default: system CAs)"}
    )
    client_cert: str | None = None
    client_key: str | None = None
    site: str | None = field(
        default=None, metadata={"help": "topic level for this site; default: [sync] site, else host name"}
    )
    topic_prefix: str = "farm"
    client_id: str | None = field(
        default=None, metadata={"help": "client id prefix; a unique suffix is added"}
    )
    qos_state: int = field(default=1, metadata={"choices": (0, 1, 2)})
    qos_telemetry: int = field(default=0, metadata={"choices": (0, 1, 2)})
    qos_events: int = field(default=1, metadata={"choices": (0, 1, 2)})
    qos_commands: int = field(default=1, metadata={"choices": (0, 1, 2)})
    telemetry_interval_s: float = field(default=2.0, metadata={"min": 0.1, "help": "per printer, at most"})
    telemetry_expiry_s: int = field(default=120, metadata={"min": 1, "help": "MQTT 5 expiry of telemetry"})
    keepalive_s: int = field(default=30, metadata={"min": 5})
    commands_enabled: bool = field(default=False, metadata={"help": "accept pause/resume/cancel over MQTT"})
    command_max_age_s: float = field(default=300.0, metadata={"min": 1.0})
    homeassistant_discovery: bool = True
    homeassistant_prefix: str = "homeassistant"
    event_buffer: int = field(default=1000, metadata={"min": 1, "help": "events kept while disconnected"})
    reconnect_min_s: float = field(default=1.0, metadata={"min": 0.05})
    reconnect_max_s: float = field(default=60.0, metadata={"min": 0.05})


# [costs]: prices for quotes, order reports and statistics (used by farmctl/records/; docs/records.md).
# Every price is optional: one not set is reported as missing where needed, never invented.


def _table(help_text: str) -> dict[str, object]:
    return {"min": 0.0, "help": help_text}


@dataclass(frozen=True)
class CostSettings:
    """[costs]: prices for quotes, order reports and statistics."""

    currency: str = field(default="EUR", metadata={"help": "currency code printed with every price"})
    material_per_kg: dict[str, float] = field(
        default_factory=dict, metadata=_table("price per kg of filament, per material: { PLA = 22.0 }")
    )
    material_per_kg_by_printer: dict[str, float] = field(
        default_factory=dict,
        metadata=_table("price per kg of the spool a printer has loaded, overriding material_per_kg"),
    )
    machine_per_hour: float | None = field(
        default=None, metadata={"min": 0.0, "help": "machine rate per printing hour, any printer"}
    )
    machine_per_hour_by_profile: dict[str, float] = field(
        default_factory=dict, metadata=_table("machine rate per hour per printer profile (prusa-mk3s, ...)")
    )
    machine_per_hour_by_printer: dict[str, float] = field(
        default_factory=dict, metadata=_table("machine rate per hour per printer id (wins over the profile)")
    )
    energy_per_kwh: float | None = field(
        default=None, metadata={"min": 0.0, "help": "electricity price per kWh"}
    )
    printing_w: float | None = field(
        default=None,
        metadata={
            "min": 0.0,
            "help": "average draw while printing of a printer with no power_w (default: [power] "
            "default_printer_w)",
        },
    )
    printing_w_by_profile: dict[str, float] = field(
        default_factory=dict, metadata=_table("average draw while printing per printer profile, watts")
    )
    labour_per_copy: float | None = field(
        default=None, metadata={"min": 0.0, "help": "labour per printed copy or attempt (setup, bed clear)"}
    )
    margin: float = field(default=0.0, metadata={"min": 0.0, "help": "quote margin over cost: 0.25 = 25 %"})
    density_g_cm3: dict[str, float] = field(
        default_factory=dict,
        metadata=_table("filament density per material, over the built-in table (PLA 1.24, PETG 1.27, ...)"),
    )
    filament_diameter_mm: float = field(
        default=1.75, metadata={"min": 0.1, "help": "filament diameter, to turn millimetres into grams"}
    )


@dataclass(frozen=True)
class HttpSettings:
    """[http]: the HTTP server (slicer uploads, REST API, dashboard); see docs/web.md."""

    enabled: bool = field(default=False, metadata={"help": "`farmctl daemon` serves HTTP too"})
    host: str = field(default="127.0.0.1", metadata={"help": "address to bind; others need an API key"})
    port: int = field(default=5000, metadata={"min": 0, "max": 65535, "help": "TCP port (0: any free one)"})
    open_dashboard: bool = field(
        default=False, metadata={"help": "the dashboard needs no read key (a trusted LAN only)"}
    )
    mdns: bool = field(
        default=True,
        metadata={"help": "announce _octoprint._tcp on the LAN (only when bound beyond loopback)"},
    )


@dataclass(frozen=True)
class SyncSettings:
    """[sync]: this farm home's site name and the central farm it syncs with (docs/sync.md)."""

    site: str | None = field(
        default=None,
        metadata={
            "help": "this site's name, e.g. truck-1 (default: the host name); MQTT's too unless [mqtt] site"
        },
    )
    central: str | None = field(
        default=None,
        metadata={"help": "the central farm's database, postgresql+psycopg://...; unset: this is the centre"},
    )
    interval_s: float = field(
        default=300.0, metadata={"min": 10.0, "help": "the daemon syncs this often while the centre answers"}
    )


# TOML section name -> settings class. Other areas append their own sections here.
SECTIONS: dict[str, type] = {
    "store": StoreSettings,
    "scheduler": SchedulerSettings,
    "files": FilesSettings,
    "daemon": DaemonSettings,
    "power": PowerSettings,
    "mqtt": MqttSection,
    "costs": CostSettings,
    "http": HttpSettings,
    "sync": SyncSettings,
}
