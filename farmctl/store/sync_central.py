"""Sync, the centre's side: the jobs reserved for a site, and applying a site's pushed batches.

A batch is one transaction here: its rows are upserted by their key at the centre and the site's
mark for that table moves to the batch's last change, together, so a dropped link or a killed sync
leaves both or neither. A batch whose mark the centre already has is skipped (the site died after
the centre's commit, before writing its own mark): applying it again would change nothing anyway.

Keys. farmctl/sync/ sends each row with its key in the centre's terms: (site, n) for a row made at
the site (its id there; the centre's row has that origin), (`central`, n) for a row the centre made
(its id here). References (a job's order, a run's job) are keys too, resolved here.

Ownership. A site's own rows are the site's: upserted. A centre row the site pulled (a job reserved
for it) takes the site's state and counters while the site owns it, and returns to the centre once
pushed done or cancelled. A change to a centre row the site does not own is refused, naming the
owner; the rest of the batch goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, select

from farmctl.ids import IdKind, format_id
from farmctl.scheduler.model import JobState
from farmctl.store.base import StoreBase
from farmctl.store.sync_site import read_mark, write_mark
from farmctl.store.tables import events, files, jobs, orders, print_runs, site_printers, sites

Key = tuple[str, int]

# What a site changes on a job the centre made and it pulled: its progress, never its definition.
SITE_FIELDS = (
    "state",
    "state_reason",
    "copies_done",
    "copies_active",
    "attempts",
    "failures",
    "failed_printers",
)
_OVER = (JobState.DONE.value, JobState.CANCELLED.value)
_KIND: dict[str, IdKind] = {"orders": "order", "jobs": "job", "print_runs": "run"}


@dataclass(frozen=True)
class PushRow:
    """One row of a site's batch in the centre's terms (see the module's docstring)."""

    values: dict[str, Any]
    key: Key | None = None  # None: printers, keyed by (site, printer id)
    refs: dict[str, Key | None] = field(default_factory=dict)  # column -> key of the row it names


@dataclass
class BatchResult:
    changed: int = 0  # rows inserted or updated at the centre
    refused: list[str] = field(default_factory=list)
    skipped: bool = False  # the centre had this batch already


class CentralSyncOps(StoreBase):
    def reserved_for(
        self, site: str, have: set[int]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        """(jobs, their orders, their files' rows) reserved for `site` and not over, but those in `have`."""
        with self._read() as conn:
            found = [
                dict(r._mapping)
                for r in conn.execute(
                    select(jobs)
                    .where(
                        jobs.c.site == site,
                        jobs.c.state.not_in(_OVER),
                        jobs.c.origin_site.is_distinct_from(site),  # its own jobs, pushed: never pulled back
                    )
                    .order_by(jobs.c.id)
                )
                if r.id not in have
            ]
            order_ids = {j["order_id"] for j in found if j["order_id"] is not None}
            shas = {j["file_sha"] for j in found}
            order_rows = [
                dict(r._mapping) for r in conn.execute(select(orders).where(orders.c.id.in_(order_ids)))
            ]
            file_rows = [
                dict(r._mapping) for r in conn.execute(select(files).where(files.c.sha256.in_(shas)))
            ]
        return found, order_rows, file_rows

    def mark_pulled(self, site: str, job_ids: Sequence[int]) -> list[int]:
        """Record that `site` has these jobs (from now on they are with it: `jobs move` is refused).
        Returns those still reserved for it (one released meanwhile is not to be pulled)."""
        if not job_ids:
            return []
        now = self.now()
        with self._write() as conn:
            marked = [
                int(r.id)
                for r in conn.execute(
                    select(jobs.c.id, jobs.c.pulled_at)
                    .where(jobs.c.id.in_(job_ids), jobs.c.site == site, jobs.c.state.not_in(_OVER))
                    .with_for_update()
                )
            ]
            conn.execute(
                jobs.update().where(jobs.c.id.in_(marked), jobs.c.pulled_at.is_(None)).values(pulled_at=now)
            )
            for job_id in marked:
                self._event(conn, "job.pulled", format_id("job", job_id), site=site)
        return marked

    def pushed_mark(self, site: str, tbl: str) -> int:
        """How far `site`'s pushes of `tbl` have been applied here."""
        with self._read() as conn:
            return read_mark(conn, site, tbl)

    def site_synced(self, site: str) -> None:
        with self._write() as conn:
            conn.execute(sites.update().where(sites.c.name == site).values(last_sync=self.now()))

    def apply_batch(
        self,
        site: str,
        tbl: str,
        rows: Sequence[PushRow],
        upto: int,
        file_rows: Sequence[dict[str, Any]] = (),
    ) -> BatchResult:
        """Apply one batch of `site`'s table `tbl` (its changes up to `upto`) and move its mark."""
        result = BatchResult()
        with self._write() as conn:
            conn.execute(
                select(sites.c.name).where(sites.c.name == site).with_for_update()
            )  # one batch at a time
            if read_mark(conn, site, tbl) >= upto:
                result.skipped = True
                return result
            for info in file_rows:
                if (
                    conn.execute(select(files.c.sha256).where(files.c.sha256 == info["sha256"])).first()
                    is None
                ):
                    conn.execute(files.insert().values(**info))
            for row in rows:
                refused = self._apply_row(conn, site, tbl, row)
                if refused is None:
                    result.changed += 1
                elif refused:
                    result.refused.append(refused)
            write_mark(conn, site, tbl, upto)
        return result

    # ---- one row: None when it changed something, "" when there was nothing to change, else why not
    def _apply_row(self, conn: Connection, site: str, tbl: str, row: PushRow) -> str | None:
        if tbl == "printers":  # a site's printers are records here, never driven: site_printers
            return self._upsert_printer(conn, site, row.values)
        table = {"orders": orders, "jobs": jobs, "print_runs": print_runs, "events": events}[tbl]
        assert row.key is not None
        values = dict(row.values)
        for column, ref in row.refs.items():
            if ref is None:
                values[column] = None
                continue
            target = jobs if column == "job_id" else orders
            resolved = self._resolve(conn, target, ref)
            if resolved is None:
                return (
                    f"{_shown(tbl, row.key)} names {_shown(target.name, ref)}, which the centre does not have"
                )
            values[column] = resolved
        if row.key[0] == self.site:
            return self._centre_row(conn, site, table, row.key[1], values)
        existing = conn.execute(
            select(table).where(table.c.origin_site == row.key[0], table.c.origin_id == row.key[1])
        ).first()
        if existing is None:
            extra: dict[str, Any] = {"origin_site": row.key[0], "origin_id": row.key[1]}
            if table is jobs:
                extra.update(site=site, pulled_at=self.now())
            elif table is orders:
                extra["site"] = site
            conn.execute(table.insert().values(**values, **extra))
            return None
        if table is events or _same(existing, values):
            return ""
        conn.execute(table.update().where(table.c.id == existing.id).values(**values))
        return None

    def _centre_row(
        self, conn: Connection, site: str, table: Table, number: int, values: dict[str, Any]
    ) -> str | None:
        """A row the centre made, as the site has it: taken only while the site owns it (a job it pulled)."""
        shown = format_id(_KIND.get(table.name, "job"), number)
        existing = conn.execute(select(table).where(table.c.id == number).with_for_update()).first()
        if existing is None:
            return f"{shown}: the centre has no such {table.name[:-1]}; {site}'s change to it was refused"
        fields = SITE_FIELDS if table is jobs else tuple(values)
        if all(existing._mapping[name] == values[name] for name in fields if name in values):
            return ""
        owner = existing.site if table is jobs and existing.site is not None else self.site
        if owner != site:
            return f"{shown} is owned by {owner}: {site}'s change to it was refused (change it at {owner})"
        change = {name: values[name] for name in (*SITE_FIELDS, "updated_at")}
        if change["state"] in _OVER:  # pushed back done or cancelled: the centre's again
            change.update(site=None, pulled_at=None)
            self._event(conn, "job.returned", shown, site=site, state=change["state"])
        conn.execute(jobs.update().where(jobs.c.id == number).values(**change))
        return None

    def _upsert_printer(self, conn: Connection, site: str, values: dict[str, Any]) -> str | None:
        where = (site_printers.c.site == site, site_printers.c.printer_id == values["printer_id"])
        existing = conn.execute(select(site_printers).where(*where)).first()
        if existing is None:
            conn.execute(site_printers.insert().values(site=site, **values))
            return None
        if _same(existing, values):
            return ""
        conn.execute(site_printers.update().where(*where).values(**values))
        return None

    def _resolve(self, conn: Connection, table: Table, key: Key) -> int | None:
        if key[0] == self.site:
            query = select(table.c.id).where(table.c.id == key[1])
        else:
            query = select(table.c.id).where(table.c.origin_site == key[0], table.c.origin_id == key[1])
        found = conn.execute(query).scalar()
        return None if found is None else int(found)


def _same(existing: Any, values: dict[str, Any]) -> bool:
    return all(existing._mapping[name] == value for name, value in values.items())


def _shown(tbl: str, key: Key) -> str:
    return format_id(_KIND.get(tbl, "job"), key[1], key[0])
