"""/api/v1/: the CLI's `--json` documents over HTTP, the verbs by scope, the OpenAPI document."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from farmctl.app.farm import open_store
from farmctl.store import PrinterSpec
from tests.web.conftest import Served, add_key, farmctl, start_server, without

PART = (Path(__file__).parent / "data" / "ps25_mk3s_cube25_3layers.gcode").read_bytes()
MOVING = ("projected_start", "projected_finish", "at")  # projections are computed at the time of asking


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, dict[str, str]]]:
    """One served farm for the module: a printer, an order, two jobs, keys of every scope."""
    home = tmp_path_factory.mktemp("api") / "farm"
    home.mkdir()
    with open_store(home) as store:
        store.add_printer(PrinterSpec(id="mk3", kind="serial", connection={"port": "socket://127.0.0.1:9"},
                                      material="PLA", nozzle_mm=0.4, bed_mm=(250, 210, 210)))
        store.add_order("ACME Pumps", due=store.now() + 7 * 86400)
    part = home.parent / "housing.gcode"
    part.write_bytes(PART)
    for extra in (("--order", "o1", "--copies", "2"), ("--priority", "high")):
        done = farmctl(home, "jobs", "add", str(part), *extra)
        assert done.returncode == 0, done.stderr
    keys = {scope: add_key(home, scope, scope) for scope in ("read", "upload", "control")}
    server = start_server(home)
    yield server, keys
    server.stop_clean()


def api(served: Served, key: str, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, served.url + "api/v1/" + path, headers={"X-Api-Key": key}, timeout=30,
                            **kwargs)


def cli(served: Served, *args: str) -> Any:
    done = farmctl(served.home, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def farmctl_error(served: Served, *args: str) -> str:
    """The one line the CLI says when it refuses `farmctl ARGS`, without its 'farmctl: error: '."""
    done = farmctl(served.home, *args)
    assert done.returncode != 0
    return done.stderr.strip().removeprefix("farmctl: error: ")


def steady(document: Any) -> Any:
    """The document without the keys that move with the clock."""
    return without(document, MOVING)


@pytest.mark.parametrize(
    ("path", "command"),
    [
        ("printers", ("printers", "list")),
        ("printers/mk3", ("printers", "show", "mk3")),
        ("orders", ("orders", "list")),
        ("orders/o1", ("orders", "show", "o1")),
        ("jobs", ("jobs", "list")),
        ("jobs/j1", ("jobs", "show", "j1")),
        ("jobs?order=o1", ("jobs", "list", "--order", "o1")),
    ],
)
def test_the_api_answers_what_the_cli_prints(
    farm: tuple[Served, dict[str, str]], path: str, command: tuple[str, ...]
) -> None:
    served, keys = farm
    answer = api(served, keys["read"], "GET", path)
    assert answer.status_code == 200, answer.text
    assert steady(answer.json()) == steady(cli(served, *command))


def test_status_runs_and_events(farm: tuple[Served, dict[str, str]]) -> None:
    served, keys = farm
    status = api(served, keys["read"], "GET", "status").json()
    assert [p["id"] for p in status["printers"]] == ["mk3"]
    assert steady(status)["printers"] == steady(cli(served, "status"))["printers"]
    assert api(served, keys["read"], "GET", "runs?job=j1").json() == []
    events = api(served, keys["read"], "GET", "events").json()
    assert {"printer.added", "order.added", "job.added"} <= {e["kind"] for e in events}
    later = api(served, keys["read"], "GET", f"events?since={events[-1]['id']}").json()
    assert later == []


def test_paging_says_how_many_match(farm: tuple[Served, dict[str, str]]) -> None:
    served, keys = farm
    page = api(served, keys["read"], "GET", "jobs?limit=1&offset=1")
    assert page.headers["X-Total-Count"] == "2" and [j["id"] for j in page.json()] == ["j2"]


def test_verbs_need_control_and_answer_like_the_cli(farm: tuple[Served, dict[str, str]]) -> None:
    served, keys = farm
    refused = api(served, keys["upload"], "POST", "jobs/j2/hold")
    assert refused.status_code == 403 and refused.json()["error"].endswith("this needs 'control' or above")
    held = api(served, keys["control"], "POST", "jobs/j2/hold")
    assert held.status_code == 200 and held.json()[0]["state"] == "held"
    listed = [j for j in cli(served, "jobs", "list") if j["id"] == "j2"]
    assert steady(held.json()) == steady(listed)  # the answer is `jobs hold j2 --json`'s document
    assert cli(served, "jobs", "show", "j2")["state"] == "held"
    released = api(served, keys["control"], "POST", "jobs/j2/release").json()
    assert released[0]["state"] == "queued"
    priority = api(served, keys["control"], "PUT", "jobs/j2/priority", json={"priority": "urgent"})
    assert priority.json()[0]["priority"] == 50
    assert steady(priority.json()) == steady(cli(served, "jobs", "priority", "j2", "urgent"))
    bad = api(served, keys["control"], "PUT", "jobs/j2/priority", json={"priority": "soonish"})
    said = farmctl_error(served, "jobs", "priority", "j2", "soonish")
    assert bad.status_code == 400 and bad.json() == {"error": said}
    no_daemon = api(served, keys["control"], "POST", "printers/mk3/pause")
    assert no_daemon.status_code == 409
    assert no_daemon.json() == {
        "error": "no running daemon drives printer mk3; start one with `farmctl daemon`"
    }


@pytest.mark.parametrize(
    ("method", "path", "status", "error"),
    [
        ("GET", "jobs/j99", 404, "no job j99"),
        ("GET", "jobs/x1", 400, "'x1' is not a job id"),
        ("GET", "orders/o9", 404, "no order o9"),
        ("GET", "printers/nope", 404, "no printer nope"),
        ("GET", "jobs?state=sleeping", 400, "unknown state 'sleeping'"),
        ("POST", "jobs/j1/explode", 404, "unknown job action 'explode'"),
        ("POST", "printers/mk3/explode", 404, "unknown printer verb 'explode'"),
    ],
)
def test_bad_requests_are_one_line_errors(
    farm: tuple[Served, dict[str, str]], method: str, path: str, status: int, error: str
) -> None:
    served, keys = farm
    answer = api(served, keys["control"], method, path)
    assert answer.status_code == status
    assert answer.json()["error"].startswith(error) and "\n" not in answer.json()["error"]


def test_queue_a_file_by_the_api(farm: tuple[Served, dict[str, str]]) -> None:
    served, keys = farm
    files = {"file": ("lid.gcode", PART)}
    data = {"order": "o1", "copies": "3", "priority": "low", "held": "true", "tags": "fast"}
    created = api(served, keys["upload"], "POST", "jobs", files=files, data=data)
    assert created.status_code == 201, created.text
    [job] = created.json()
    assert (job["file"], job["order"], job["copies"], job["priority"], job["state"], job["tags"]) == (
        "lid.gcode", "o1", 3, -10, "held", ["fast"],
    )
    assert job["material"] is None  # like `jobs add` without --material
    refused = api(served, keys["upload"], "POST", "jobs", files=files, data={"copies": "many"})
    assert refused.status_code == 400


def test_the_openapi_document_is_served(farm: tuple[Served, dict[str, str]]) -> None:
    served, _ = farm
    document = requests.get(served.url + "api/v1/openapi.json", timeout=10).json()
    assert {"/api/v1/jobs", "/api/v1/printers/{printer_id}/{verb}", "/api/files/{location}",
            "/server/files/upload"} <= set(document["paths"])


def test_a_job_another_site_owns_is_refused_in_the_apis_words(home: Path, served: Served) -> None:
    part = home.parent / "housing.gcode"
    part.write_bytes(PART)
    done = farmctl(home, "jobs", "add", str(part), "--site", "truck-1")
    assert done.returncode == 0, done.stderr
    key = add_key(home, "control", "control")
    refused = api(served, key, "POST", "jobs/j1/cancel")
    assert refused.status_code == 400
    # The store's refusal is typed; HTTP says the way out without a command line to type, the CLI with it.
    assert refused.json() == {
        "error": "cannot cancel job j1: it is reserved for site truck-1, which owns it; release it first by "
                 "moving it to site central"
    }
    assert farmctl_error(served, "jobs", "cancel", "j1") == (
        "cannot cancel job j1: it is reserved for site truck-1, which owns it; release it first with "
        "`farmctl jobs move j1 --site central`"
    )
