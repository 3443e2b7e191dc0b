"""The `[mqtt]` section of farm.toml, parsed into one frozen `MqttSettings`.

The config loader calls `parse_mqtt_section(mapping, source)` with the section's table (or None when
the file has no `[mqtt]` section); every bad key is reported as a `ConfigError` naming the file and
key. Nothing here touches the network or imports paho, so the CLI can validate a config cheaply.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from farmctl.config import CONFIG_FILE_NAME, FarmConfig
from farmctl.config_schema import MqttSection, SyncSettings
from farmctl.errors import ConfigError

# Topic levels we generate must be safe in ACL patterns and `+` wildcards: lowercase, no spaces.
TOPIC_LEVEL = re.compile(r"^[a-z0-9_-]+$")
_PREFIX = re.compile(r"^[a-z0-9_-]+(/[a-z0-9_-]+)*$")

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
_QOS_DEFAULTS = {"state": 1, "telemetry": 0, "events": 1, "commands": 1}


@dataclass(frozen=True)
class QosPolicy:
    """QoS per message class: retained state, high-rate telemetry, events, command results."""

    state: int = 1
    telemetry: int = 0
    events: int = 1
    commands: int = 1


@dataclass(frozen=True)
class MqttSettings:
    """Everything the telemetry layer needs to reach a broker and name its topics."""

    host: str
    port: int
    tls: bool
    site: str
    topic_prefix: str = "farm"
    username: str | None = None
    # Kept out of repr so a settings object in a log or traceback never shows the secret.
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    client_id: str | None = None
    qos: QosPolicy = QosPolicy()
    telemetry_interval_s: float = 2.0
    telemetry_expiry_s: int = 120
    keepalive_s: int = 30
    commands_enabled: bool = False
    command_max_age_s: float = 300.0
    homeassistant_discovery: bool = True
    homeassistant_prefix: str = "homeassistant"
    event_buffer: int = 1000
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0

    @property
    def base_topic(self) -> str:
        """`farm/<site>`: every topic the daemon owns lives under it (one ACL line covers it)."""
        return f"{self.topic_prefix}/{self.site}"

    @property
    def url(self) -> str:
        """The broker address without credentials, safe to print."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


# One list of keys for both entry points, so the flat schema and the mapping parser cannot drift.
KNOWN_KEYS = frozenset(f.name for f in fields(MqttSection))


def mqtt_settings(section: MqttSection, source: str) -> MqttSettings | None:
    """Validate a loaded `MqttSection`; None means MQTT is off (no url and nothing else set)."""
    changed = {
        f.name: getattr(section, f.name) for f in fields(section) if getattr(section, f.name) != f.default
    }
    return parse_mqtt_section(changed, source)


def parse_mqtt_section(mapping: Mapping[str, Any] | None, source: str) -> MqttSettings | None:
    """Validate the `[mqtt]` table; None (no section, or no url) means telemetry is disabled.

    `source` names the file (or "environment") in error messages: "farm.toml: [mqtt].qos_state: ...".
    Relative certificate and password-file paths are resolved against the directory of `source`
    when it is a file path.
    """
    if mapping is None:
        return None
    reader = _SectionReader(mapping, source)
    reader.reject_unknown()
    url = reader.optional_str("url")
    if url is None:
        if len(mapping) > 0:
            raise reader.error("url", 'missing; set url = "mqtt://host:1883" or remove the [mqtt] section')
        return None
    scheme, host, port, url_user, url_password = _parse_url(url, reader)
    base_dir = Path(source).parent if source not in ("", "environment") else Path.cwd()

    username = reader.optional_str("username") or url_user
    password = reader.optional_str("password")
    password_file = reader.optional_path("password_file", base_dir)
    if password is not None and password_file is not None:
        raise reader.error("password", "set either password or password_file, not both")
    if password_file is not None:
        password = _read_password_file(password_file, reader)
    if password is None:
        password = url_password
    if password is not None and username is None:
        raise reader.error("username", "a password is configured but no username")

    tls = scheme == "mqtts"
    ca_file = reader.optional_path("ca_file", base_dir, must_exist=True)
    client_cert = reader.optional_path("client_cert", base_dir, must_exist=True)
    client_key = reader.optional_path("client_key", base_dir, must_exist=True)
    if not tls:
        for key, value in (("ca_file", ca_file), ("client_cert", client_cert), ("client_key", client_key)):
            if value is not None:
                raise reader.error(key, "TLS files need an mqtts:// url")
    if client_key is not None and client_cert is None:
        raise reader.error("client_key", "a client key needs client_cert too")

    site = reader.optional_str("site") or _default_site()
    if not TOPIC_LEVEL.match(site):
        raise reader.error("site", f"{site!r} must be lowercase letters, digits, '_' or '-'")
    prefix = reader.optional_str("topic_prefix") or "farm"
    if not _PREFIX.match(prefix):
        raise reader.error("topic_prefix", f"{prefix!r} must be lowercase levels like 'farm' or 'plant/farm'")
    ha_prefix = reader.optional_str("homeassistant_prefix") or "homeassistant"
    if not _PREFIX.match(ha_prefix):
        raise reader.error("homeassistant_prefix", f"{ha_prefix!r} is not a valid topic prefix")

    reconnect_min = reader.number("reconnect_min_s", 1.0, minimum=0.05)
    reconnect_max = reader.number("reconnect_max_s", 60.0, minimum=reconnect_min)
    return MqttSettings(
        host=host,
        port=port,
        tls=tls,
        site=site,
        topic_prefix=prefix,
        username=username,
        password=password,
        ca_file=ca_file,
        client_cert=client_cert,
        client_key=client_key,
        client_id=reader.optional_str("client_id"),
        qos=QosPolicy(
            **{name: reader.qos(f"qos_{name}", default) for name, default in _QOS_DEFAULTS.items()}
        ),
        telemetry_interval_s=reader.number("telemetry_interval_s", 2.0, minimum=0.1),
        telemetry_expiry_s=int(reader.number("telemetry_expiry_s", 120, minimum=1)),
        keepalive_s=int(reader.number("keepalive_s", 30, minimum=5)),
        commands_enabled=reader.boolean("commands_enabled", False),
        command_max_age_s=reader.number("command_max_age_s", 300.0, minimum=1.0),
        homeassistant_discovery=reader.boolean("homeassistant_discovery", True),
        homeassistant_prefix=ha_prefix,
        event_buffer=int(reader.number("event_buffer", 1000, minimum=1)),
        reconnect_min_s=reconnect_min,
        reconnect_max_s=reconnect_max,
    )


