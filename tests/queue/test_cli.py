"""The queue commands end to end, with a temporary farm home and real corpus G-code."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from farmctl.app.farm import open_store
from tests.queue.conftest import Result
from tests.support.claims import claim_next

CORPUS = Path("/work/shared/corpus")
CUBE = CORPUS / "ps25_mk3s_cube25_0.20q.gcode"
VASE = CORPUS / "cura413_ender3_starvase_spiral_0.20std.gcode"
FARMCTL = Path(sys.executable).parent / "farmctl"


def _one_line_error(result: Result, *needles: str) -> None:
    assert result.code != 0, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("farmctl: error: "), result.err
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def printers(farm):  # type: ignore[no-untyped-def]
    assert (
        farm(
            "printers",
            "add",
            "mk3",
            "--port",
            "socket://127.0.0.1:5001",
            "--material",
            "PLA",
            "--profile",
            "prusa-mk3s",
            "--nozzle",
            "0.4",
        ).code
        == 0
    )
    assert (
        farm(
            "printers",
            "add",
            "op1",
            "--octoprint",
            "http://octopi.local",
            "--api-key",
            "TOPSECRET123",
            "--no-verify",  # no OctoPrint here: tests/octoprint/test_cli_add.py checks verification
            "--bed",
            "220x220x250",
            "--material",
            "PETG",
            "--tag",
            "enclosure",
            "--tag",
            "fast",
        ).code
        == 0
    )
    return farm


def test_printers_listing_masks_the_api_key(printers) -> None:  # type: ignore[no-untyped-def]
    listed = printers("printers", "list", "--json")
    assert listed.code == 0 and "TOPSECRET" not in listed.out + listed.err
    by_id = {p["id"]: p for p in listed.json()}
    assert by_id["op1"]["api_key"] == "********" and by_id["op1"]["tags"] == ["enclosure", "fast"]
    assert by_id["mk3"]["bed_mm"] == [250, 210, 210]  # from the profile
    assert "TOPSECRET" not in printers("printers", "show", "op1").out
    assert "TOPSECRET" not in printers("printers", "list").out


def test_api_key_from_file(farm, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    key = tmp_path / "key.txt"
    key.write_text("FILEKEY999\n")
    added = farm(
        "printers", "add", "op2", "--octoprint", "http://x", "--api-key-file", str(key), "--no-verify"
    )
    assert added.code == 0
    assert farm("printers", "show", "op2", "--json").json()["api_key"] == "********"


def test_printer_lifecycle(printers) -> None:  # type: ignore[no-untyped-def]
    assert printers("printers", "set", "mk3", "--material", "PETG", "--color", "black").code == 0
    shown = printers("printers", "show", "mk3", "--json").json()
    assert (shown["material"], shown["color"]) == ("PETG", "black")
    assert printers("printers", "disable", "mk3").code == 0
    assert printers("printers", "show", "mk3", "--json").json()["enabled"] is False
    assert printers("printers", "enable", "mk3").code == 0
    assert printers("printers", "clear", "mk3").code == 0
    assert printers("printers", "remove", "op1").code == 0
    assert [p["id"] for p in printers("printers", "list", "--json").json()] == ["mk3"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("printers", "add", "mk3", "--port", "loop://"), "already exists"),
        (("printers", "add", "new", "--port", "loop://", "--octoprint", "http://y"), "exactly one of"),
        (("printers", "add", "new", "--octoprint", "http://y"), "needs --api-key"),
        (("printers", "add", "new", "--port", "loop://", "--bed", "200x200"), "not a build volume"),
        (("printers", "add", "new", "--port", "loop://", "--bed-clear", "sometimes"),
         "manual, auto or always"),
        (("printers", "add", "new", "--port", "loop://", "--profile", "nonexistent"), "no printer profile"),
        (("printers", "show", "ghost"), "no printer ghost"),
        (("printers", "set", "ghost", "--material", "PLA"), "no printer ghost"),
        (("orders", "show", "o42"), "no order o42"),
        (("orders", "show", "banana"), "'banana' is not an order id"),
        (("jobs", "show", "banana"), "'banana' is not a job id"),
        (("jobs", "list", "--page", "0"), "--page must be 1 or more"),
        (("jobs", "list", "--limit", "0"), "--limit must be 1 or more"),
        (("jobs", "list", "--offset", "-1"), "--offset must be 0 or more"),
        (("orders", "add", "--customer", "X", "--due", "2020-01-01"), "in the past"),
        (("orders", "add", "--customer", "X", "--due", "next tuesday"), "cannot read due date"),
        (("orders", "add", "--customer", "X", "--due", "+1d", "--priority", "999"), "between -100 and 100"),
        (("jobs", "show", "j999"), "no job j999"),
        (("jobs", "cancel", "j999"), "no job j999"),
        (("jobs", "list", "--state", "sleeping"), "unknown state"),
        (("jobs", "add", str(CUBE), "--order", "o9"), "no order o9"),
        (("jobs", "add", str(CUBE), "--printer", "ghost"), "no printer ghost"),
        (("jobs", "add", str(CUBE), "--due", "2001-02-03T04:05"), "in the past"),
        (("jobs", "add", "/nonexistent/part.gcode"), "no such file"),
        (("jobs", "add", str(CUBE), "--copies", "0"), "at least 1"),
        (("jobs", "list", "--order", "o99"), "no order o99"),
        (("printers", "add", "new", "--port", "socket://127.0.0.1:5001"), "printer mk3 already uses port"),
        (("printers", "set", "mk3", "--port", "loop://"), None),
        (("printers", "add", "new", "--port", "notaport"), "not a device path or port URL"),
        (("printers", "add", "new", "--port", "socket://127.0.0.1"), "needs a host and a port"),
        (("printers", "add", "new", "--port", "ftp://x"), "unknown scheme"),
        (
            ("printers", "add", "new", "--octoprint", "notaurl", "--api-key", "k" * 20, "--no-verify"),
            "not an OctoPrint URL",
        ),
    ],
)
def test_bad_input_gives_one_clear_line(printers, args: tuple[str, ...], needle: str | None) -> None:  # type: ignore[no-untyped-def]
    if needle is None:  # accepted
        assert printers(*args).code == 0
        return
    _one_line_error(printers(*args), needle)


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("printers", "set", "mk3"),
         "nothing to set; give e.g. --material PETG (see `farmctl printers set --help`)"),
        (("printers", "set", "mk3", "--nozzle", "9"),
         "--nozzle 9.0 mm is not a nozzle diameter (expected 0.05..3)"),
        (("printers", "set", "mk3", "--bed", "200x200"),
         "--bed '200x200' is not a build volume; use XxYxZ in mm, e.g. 220x220x250"),
        (("printers", "set", "mk3", "--bed-clear", "sometimes"),
         "--bed-clear must be manual, auto or always (got 'sometimes')"),
        (("printers", "set", "mk3", "--power-w", "-1"), "--power-w cannot be negative"),
        (("printers", "set", "mk3", "--material", " "), "--material cannot be empty"),
        (("printers", "set", "mk3", "--api-key", "k", "--api-key-file", "/nonexistent"),
         "give --api-key or --api-key-file, not both"),
        (("orders", "add", "--customer", " ", "--due", "+1d"), "an order needs a customer (--customer NAME)"),
    ],
)
def test_refused_settings_are_worded_with_the_clis_options(  # type: ignore[no-untyped-def]
    printers, args: tuple[str, ...], line: str
) -> None:
    # The use cases name the settings as data (errors.BadValue); the CLI says them as its options.
    _one_line_error(printers(*args), f"farmctl: error: {line}")


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "empty"),
        (bytes(range(256)) * 40, "binary"),
        (b"Dear customer,\nhere is the quote you asked for.\nRegards\n" * 20, "G-code"),
        # Analysed fine, but no firmware could be sent them (the pre-flight, made when queueing):
        (b"G28\nG1 X10 Y10\n" * 20 + "M117 Grüße\n".encode(), "bad.gcode:41: non-ASCII character 'ü'"),
        (b"G28\nG1 X10 Y10\n" * 20 + b"M117 " + b"x" * 85 + b"\n", "bad.gcode:41: command is 90 bytes"),
    ],
)
def test_bad_files_are_refused_and_nothing_is_queued(  # type: ignore[no-untyped-def]
    printers, home: Path, tmp_path: Path, content: bytes, needle: str
) -> None:
    bad = tmp_path / "bad.gcode"
    bad.write_bytes(content)
    result = printers("jobs", "add", str(CUBE), str(bad))
    _one_line_error(result, "bad.gcode")
    assert needle.lower() in result.err.lower()
    assert printers("jobs", "list", "--json").json() == []
    assert not (home / "files").exists() or not any(p.is_file() for p in (home / "files").rglob("*"))


def test_part_too_big_for_every_printer(farm) -> None:  # type: ignore[no-untyped-def]
    assert farm("printers", "add", "tiny", "--port", "loop://", "--bed", "60x60x60").code == 0
    _one_line_error(farm("jobs", "add", str(CUBE)), "too big for every printer", "tiny 60x60x60")


def test_order_jobs_schedule_flow(printers, home: Path) -> None:  # type: ignore[no-untyped-def]
    order = printers(
        "orders",
        "add",
        "--customer",
        "ACME",
        "--project",
        "Bracket",
        "--due",
        "+2d",
        "--priority",
        "high",
        "--json",
    )
    assert order.code == 0 and order.json()["id"] == "o1"
    added = printers("jobs", "add", str(CUBE), str(VASE), "--order", "o1", "--copies", "2", "--json")
    assert added.code == 0, added.err
    jobs = added.json()
    assert [j["id"] for j in jobs] == ["j1", "j2"]
    for job in jobs:
        for key in (
            "id",
            "file",
            "state",
            "copies",
            "copies_done",
            "priority",
            "due",
            "printer",
            "projected_finish",
            "at_risk",
            "at_risk_reason",
        ):
            assert key in job
        assert job["state"] == "queued" and job["copies"] == 2 and job["copies_done"] == 0
        assert job["priority"] == 10
        assert datetime.fromisoformat(job["due"]).tzinfo is not None
        assert datetime.fromisoformat(job["projected_finish"]).tzinfo is not None
        assert job["projected_finish"] is not None
    assert jobs[0]["estimated_duration_s"] > 60
    # The same file queued again is stored once.
    assert printers("jobs", "add", str(CUBE)).code == 0
    assert len([p for p in (home / "files").rglob("*.gcode")]) == 2

    listed = printers("jobs", "list", "--json", "--limit", "2", "--offset", "1")
    assert [j["id"] for j in listed.json()] == ["j2", "j3"]
    assert "of 3" in listed.err
    assert [j["id"] for j in printers("jobs", "list", "--json", "--limit", "2", "--page", "2").json()] == [
        "j3"
    ]
    assert [j["id"] for j in printers("jobs", "list", "--json", "--order", "o1").json()] == ["j1", "j2"]

    assert printers("jobs", "hold", "j1", "--json").json()[0]["state"] == "held"
    assert [j["id"] for j in printers("jobs", "list", "--state", "held", "--json").json()] == ["j1"]
    assert printers("jobs", "release", "j1", "--json").json()[0]["state"] == "queued"
    assert printers("jobs", "priority", "j3", "urgent", "--json").json()[0]["priority"] == 50
    assert printers("jobs", "cancel", "j3", "--json").json()[0]["state"] == "cancelled"
    assert printers("jobs", "retry", "j3", "--json").json()[0]["state"] == "queued"
    _one_line_error(printers("jobs", "release", "j3"), "cannot release job j3")

    shown = printers("jobs", "show", "j1", "--json").json()
    assert shown["order"] == "o1" and shown["runs"] == []
    orders = printers("orders", "list", "--json").json()
    assert orders[0]["copies"] == 4 and orders[0]["projected_finish"] is not None

    schedule = printers("schedule", "--json").json()
    segments = [s for p in schedule["printers"] for s in p["segments"]]
    assert len(segments) == 2 + 2 + 1  # every queued copy is placed on a printer
    assert {p["id"] for p in schedule["printers"]} == {"mk3", "op1"}
    chart = printers("schedule")
    assert chart.code == 0 and "mk3" in chart.out and "op1" in chart.out


def test_schedule_marks_at_risk_and_never_eligible(farm) -> None:  # type: ignore[no-untyped-def]
    assert (
        farm("printers", "add", "mk3", "--port", "loop://", "--material", "PLA", "--bed", "250x210x210").code
        == 0
    )
    assert farm("jobs", "add", str(CUBE), "--due", "+10m", "--copies", "3").code == 0
    assert farm("jobs", "add", str(CUBE), "--tag", "enclosure").code == 0
    schedule = farm("schedule", "--json").json()
    by_id = {j["id"]: j for j in schedule["jobs"]}
    assert by_id["j1"]["at_risk"] and "after its due date" in by_id["j1"]["at_risk_reason"]
    assert by_id["j2"]["never_eligible"] and "missing tag enclosure" in by_id["j2"]["at_risk_reason"]
    assert [u["job"] for u in schedule["unschedulable"]] == ["j2"]
    chart = farm("schedule")
    assert "at risk" in chart.out and "j1" in chart.out


def test_newer_database_from_the_cli(farm, home: Path) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    assert farm("orders", "list").code == 0
    with sqlite3.connect(home / "farm.db") as conn:
        conn.execute("UPDATE farmctl_schema SET version = 999")
    _one_line_error(farm("jobs", "list"), "newer farmctl")


def test_real_process_with_farmctl_home(home: Path) -> None:
    env = {**os.environ, "FARMCTL_HOME": str(home)}
    added = subprocess.run(
        [str(FARMCTL), "printers", "add", "p1", "--port", "loop://", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert added.returncode == 0, added.stderr
    listed = subprocess.run(
        [str(FARMCTL), "printers", "list", "--json"], env=env, capture_output=True, text=True
    )
    assert [p["id"] for p in json.loads(listed.stdout)] == ["p1"]
    bad = subprocess.run([str(FARMCTL), "jobs", "show", "j7"], env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and bad.stderr.strip() == "farmctl: error: no job j7; see `farmctl jobs list`"
    assert "Traceback" not in bad.stderr


def test_home_option_beats_environment_and_store_url_beats_home(tmp_path: Path) -> None:
    env_home, option_home, elsewhere = tmp_path / "env", tmp_path / "opt", tmp_path / "other.db"
    env = {**os.environ, "FARMCTL_HOME": str(env_home)}
    run = [str(FARMCTL), "--home", str(option_home), "orders", "add", "--customer", "X", "--due", "+1d"]
    assert subprocess.run(run, env=env, capture_output=True, text=True).returncode == 0
    assert (option_home / "farm.db").exists() and not env_home.exists()
    env["FARMCTL_STORE_URL"] = f"sqlite:///{elsewhere}"
    listed = subprocess.run(
        [str(FARMCTL), "orders", "list", "--json"], env=env, capture_output=True, text=True
    )
    assert listed.returncode == 0 and json.loads(listed.stdout) == [] and elsewhere.exists()


def test_file_larger_than_the_configured_limit(farm, home: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (home / "farm.toml").write_text("[files]\nmax_file_mb = 1\n")
    big = tmp_path / "big.gcode"
    big.write_text("G1 X10 Y10 E0.1\n" * 80_000)  # 1.3 MB
    _one_line_error(farm("jobs", "add", str(big)), "big.gcode", "larger than the limit of 1 MB")


def test_listing_follows_a_run_driven_through_the_store(printers, home: Path) -> None:  # type: ignore[no-untyped-def]

    assert printers("jobs", "add", str(CUBE), "--copies", "2", "--printer", "mk3").code == 0
    with open_store(home, actor="daemon") as store:  # what the daemon does
        run = claim_next(store, "mk3")
        assert run is not None
        store.record_progress(run.id, lines_acked=1200, lines_total=5000, resends=3)
    printing = printers("jobs", "list", "--json").json()[0]
    assert printing["state"] == "printing" and printing["printer"] == "mk3" and printing["copies_active"] == 1
    with open_store(home, actor="daemon") as store:
        store.finish_run(run.id, filament_mm=800.0)
    shown = printers("jobs", "show", "j1", "--json").json()
    assert shown["state"] == "queued" and shown["copies_done"] == 1
    assert [(r["id"], r["state"], r["resends"]) for r in shown["runs"]] == [("r1", "done", 3)]
    assert printers("printers", "show", "mk3", "--json").json()["bed_clear"] is False
    assert printers("printers", "clear", "mk3").code == 0
    assert printers("printers", "show", "mk3", "--json").json()["bed_clear"] is True


def test_holding_a_printing_job_keeps_it_shown_as_printing(farm, home: Path) -> None:  # type: ignore[no-untyped-def]

    assert farm("printers", "add", "p0", "--port", "loop://").code == 0
    assert farm("jobs", "add", str(CUBE), "--copies", "2").code == 0
    with open_store(home) as store:
        assert claim_next(store, "p0") is not None
    (held,) = farm("jobs", "hold", "j1", "--json").json()
    assert held["state"] == "printing" and held["held"] and held["copies_active"] == 1
    (listed,) = farm("jobs", "list", "--state", "printing", "--json").json()
    assert listed["id"] == "j1" and listed["projected_finish"] is not None  # the printing copy's end
    assert [s["job"] for p in farm("schedule", "--json").json()["printers"] for s in p["segments"]] == ["j1"]
    table = farm("jobs", "list", "--state", "printing")
    assert "printing (held)" in table.out
    (released,) = farm("jobs", "release", "j1", "--json").json()
    assert released["state"] == "printing" and not released["held"]


# How a projected finish is written in a job's message: as every screen writes times (cli/details.py
# `when`), "today 21:44 (in 45 min)", never the ISO time of --json.
FINISH = r"(today|\w{3} \w{3} \d\d) \d\d:\d\d \((in [^)]+|now)\)"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("hold", "j1"), "held, projected finish -  AT RISK: job j1 held: 1 copy waits for "
                         "farmctl jobs release j1"),
        (("release", "j1"), f"queued, projected finish {FINISH}"),
        (("priority", "j1", "high"), f"queued, projected finish {FINISH}"),
        (("cancel", "j1"), "cancelled, projected finish -"),
        (("move", "j1", "--site", "truck-1"), r"queued, reserved for site truck-1 \(printed there\)"),
    ],
)
def test_job_actions_say_what_they_did(printers, args: tuple[str, ...], said: str) -> None:  # type: ignore[no-untyped-def]
    """Each action prints the job as it now is: one line on stderr, nothing on stdout; `--json` the
    job's document in a list, as `jobs list --json` has it."""
    assert printers("jobs", "add", str(CUBE)).code == 0
    if args[0] == "release":
        assert printers("jobs", "hold", "j1").code == 0
    done = printers("jobs", *args)
    assert done.code == 0 and done.out == "", done
    assert re.fullmatch(rf"j1: {re.escape(CUBE.name)} x1 {said}", done.err.strip()), done.err
    if args[0] != "priority":  # the others cannot be repeated: the job is no longer in a state for them
        return
    (document,) = printers("jobs", *args, "--json").json()
    (listed,) = printers("jobs", "list", "--json").json()
    moving = ("projected_start", "projected_finish")  # computed at the time of asking
    assert document.keys() == listed.keys()
    assert {k: v for k, v in document.items() if k not in moving} == {
        k: v for k, v in listed.items() if k not in moving
    }


