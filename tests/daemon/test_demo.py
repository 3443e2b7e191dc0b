"""`farmctl demo` runs without a terminal (CI), stops cleanly and says where the data is;
`farmctl doctor` and `farmctl status` work on the farm it leaves behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def farmctl(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "farmctl", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def test_demo_runs_non_interactively_then_status_and_doctor(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    result = farmctl("demo", "--printers", "3", "--speed", "100", "--duration", "8", "--no-watch", "--json",
                     "--home", str(home))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["home"] == str(home) and Path(summary["database"]).is_file()
    assert {job["file"] for job in summary["jobs"]} == {"cube25_cura.gcode", "spacer20_petg.gcode"}
    assert sum(summary["runs"].values()) >= 3  # every printer got work
    assert "printing" not in summary["runs"]  # Ctrl-C/--duration cancels, nothing left running
    assert str(home) in result.stderr and "Traceback" not in result.stderr
    log = (home / "logs" / "daemon.log").read_text()
    assert "event=run.started" in log and "event=daemon.stopped" in log

    status = farmctl("--home", str(home), "status", "--json")
    assert status.returncode == 0, status.stderr
    view = json.loads(status.stdout)
    assert view["daemons"] == [] and {p["id"] for p in view["printers"]} == {"ender-1", "mk3-1", "bigbox-1"}
    assert all(p["state"] == "offline" for p in view["printers"])

    doctor = farmctl("--home", str(home), "doctor", "--json")
    report = json.loads(doctor.stdout)
    by_name = {c["name"]: c for c in report["checks"]}
    assert by_name["database"]["status"] == "ok" and by_name["config"]["status"] == "ok"
    # The simulators are gone: their TCP ports refuse, and doctor says so with a non-zero exit.
    assert by_name["printer ender-1"]["status"] == "fail" and doctor.returncode == 1


def test_doctor_reports_a_broken_config_with_the_key(tmp_path: Path) -> None:
    (tmp_path / "farm.toml").write_text("[power]\nbudget_w = -5\n")
    doctor = farmctl("--home", str(tmp_path), "doctor")
    assert doctor.returncode == 1
    assert "budget_w" in doctor.stderr and "FAIL" in doctor.stderr


def test_daemon_config_file_errors_name_that_file(tmp_path: Path) -> None:
    config = tmp_path / "elsewhere.toml"
    config.write_text('[daemon]\non_stop = "explode"\n')
    result = farmctl("daemon", "--config", str(config), "--home", str(tmp_path / "home"), timeout=60)
    assert result.returncode != 0
    assert str(config) in result.stderr and "on_stop" in result.stderr and "Traceback" not in result.stderr
    missing = farmctl("daemon", "--config", str(tmp_path / "nope.toml"), "--home", str(tmp_path / "home"))
    assert missing.returncode != 0 and "no such file" in missing.stderr


def test_demo_again_on_the_same_home_resumes_its_order(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    args = ("demo", "--printers", "2", "--speed", "100", "--duration", "2", "--no-watch", "--json",
            "--home", str(home))
    first = farmctl(*args)
    assert first.returncode == 0, first.stderr
    jobs_before = {job["id"] for job in json.loads(first.stdout)["jobs"]}

    again = farmctl(*args)
    assert again.returncode == 0, again.stderr
    assert {job["id"] for job in json.loads(again.stdout)["jobs"]} == jobs_before  # nothing queued twice
    assert "already has the demo order o1" in again.stderr
    orders = farmctl("--home", str(home), "orders", "list", "--json")
    assert orders.returncode == 0, orders.stderr
    assert [order["id"] for order in json.loads(orders.stdout)] == ["o1"]


def _demo_in(tmp: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`farmctl demo` without --home, its temporary directories made under `tmp`."""
    import os

    environment = {**os.environ, "TMPDIR": str(tmp), **(env or {})}
    environment.pop("FARMCTL_HOME", None)
    return subprocess.run([sys.executable, "-m", "farmctl", "demo", "--no-watch", *args],
                          capture_output=True, text=True, timeout=120, env=environment)


def test_a_refused_demo_leaves_no_temporary_farm(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    for args in (("--printers", "0"), ("--printers", "101"), ("--speed", "0"), ("--duration", "-1")):
        result = _demo_in(scratch, *args)
        assert result.returncode == 1, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
        assert list(scratch.iterdir()) == [], args


def test_a_demo_whose_simulators_fail_removes_its_temporary_farm(tmp_path: Path) -> None:
    # A broken printer-sim install: `python -m printer_sim` exits at once without announcing printers.
    broken = tmp_path / "broken" / "printer_sim"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("")
    (broken / "__main__.py").write_text("import sys\nprint('printer_sim: broken install', file=sys.stderr)\n"
                                         "sys.exit(3)\n")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    result = _demo_in(scratch, "--printers", "1", env={"PYTHONPATH": str(broken.parent)})
    assert result.returncode == 1, result.stderr
    assert "did not start" in result.stderr and "Traceback" not in result.stderr
    assert "broken install" in result.stderr  # the simulator's own words, since its log is gone
    assert list(scratch.iterdir()) == []


def test_a_demo_copy_at_0_percent_shows_its_eta_at_the_demo_speed(tmp_path: Path) -> None:
    """Before a copy shows its pace, its ETA is the file's estimate at the simulators' speed: 41 min of
    real printing is under 3 min at --speed 15, not "ETA 41m03s" (issue 16)."""
    import re

    from farmctl.gcode import analyse_file
    from farmctl.samples import sample_path

    result = farmctl("demo", "--printers", "1", "--speed", "15", "--duration", "8", "--no-watch",
                     "--home", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stderr
    first = re.findall(r"ender-1 0% ETA (\d+)m(\d+)s", result.stderr)
    assert first, result.stderr  # ender-1 takes the first job: the 25 mm cube
    expected = analyse_file(sample_path("cube25_cura.gcode")).estimated_time_s / 15
    minutes, seconds = first[0]
    assert expected - 10 <= int(minutes) * 60 + int(seconds) <= expected + 1