def _default_site() -> str:
    # The hostname is stable per machine; normalise it into a valid topic level.
    name = re.sub(r"[^a-z0-9_-]+", "-", socket.gethostname().split(".")[0].lower()).strip("-")
    return name or "site"


def _parse_url(url: str, reader: _SectionReader) -> tuple[str, str, int, str | None, str | None]:
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS:
        raise reader.error("url", "must start with mqtt:// or mqtts://")
    if not parts.hostname:
        raise reader.error("url", "has no host name")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise reader.error("url", "must be mqtt[s]://host[:port] with no path or query")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise reader.error("url", "has an invalid port") from None
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return parts.scheme, parts.hostname, port, user, password


def parse_broker_url(url: str, source: str = "--mqtt", *, ca_file: str | None = None) -> MqttSettings:
    """Settings for a read-only follower (`farmctl watch --mqtt URL`): just the broker address.

    The site is irrelevant to a follower (it reads whatever `topic_prefix/<site>` it is told to).
    """
    mapping: dict[str, Any] = {"url": url, "site": "watch"}
    if ca_file is not None:
        mapping["ca_file"] = ca_file
    settings = parse_mqtt_section(mapping, source)
    assert settings is not None  # a url was given, so the section is enabled
    return settings


def _read_password_file(path: Path, reader: _SectionReader) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise reader.error("password_file", f"cannot read {path}: {exc.strerror}") from None
    if not text:
        raise reader.error("password_file", f"{path} is empty")
    return text


class _SectionReader:
    """Typed access to the section's values with errors that name file and key."""

    def __init__(self, mapping: Mapping[str, Any], source: str) -> None:
        self._mapping = mapping
        self._source = source

    def error(self, key: str, reason: str) -> ConfigError:
        return ConfigError(f"{self._source}: [mqtt].{key}: {reason}")

    def reject_unknown(self) -> None:
        for key in self._mapping:
            if key not in KNOWN_KEYS:
                raise self.error(str(key), f"unknown key; known keys: {', '.join(sorted(KNOWN_KEYS))}")

    def optional_str(self, key: str) -> str | None:
        value = self._mapping.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error(key, "must be a string")
        return value.strip() or None

    def optional_path(self, key: str, base_dir: Path, *, must_exist: bool = False) -> Path | None:
        value = self.optional_str(key)
        if value is None:
            return None
        path = Path(value).expanduser()
        if not path.is_absolute():
            path = base_dir / path
        if must_exist and not path.is_file():
            raise self.error(key, f"file {path} does not exist")
        return path

    def number(self, key: str, default: float, *, minimum: float) -> float:
        value = self._mapping.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, "must be a number")
        if value < minimum:
            raise self.error(key, f"must be at least {minimum:g}")
        return float(value)

    def qos(self, key: str, default: int) -> int:
        level = self._mapping.get(key, default)
        if isinstance(level, bool) or level not in (0, 1, 2):
            raise self.error(key, "must be 0, 1 or 2")
        return int(level)

    def boolean(self, key: str, default: bool) -> bool:
        value = self._mapping.get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, "must be true or false")
        return value


def settings_from(config: FarmConfig, home: Path) -> MqttSettings | None:
    """The farm's validated `[mqtt]` settings (None = MQTT off); errors name farm.toml and the key.

    The topics' site level: `[mqtt] site` when set, else `[sync] site` (the name the farm's records
    carry, docs/sync.md: a truck's MQTT and its synced records say the same `truck-1`), else the
    host name."""
    source = config.source or home / CONFIG_FILE_NAME
    section = config.section(MqttSection)
    if section.url is not None and section.site is None:  # no url: MQTT is off, whatever [sync] says
        named = config.section(SyncSettings).site
        if named is not None:
            site = named.strip().lower()
            if not TOPIC_LEVEL.match(site):
                raise ConfigError(
                    f"{source}: [sync].site: {named!r} cannot name MQTT topics (lowercase letters, digits, "
                    "'_' or '-'); set [mqtt] site to the topic level this site publishes under"
                )
            section = replace(section, site=site)
    return mqtt_settings(section, str(source))
