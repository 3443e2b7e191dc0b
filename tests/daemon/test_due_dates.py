"""The live view's times say which day they are on when it is not today (issue 18.4): a due date of
tomorrow shown as a bare time reads as "in a few hours"."""

from __future__ import annotations

import time
from datetime import datetime

from rich.console import Console

from farmctl.app.status import FarmView, OrderAtRisk
from farmctl.cli.dashboard import risks_table


def rendered(view: FarmView) -> str:
    console = Console(width=160, record=True)
    console.print(risks_table(view))
    return console.export_text()


def test_a_due_date_that_is_not_today_shows_its_date() -> None:
    now = time.time()
    due = now + 86400 - 60  # tomorrow, a minute before this time of day: under 24 h away
    finish = due + 2 * 3600
    order = OrderAtRisk("o1", "ACME", due, finish, "projected late", 4, 1)
    text = rendered(FarmView(at=now, daemons=[], printers=[], next_jobs=[], orders_at_risk=[order]))
    day = datetime.fromtimestamp(due).astimezone().strftime("%b %d")
    assert f"{day} {datetime.fromtimestamp(due).astimezone():%H:%M}" in text, text


def test_a_time_today_stays_a_time() -> None:
    now = time.time()
    today = datetime.fromtimestamp(now).astimezone().replace(hour=23, minute=59, second=0)
    order = OrderAtRisk("o1", "ACME", today.timestamp(), None, "projected late", 4, 1)
    text = rendered(FarmView(at=now, daemons=[], printers=[], next_jobs=[], orders_at_risk=[order]))
    assert "23:59" in text and today.strftime("%b %d") not in text, text
