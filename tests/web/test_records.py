"""The records over HTTP (/api/v1/orders/ID/report, /api/v1/stats, /api/v1/quote): real requests to a
real `farmctl serve`, answered with the documents and files the CLI writes for the same farm."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pypdf import PdfReader

from farmctl.app.farm import open_store
from farmctl.samples import __file__ as samples_init
from farmctl.store import FileInfo, NewJob, PrinterSpec
from tests.support.claims import claim_next
from tests.web.conftest import Served, add_key, farmctl, start_server, without

DATA = Path(__file__).parent / "data"
PRUSA = (DATA / "ps25_mk3s_cube25_3layers.gcode").read_bytes()
CURA = (Path(samples_init).parent / "cube25_cura.gcode").read_bytes()
PRINTED_AT = 1_790_000_000.0  # 2026-09-21: the order's runs, on a clock of their own
WINDOW = ("2026-09-01T00:00:00+00:00", "2026-10-01T00:00:00+00:00")
MOVING = ("generated", "earliest_finish")  # computed at the time of asking


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, dict[str, str]]]:
    """A farm whose order o1 printed its part once after one failed attempt, with prices, served."""
    home = tmp_path_factory.mktemp("records") / "farm"
    home.mkdir()
    (home / "farm.toml").write_text(
        "[costs]\nmaterial_per_kg = { PLA = 20 }\nmachine_per_hour = 1.5\nenergy_per_kwh = 0.3\n"
        "labour_per_copy = 2\nmargin = 0.25\n"
    )
    clock = Clock(PRINTED_AT)
    with open_store(home, clock=clock) as store:
        store.add_printer(PrinterSpec(id="mk3", kind="serial", connection={"port": "socket://127.0.0.1:9"},
                                      material="PLA",
                                      nozzle_mm=0.4, bed_mm=(250, 210, 210)))
        order = store.add_order("ACME Pumps", due=clock.now + 86400, project="housings")
        info = FileInfo(sha256="a" * 64, size=10, name="gear.gcode", estimated_time_s=3600.0,
                        filament_mm=1000.0)
        store.add_jobs([NewJob(file_sha=info.sha256, name=info.name, copies=1, order_id=order.id,
                               material="PLA")], [info])
        for outcome in ("failed", "done"):
            run = claim_next(store, "mk3")
            assert run is not None
            clock.now += 1800
            store.record_progress(run.id, lines_acked=50, lines_total=100)
            if outcome == "failed":
                store.fail_run(run.id, "thermal runaway on T0")
            else:
                store.finish_run(run.id)
            store.confirm_bed_clear("mk3")
    keys = {scope: add_key(home, scope, scope) for scope in ("read", "upload")}
    server = start_server(home)
    yield server, keys
    server.stop_clean()


def get(served: Served, key: str | None, path: str, **params: str) -> requests.Response:
    headers = {"X-Api-Key": key} if key else {}
    return requests.get(served.url + "api/v1/" + path, headers=headers, params=params, timeout=60)


def cli(served: Served, *args: str) -> str:
    done = farmctl(served.home, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def steady(document: Any) -> Any:
    """The document without the keys that move with the clock."""
    return without(document, MOVING)


def test_the_report_is_the_clis_document(farm: tuple[Served, dict[str, str]]) -> None:
    served, keys = farm
    answer = get(served, keys["read"], "orders/o1/report")
    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert document["order"] == "o1" and document["jobs"][0]["attempts"] == 2
    assert document["total_cost"] is not None and document["missing_prices"] == []
    expected = json.loads(cli(served, "orders", "report", "o1", "--format", "json"))
    assert steady(document) == steady(expected)


def test_the_report_as_csv_html_and_pdf(farm: tuple[Served, dict[str, str]]) -> None:
    served, keys = farm
    csv = get(served, keys["read"], "orders/o1/report", format="csv")
    assert csv.status_code == 200 and csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert csv.text == cli(served, "orders", "report", "o1", "--format", "csv")
    assert csv.headers["content-disposition"] == 'inline; filename="o1-report.csv"'
    html = get(served, keys["read"], "orders/o1/report", format="html")
    assert html.headers["content-type"] == "text/html; charset=utf-8"
    assert "ACME Pumps" in html.text and "<svg" in html.text  # the timeline picture
    pdf = get(served, keys["read"], "orders/o1/report", format="pdf")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "ACME Pumps" in text and "thermal runaway" in text


def test_stats_over_a_window_are_the_clis_document(farm: tuple[Served, dict[str, str]]) -> None:
    served, keys = farm
    since, until = WINDOW
    answer = get(served, keys["read"], "stats", since=since, until=until)
    assert answer.status_code == 200, answer.text
    document = answer.json()
    [printer] = document["printers"]
    assert (printer["id"], printer["runs"], printer["done"], printer["failed"]) == ("mk3", 2, 1, 1)
    expected = json.loads(cli(served, "stats", "--since", since, "--until", until, "--json"))
    assert steady(document) == steady(expected)
    everything = get(served, keys["read"], "stats").json()
    assert everything["printers"][0]["runs"] == 2 and everything["since"] is None


@pytest.mark.parametrize(
    ("path", "params", "key", "status", "error"),
    [
        ("orders/o1/report", {"format": "docx"}, "read", 400, "format must be one of json, csv, html, pdf"),
        ("orders/o9/report", {}, "read", 404, "no order o9"),
        ("orders/nine/report", {}, "read", 400, "'nine' is not an order id"),
        ("orders/o1/report", {}, None, 401, ""),
        ("stats", {"since": "last tuesday"}, "read", 400, "cannot read since 'last tuesday'"),
        # the query's own parameters named, as `farmctl stats` names its options
        ("stats", {"since": "2026-12-05", "until": "2026-12-01"}, "read", 400, "since 2026-12-05T00:00:00"),
        ("stats", {}, None, 401, ""),
    ],
)
def test_bad_report_and_stats_requests_are_one_line(
    farm: tuple[Served, dict[str, str]], path: str, params: dict[str, str], key: str | None, status: int,
    error: str,
) -> None:
    served, keys = farm
    answer = get(served, keys[key] if key else None, path, **params)
    assert answer.status_code == status, answer.text
    said = answer.json()["error"]
    assert said.startswith(error) and "\n" not in said
    if status != 401:  # (keys are made with `farmctl keys add`, and a 401 says so)
        assert "--" not in said  # no command-line option: an HTTP client passes none


def quote(served: Served, key: str, files: list[tuple[str, bytes]], **fields: str) -> requests.Response:
    """Multipart, the fields as parts too (a form of fields alone stays multipart)."""
    parts: list[tuple[str, Any]] = [
        ("file", (name, content, "application/octet-stream")) for name, content in files
    ]
    parts += [(name, (None, value)) for name, value in fields.items()]
    return requests.post(served.url + "api/v1/quote", headers={"X-Api-Key": key}, files=parts, timeout=60)


def test_a_quote_of_uploaded_files_is_the_clis_and_queues_nothing(
    farm: tuple[Served, dict[str, str]], tmp_path: Path
) -> None:
    served, keys = farm
    answer = quote(served, keys["upload"], [("cube.gcode", PRUSA), ("spacer.gcode", CURA)], copies="2",
                   due="+3d", material="PLA")
    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert [p["file"] for p in document["parts"]] == ["cube.gcode", "spacer.gcode"]
    assert document["parts"][0]["copies"] == 2 and document["price"] is not None
    assert document["earliest_finish"] is not None and document["meets_due"] is True
    (tmp_path / "cube.gcode").write_bytes(PRUSA)
    (tmp_path / "spacer.gcode").write_bytes(CURA)
    expected = json.loads(cli(served, "quote", str(tmp_path / "cube.gcode"), str(tmp_path / "spacer.gcode"),
                              "--copies", "2", "--due", "+3d", "--material", "PLA", "--json"))
    assert steady({k: v for k, v in document.items() if k != "due"}) == steady(
        {k: v for k, v in expected.items() if k != "due"}
    )
    listed = json.loads(cli(served, "jobs", "list", "--all", "--json"))
    assert [j["file"] for j in listed] == ["gear.gcode"]  # the order's part only: nothing queued


@pytest.mark.parametrize(
    ("key", "files", "fields", "status", "error"),
    [
        ("read", [("cube.gcode", PRUSA)], {}, 403, ""),
        ("upload", [("cube.stl", b"solid cube\nendsolid\n")], {}, 415, "cube.stl: an .stl model"),
        ("upload", [("cube.gcode", bytes(range(256)) * 64)], {}, 400, "cube.gcode is a binary file"),
        ("upload", [("cube.gcode", PRUSA)], {"copies": "0"}, 400, "copies must be at least 1"),
        ("upload", [("cube.gcode", PRUSA)], {"copies": "two"}, 400, "copies must be a whole number"),
        ("upload", [], {"copies": "1"}, 400, "send the G-code as one or more multipart parts 'file'"),
    ],
)
def test_a_refused_quote_is_one_line(
    farm: tuple[Served, dict[str, str]], key: str, files: list[tuple[str, bytes]], fields: dict[str, str],
    status: int, error: str,
) -> None:
    served, keys = farm
    answer = quote(served, keys[key], files, **fields)
    assert answer.status_code == status, answer.text
    said = answer.json()["error"]
    assert said.startswith(error) and "\n" not in said and "spool" not in said
