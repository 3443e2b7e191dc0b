"""`[mqtt]` parsing: defaults, TLS, credentials, and one clear error per bad key."""

from __future__ import annotations

from pathlib import Path

import pytest

from farmctl.errors import ConfigError
from farmctl.telemetry.settings import MqttSection, MqttSettings, mqtt_settings, parse_mqtt_section


def parse(mapping: dict[str, object] | None, tmp_path: Path) -> MqttSettings | None:
    return parse_mqtt_section(mapping, str(tmp_path / "farm.toml"))


def test_no_section_or_empty_section_means_disabled(tmp_path: Path) -> None:
    assert parse(None, tmp_path) is None
    assert parse({}, tmp_path) is None


def test_defaults_follow_the_reference_scheme(tmp_path: Path) -> None:
    settings = parse({"url": "mqtt://broker.plant", "site": "hall-a"}, tmp_path)
    assert settings is not None
    assert (settings.host, settings.port, settings.tls) == ("broker.plant", 1883, False)
    assert settings.base_topic == "farm/hall-a"
    assert (settings.qos.state, settings.qos.telemetry, settings.qos.events) == (1, 0, 1)
    assert settings.commands_enabled is False
    assert settings.url == "mqtt://broker.plant:1883"


def test_mqtts_with_files_and_password_file(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    (tmp_path / "secret").write_text("s3cret\n")
    settings = parse(
        {
            "url": "mqtts://b:9999",
            "site": "s",
            "username": "farmd",
            "password_file": "secret",
            "ca_file": "ca.pem",
        },
        tmp_path,
    )
    assert settings is not None
    assert settings.tls and settings.port == 9999
    assert settings.password == "s3cret"
    assert settings.ca_file == tmp_path / "ca.pem"
    assert "s3cret" not in repr(settings)


def test_credentials_in_the_url_are_used_but_never_shown(tmp_path: Path) -> None:
    settings = parse({"url": "mqtt://ha:p%40ss@b", "site": "s"}, tmp_path)
    assert settings is not None
    assert (settings.username, settings.password) == ("ha", "p@ss")
    assert "p@ss" not in settings.url and "p@ss" not in repr(settings)


def test_default_site_is_a_valid_topic_level(tmp_path: Path) -> None:
    settings = parse({"url": "mqtt://b"}, tmp_path)
    assert settings is not None
    assert settings.site and settings.site == settings.site.lower() and "/" not in settings.site


def test_qos_per_class(tmp_path: Path) -> None:
    settings = parse({"url": "mqtt://b", "site": "s", "qos_telemetry": 1, "qos_events": 2}, tmp_path)
    assert settings is not None
    assert (settings.qos.telemetry, settings.qos.events, settings.qos.state) == (1, 2, 1)


@pytest.mark.parametrize(
    ("mapping", "key"),
    [
        ({"url": "http://b"}, "url"),
        ({"url": "mqtt://"}, "url"),
        ({"url": "mqtt://b/path"}, "url"),
        ({"url": "mqtt://b:notaport"}, "url"),
        ({"site": "x"}, "url"),
        ({"url": "mqtt://b", "colour": "red"}, "colour"),
        ({"url": "mqtt://b", "site": "Hall A"}, "site"),
        ({"url": "mqtt://b", "topic_prefix": "/farm"}, "topic_prefix"),
        ({"url": "mqtt://b", "qos_state": 3}, "qos_state"),
        ({"url": "mqtt://b", "qos_events": True}, "qos_events"),
        ({"url": "mqtt://b", "qos": 1}, "qos"),
        ({"url": "mqtt://b", "telemetry_interval_s": "fast"}, "telemetry_interval_s"),
        ({"url": "mqtt://b", "telemetry_interval_s": 0}, "telemetry_interval_s"),
        ({"url": "mqtt://b", "commands_enabled": "yes"}, "commands_enabled"),
        ({"url": "mqtt://b", "password": "x"}, "username"),
        ({"url": "mqtt://b", "username": "u", "password": "x", "password_file": "f"}, "password"),
        ({"url": "mqtt://b", "username": "u", "password_file": "missing"}, "password_file"),
        ({"url": "mqtts://b", "ca_file": "missing.pem"}, "ca_file"),
        ({"url": "mqtt://b", "reconnect_min_s": 5, "reconnect_max_s": 1}, "reconnect_max_s"),
    ],
)
def test_bad_values_name_file_and_key(mapping: dict[str, object], key: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(mapping, tmp_path)
    message = caught.value.message
    assert message.startswith(f"{tmp_path / 'farm.toml'}: [mqtt].{key}:"), message
    assert "\n" not in message


def test_tls_files_need_mqtts(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    with pytest.raises(ConfigError, match=r"\[mqtt\]\.ca_file: TLS files need an mqtts:// url"):
        parse({"url": "mqtt://b", "ca_file": "ca.pem"}, tmp_path)


def test_password_never_in_error_messages(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse({"url": "mqtt://b", "password": "hunter2"}, tmp_path)
    assert "hunter2" not in caught.value.message


def test_flat_section_for_the_config_loader(tmp_path: Path) -> None:
    assert mqtt_settings(MqttSection(), str(tmp_path / "farm.toml")) is None  # nothing set: MQTT off
    section = MqttSection(url="mqtt://b:1884", site="s", qos_events=0, password="pw", username="u")
    assert "pw" not in repr(section)
    settings = mqtt_settings(section, str(tmp_path / "farm.toml"))
    assert settings is not None and settings.port == 1884 and settings.qos.events == 0
    with pytest.raises(ConfigError, match=r"\[mqtt\]\.url: missing"):
        mqtt_settings(MqttSection(site="s"), str(tmp_path / "farm.toml"))


def test_config_loader_reads_the_section_from_toml_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through farmctl.config.load_config, with the section registered as docs/mqtt.md says."""
    from farmctl.config import load_config
    from farmctl.config_schema import SECTIONS

    monkeypatch.setitem(SECTIONS, "mqtt", MqttSection)
    (tmp_path / "ca.pem").write_text("x")
    (tmp_path / "farm.toml").write_text(
        '[mqtt]\nurl = "mqtts://broker:8883"\nsite = "hall"\ncommands_enabled = true\nca_file = "ca.pem"\n'
    )
    environ = {
        "FARMCTL_MQTT_QOS_TELEMETRY": "1",
        "FARMCTL_MQTT_PASSWORD": "pw",
        "FARMCTL_MQTT_USERNAME": "farmd",
    }
    config = load_config(tmp_path, environ)
    settings = mqtt_settings(config.section(MqttSection), str(config.source))
    assert settings is not None
    assert (settings.site, settings.commands_enabled, settings.qos.telemetry, settings.password) == (
        "hall",
        True,
        1,
        "pw",
    )
    assert settings.ca_file == tmp_path / "ca.pem"  # relative to farm.toml
    assert mqtt_settings(load_config(tmp_path / "empty", {}).section(MqttSection), "farm.toml") is None


def test_reconnect_backoff_bounds_are_randomised_per_process(tmp_path: Path) -> None:
    import random

    from farmctl.telemetry.connection import reconnect_delays

    settings = parse({"url": "mqtt://b", "site": "s", "reconnect_min_s": 1, "reconnect_max_s": 60}, tmp_path)
    assert settings is not None
    bounds = {reconnect_delays(settings, random.Random(seed)) for seed in range(20)}
    assert len(bounds) == 20  # twenty daemons, twenty different schedules
    for low, high in bounds:
        assert 1.0 <= low <= 2.0 and 45.0 <= high <= 60.0


def test_watch_url_with_credentials_and_ca(tmp_path: Path) -> None:
    from farmctl.telemetry.settings import parse_broker_url

    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    settings = parse_broker_url("mqtts://viewer:pw@broker:8884", ca_file=str(ca))
    assert (settings.tls, settings.port, settings.username, settings.ca_file) == (True, 8884, "viewer", ca)
    with pytest.raises(ConfigError, match=r"--mqtt: \[mqtt\]\.url: must start with mqtt:// or mqtts://"):
        parse_broker_url("broker:1883")
