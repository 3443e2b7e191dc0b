"""What `farmctl sync` prints for people: counts in words a technician reads aloud."""

from __future__ import annotations

from farmctl.sync.report import SyncReport


def test_the_lines_say_one_job_and_two_runs() -> None:
    report = SyncReport(site="truck-1", central="postgresql+psycopg://farm:***@central/farm")
    report.pulled_jobs = ["central/j41"]
    report.pulled_orders, report.pulled_files = 1, 2
    report.pushed["runs"], report.pushed["events"] = 2, 1
    assert report.lines() == [
        "truck-1 synced with postgresql+psycopg://farm:***@central/farm",
        "pulled 1 job (central/j41), 1 order, 2 files",
        "pushed 2 runs, 1 event",  # in the order pushed: orders, jobs, runs, events, printers
    ]


def test_nothing_new_says_so() -> None:
    report = SyncReport(site="truck-1", central="sqlite:///x")
    assert report.lines()[1:] == ["pulled nothing new", "pushed nothing new"]