def test_retry_and_move_back_say_the_projected_finish(printers) -> None:  # type: ignore[no-untyped-def]
    assert printers("jobs", "add", str(CUBE), "--site", "truck-1").code == 0
    moved = printers("jobs", "move", "j1", "--site", "central")
    said = rf"j1: {re.escape(CUBE.name)} x1 queued, projected finish {FINISH}"
    assert re.fullmatch(said, moved.err.strip()), moved.err
    assert printers("jobs", "cancel", "j1").code == 0
    (retried,) = printers("jobs", "retry", "j1", "--json").json()
    assert retried["state"] == "queued" and retried["projected_finish"] is not None


def test_reading_a_farm_that_does_not_exist_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from farmctl.cli.main import main

    missing = tmp_path / "nonexistent" / "x" / "y"

    def run(*args: str) -> Result:
        monkeypatch.setattr(sys, "argv", ["farmctl", "--home", str(missing), *args])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    for args in (("printers", "list"), ("jobs", "list", "--json"), ("orders", "list"), ("schedule",),
                 ("printers", "clear", "p1"), ("status",)):
        result = run(*args)
        _one_line_error(result, f"no farm at {missing}", "farmctl printers add")
        assert result.code == 1 and result.out == ""
    assert not (tmp_path / "nonexistent").exists()
    assert run("printers", "add", "p1", "--port", "loop://").code == 0
    assert (missing / "farm.db").exists()
    assert run("printers", "list").code == 0


def test_json_listing_is_paged_and_all_gives_every_job(farm, home: Path) -> None:  # type: ignore[no-untyped-def]
    from farmctl.store import NewJob
    from tests.queue.conftest import fake_file

    infos = [fake_file(f"part{i}.gcode") for i in range(55)]
    with open_store(home) as store:
        store.add_jobs([NewJob(file_sha=i.sha256, name=i.name) for i in infos], infos)
    paged = farm("jobs", "list", "--json")
    assert len(paged.json()) == 50 and "jobs 1-50 of 55" in paged.err
    every = farm("jobs", "list", "--json", "--all")
    jobs = every.json()
    assert isinstance(jobs, list) and [j["id"] for j in jobs] == [f"j{n}" for n in range(1, 56)]
    assert "jobs 1-55 of 55" in every.err
    _one_line_error(farm("jobs", "list", "--all", "--page", "2"), "--all lists every job")
    assert "--all" in farm("jobs", "list", "--help").out
