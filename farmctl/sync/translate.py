"""A site's rows in the centre's terms.

On the truck, job 5 may be the centre's j41 (pulled: origin central/41) or its own (made there: at
the centre it is `truck-1/j5`). A printer `mk3-1` on the truck is `truck-1/mk3-1` at the centre, where
a `mk3-1` of the centre's own may exist. Rows are keyed accordingly (farmctl/store/sync_central.py),
and the ids inside events (subject, detail) are rewritten the same way, so the centre's event log
names what the centre's listings show.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from farmctl.ids import IdKind
from farmctl.sites import CENTRAL
from farmctl.store.sync_central import SITE_FIELDS, Key, PushRow

_ORDER_FIELDS = ("customer", "project", "due", "priority", "notes", "created_at")
_JOB_FIELDS = (
    "name",
    "file_sha",
    "copies",
    "copies_done",
    "copies_active",
    "attempts",
    "failures",
    "priority",
    "due",
    "material",
    "nozzle_mm",
    "tags",
    "state",
    "state_reason",
    "created_at",
    "updated_at",
)
_RUN_FIELDS = (
    "attempt",
    "state",
    "started_at",
    "ended_at",
    "error",
    "lines_total",
    "lines_acked",
    "resends",
    "filament_mm",
    "progress",
)
_PRINTER_FIELDS = (
    "kind",
    "material",
    "color",
    "nozzle_mm",
    "profile",
    "enabled",
    "state",
    "state_detail",
    "consecutive_failures",
    "hold_reason",
    "eta_ratio",
    "spool_g",
    "updated_at",
)
_EVENT_ID = re.compile(r"([ojr])(\d+)")
_KINDS: dict[str, IdKind] = {"o": "order", "j": "job", "r": "run"}
_DETAIL_IDS = ("job", "order", "run", "printer", "jobs")


@dataclass(frozen=True)
class SiteTerms:
    """What translating needs to know of the site: its name, its printers, and which of its rows
    came from the centre (this database's id -> the centre's), read once per sync."""

    site: str
    printers: frozenset[str]
    pulled_jobs: dict[int, int]
    pulled_orders: dict[int, int]

    def key(self, kind: IdKind, local: int) -> Key:
        pulled = {"job": self.pulled_jobs, "order": self.pulled_orders}.get(kind, {})
        return (CENTRAL, pulled[local]) if local in pulled else (self.site, local)

    def printer(self, name: str | None) -> str | None:
        return f"{self.site}/{name}" if name is not None and name in self.printers else name

    def printers_in(self, names: str) -> str:
        return ",".join(sorted(self.printer(n) or n for n in names.split(",") if n))

    def shown(self, text: str) -> str:
        """An id or printer name as the centre shows it: j5 -> j41 (pulled) or truck-1/j5."""
        found = _EVENT_ID.fullmatch(text)
        if found is None:
            return self.printer(text) or text
        kind = _KINDS[found.group(1)]
        site, number = self.key(kind, int(found.group(2)))
        own = f"{found.group(1)}{number}"
        return own if site == CENTRAL else f"{site}/{own}"


def _pick(row: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: row[name] for name in names}


def order_row(terms: SiteTerms, row: dict[str, Any]) -> PushRow:
    return PushRow(values=_pick(row, _ORDER_FIELDS), key=terms.key("order", row["id"]))


def job_row(terms: SiteTerms, row: dict[str, Any]) -> PushRow:
    key = terms.key("job", row["id"])
    failed = terms.printers_in(row["failed_printers"])
    if key[0] == CENTRAL:  # the centre's job: only the site's progress on it travels
        values = {**_pick(row, SITE_FIELDS), "failed_printers": failed, "updated_at": row["updated_at"]}
        return PushRow(values=values, key=key)
    values = {
        **_pick(row, _JOB_FIELDS),
        "failed_printers": failed,
        "printer_id": terms.printer(row["printer_id"]),
    }
    order = terms.key("order", row["order_id"]) if row["order_id"] is not None else None
    return PushRow(values=values, key=key, refs={"order_id": order})


def run_row(terms: SiteTerms, row: dict[str, Any]) -> PushRow:
    values = {**_pick(row, _RUN_FIELDS), "printer_id": terms.printer(row["printer_id"])}
    return PushRow(
        values=values, key=(terms.site, row["id"]), refs={"job_id": terms.key("job", row["job_id"])}
    )


def event_row(terms: SiteTerms, row: dict[str, Any]) -> PushRow:
    detail = row["detail"]
    if detail:
        parsed = json.loads(detail)
        for name in _DETAIL_IDS:
            value = parsed.get(name)
            if isinstance(value, str):
                parsed[name] = terms.shown(value)
            elif isinstance(value, list):
                parsed[name] = [terms.shown(v) if isinstance(v, str) else v for v in value]
        detail = json.dumps(parsed, sort_keys=True)
    values = {
        "at": row["at"],
        "actor": row["actor"],
        "kind": row["kind"],
        "subject": terms.shown(row["subject"]),
        "detail": detail,
    }
    return PushRow(values=values, key=(terms.site, row["id"]))


def printer_row(terms: SiteTerms, row: dict[str, Any]) -> PushRow:
    return PushRow(values={"printer_id": row["id"], **_pick(row, _PRINTER_FIELDS)})


TRANSLATE = {
    "orders": order_row,
    "jobs": job_row,
    "print_runs": run_row,
    "events": event_row,
    "printers": printer_row,
}
