"""Managing orders: create one (its due date and priority read as people type them), and the links
that show one order's progress to its customer.

An order's jobs are added by queueing files (queueing.py); its listing, page and report are
documents.py's and farmctl/records/report.py's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from farmctl.store import JobStore, Order


@dataclass(frozen=True)
class NewOrder:
    """An order checked and ready to store (`new_order`): nothing is created before every value reads."""

    customer: str
    due: float
    priority: int
    project: str | None
    notes: str | None


def new_order(customer: str, due: str, priority: str, project: str | None, notes: str | None) -> NewOrder:
    """The order `due` ('2026-12-01', '+3d') and `priority` ('high', '-100'..'100') describe; a value that
    does not read is a one-line refusal (values.py)."""
    from farmctl.app.values import parse_due, parse_priority

    return NewOrder(customer, parse_due(due), parse_priority(priority), project, notes)


def add_order(store: JobStore, order: NewOrder) -> Order:
    return store.add_order(
        order.customer, due=order.due, priority=order.priority, project=order.project, notes=order.notes
    )


def share_link(store: JobStore, order_id: int) -> str:
    """A new unguessable link to the customer page of one order (earlier links stay valid), at the
    address `farmctl serve` or the daemon's [http] answers on."""
    from farmctl.config_schema import HttpSettings

    _, token = store.share_order(order_id)
    assert store.config is not None  # a store opened from its farm home (farm.py)
    http = store.config.section(HttpSettings)
    return f"{_base_url(http.host, http.port)}share/{token}"


def revoke_links(store: JobStore, order_id: int) -> int:
    """Every share link of the order stops working (its page shows nothing); returns how many."""
    return store.revoke_shares(order_id)


def _base_url(host: str, port: int) -> str:
    """Where `farmctl serve` (or the daemon's [http]) is reached, as [http] in farm.toml says."""
    import socket

    if host in ("0.0.0.0", "::", ""):
        host = socket.getfqdn()
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"
