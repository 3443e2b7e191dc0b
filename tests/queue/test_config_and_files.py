"""farm.toml loading, farm home resolution, and the content-addressed file store."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import pytest

from farmctl.config import load_config
from farmctl.config_schema import SchedulerSettings, StoreSettings
from farmctl.errors import ConfigError, UserError
from farmctl.files import FileStore
from farmctl.home import resolve_home


def test_home_resolution_order(tmp_path: Path) -> None:
    assert resolve_home(tmp_path / "a", {"FARMCTL_HOME": str(tmp_path / "b")}) == tmp_path / "a"
    assert resolve_home(None, {"FARMCTL_HOME": str(tmp_path / "b")}) == tmp_path / "b"
    default = resolve_home(None, {})
    assert default.name == "farmctl" and default.is_absolute()


def test_defaults_without_a_file(tmp_path: Path) -> None:
    config = load_config(tmp_path, {})
    assert config.source is None
    assert config.section(StoreSettings) == StoreSettings()
    assert config.section(SchedulerSettings).policy == "priority"


def test_file_then_environment_override(tmp_path: Path) -> None:
    (tmp_path / "farm.toml").write_text(
        '[scheduler]\npolicy = "edf"\nmax_retries = 4\n[store]\nbusy_timeout_ms = 50\n'
    )
    env = {"FARMCTL_SCHEDULER_POLICY": "fifo", "FARMCTL_STORE_URL": "postgresql+psycopg://db/farm"}
    config = load_config(tmp_path, env)
    scheduler = config.section(SchedulerSettings)
    assert (scheduler.policy, scheduler.max_retries) == ("fifo", 4)
    assert config.section(StoreSettings) == StoreSettings(
        url="postgresql+psycopg://db/farm", busy_timeout_ms=50
    )


@pytest.mark.parametrize(
    ("toml", "env", "expected"),
    [
        ("[store]\nbogus = 1\n", {}, "[store] bogus: unknown key"),
        ("[nonsense]\nx = 1\n", {}, "[nonsense]: unknown section"),
        ('[store]\nbusy_timeout_ms = "soon"\n', {}, "[store] busy_timeout_ms: expected int"),
        ('[scheduler]\npolicy = "random"\n', {}, "must be one of priority, fifo, edf, shortest"),
        ("[scheduler]\nmax_retries = -1\n", {}, "must be at least 0"),
        ("[store\n", {}, "not valid TOML"),
        (
            "",
            {"FARMCTL_STORE_BUSY_TIMEOUT_MS": "abc"},
            "environment FARMCTL_STORE_BUSY_TIMEOUT_MS: expected an integer",
        ),
        ("", {"FARMCTL_SCHEDULER_COLOR": "x"}, "unknown setting [scheduler] color"),
    ],
)
def test_bad_settings_name_file_key_and_reason(
    tmp_path: Path, toml: str, env: dict[str, str], expected: str
) -> None:
    (tmp_path / "farm.toml").write_text(toml)
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, env)
    assert expected in caught.value.message
    if not env:
        assert str(tmp_path / "farm.toml") in caught.value.message


def test_a_file_given_instead_of_the_homes_is_read_and_named(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "farm.toml").write_text('[scheduler]\npolicy = "edf"\n')  # not read: another file is given
    given = tmp_path / "elsewhere.toml"
    given.write_text('[scheduler]\npolicy = "fifo"\n')
    config = load_config(home, {}, file=given)
    assert (config.home, config.source) == (home, given)
    assert config.section(SchedulerSettings).policy == "fifo"
    given.write_text('[scheduler]\npolicy = "soonest"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(home, {}, file=given)
    assert caught.value.message.startswith(f"{given}: [scheduler] policy: must be one of")
    given.write_text("[scheduler\n")
    with pytest.raises(ConfigError, match=f"^{re.escape(str(given))}: not valid TOML"):
        load_config(home, {}, file=given)


def test_unrelated_farmctl_variables_are_ignored(tmp_path: Path) -> None:
    load_config(tmp_path, {"FARMCTL_HOME": "/x", "FARMCTL_DEBUG": "1"})


def test_same_content_stored_once_and_survives_the_original(tmp_path: Path) -> None:
    files = FileStore(tmp_path / "store")
    first, second = tmp_path / "a.gcode", tmp_path / "b.gcode"
    first.write_text("G28\nG1 X10\n")
    second.write_text("G28\nG1 X10\n")
    kept_a, kept_b = files.put(first), files.put(second)
    assert kept_a == kept_b and kept_a.path.read_text() == "G28\nG1 X10\n"
    first.unlink()
    second.write_text("changed")
    assert kept_a.path.read_text() == "G28\nG1 X10\n"
    assert [p.name for p in (tmp_path / "store").rglob("*") if p.is_file()] == [kept_a.path.name]


def test_disk_full_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = FileStore(tmp_path / "store")
    source = tmp_path / "a.gcode"
    source.write_text("G28\n" * 1000)

    def full(_fd: int) -> None:  # the kernel reports ENOSPC when the data reaches the disk
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(UserError, match="disk full"):
        files.put(source)
    assert [p for p in (tmp_path / "store").rglob("*") if p.is_file()] == []
