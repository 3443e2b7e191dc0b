"""Sync, the centre's side: the jobs reserved for a site, and applying a site's pushed batches.

A batch is one transaction here: its rows are upserted by their key at the centre and the site's
mark for that table moves to the batch's last change, together, so a dropped link or a killed sync
leaves both or neither. A batch whose mark the centre already has is skipped (the site died after
the centre's commit, before writing its own mark): applying it again would change nothing anyway.

Keys. farmctl/sync/ sends each row with its key in the centre's terms: (site, n) for a row made at
the site (its id there; the centre's row has that origin), (`central`, n) for a row the centre made
(its id here). References (a job's order, a run's job) are keys too, resolved here.

Bulk. A batch is a few statements whatever its size: the references resolved by one query per
table, the site's own rows one INSERT ... ON CONFLICT (origin_site, origin_id) DO UPDATE (only rows
that differ are written and counted), the centre's rows it names read in one locked SELECT.

Ownership. A site's own rows are the site's: upserted. A centre row the site pulled (a job reserved
for it) takes the site's state and counters while the site owns it, and returns to the centre once
pushed done or cancelled. A change to a centre row the site does not own is refused, naming the
owner; the rest of the batch goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, or_, select

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
        """Apply one batch of `site`'s table `tbl` (its changes up to `upto`) and move its mark.

        A handful of statements whatever the batch's size (a statement per row cost ~2 ms each, most
        of a long history's first sync): one query per referenced table resolves the references, one
        INSERT ... ON CONFLICT DO UPDATE upserts the site's own rows, one locked SELECT reads the
        centre's rows the batch names (the ownership rule is decided on them, row by row)."""
        result = BatchResult()
        with self._write() as conn:
            conn.execute(
                select(sites.c.name).where(sites.c.name == site).with_for_update()
            )  # one batch at a time
            if read_mark(conn, site, tbl) >= upto:
                result.skipped = True
                return result
            if file_rows:
                conn.execute(_insert(conn, files).values(list(file_rows)).on_conflict_do_nothing())
            if tbl == "printers":  # a site's printers are records here, never driven: site_printers
                result.changed += self._upsert_printers(conn, site, rows)
            else:
                self._apply_rows(conn, site, tbl, rows, result)
            write_mark(conn, site, tbl, upto)
        return result

    def _apply_rows(
        self, conn: Connection, site: str, tbl: str, rows: Sequence[PushRow], result: BatchResult
    ) -> None:
        table = {"orders": orders, "jobs": jobs, "print_runs": print_runs, "events": events}[tbl]
        resolved = _resolve_refs(conn, rows, self.site)
        own: list[dict[str, Any]] = []
        centre: list[tuple[int, dict[str, Any]]] = []
        now = self.now()
        for row in rows:
            assert row.key is not None
            values = dict(row.values)
            missing = None
            for column, ref in row.refs.items():
                values[column] = None if ref is None else resolved.get((_REF_TABLE[column], ref))
                if ref is not None and values[column] is None:
                    named = _shown(_REF_TABLE[column].name, ref)
                    missing = f"{_shown(tbl, row.key)} names {named}, which the centre does not have"
            if missing is not None:
                result.refused.append(missing)
            elif row.key[0] == self.site:
                centre.append((row.key[1], values))
            else:
                # only a new row takes these (an update leaves where it is owned and since when alone)
                extra: dict[str, Any] = {"origin_site": row.key[0], "origin_id": row.key[1]}
                if table is jobs:
                    extra.update(site=site, pulled_at=now)
                elif table is orders:
                    extra["site"] = site
                own.append({**values, **extra})
        result.changed += _upsert_own(conn, table, own)
        if centre:
            self._centre_rows(conn, site, table, centre, result)

    def _centre_rows(
        self,
        conn: Connection,
        site: str,
        table: Table,
        rows: list[tuple[int, dict[str, Any]]],
        result: BatchResult,
    ) -> None:
        """Rows the centre made, as the site has them: taken only while the site owns them (jobs it
        pulled). These are few (what the site pulled), so each change is its own UPDATE."""
        kind = _KIND.get(table.name, "job")
        found = {
            int(r.id): r
            for r in conn.execute(select(table).where(table.c.id.in_([n for n, _ in rows])).with_for_update())
        }
        for number, values in rows:
            shown = format_id(kind, number)
            existing = found.get(number)
            if existing is None:
                result.refused.append(
                    f"{shown}: the centre has no such {table.name[:-1]}; {site}'s change to it was refused"
                )
                continue
            fields = SITE_FIELDS if table is jobs else tuple(values)
            if all(existing._mapping[name] == values[name] for name in fields if name in values):
                continue
            owner = existing.site if table is jobs and existing.site is not None else self.site
            if owner != site:
                result.refused.append(
                    f"{shown} is owned by {owner}: {site}'s change to it was refused (change it at {owner})"
                )
                continue
            change = {name: values[name] for name in (*SITE_FIELDS, "updated_at")}
            if change["state"] in _OVER:  # pushed back done or cancelled: the centre's again
                change.update(site=None, pulled_at=None)
                self._event(conn, "job.returned", shown, site=site, state=change["state"])
            conn.execute(jobs.update().where(jobs.c.id == number).values(**change))
            result.changed += 1

    def _upsert_printers(self, conn: Connection, site: str, rows: Sequence[PushRow]) -> int:
        records = [{"site": site, **row.values} for row in rows]
        return _upsert(conn, site_printers, records, ("site", "printer_id"))


_REF_TABLE: dict[str, Table] = {"job_id": jobs, "order_id": orders}
_ORIGIN = ("origin_site", "origin_id")


def _insert(conn: Connection, table: Table) -> Any:
    """The dialect's INSERT, which has ON CONFLICT (PostgreSQL at a centre; SQLite kept working).
    Imported here, not at the top: the dialects cost every CLI start-up ~60 ms (see schema.py)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


def _upsert(conn: Connection, table: Table, records: list[dict[str, Any]], key: tuple[str, ...]) -> int:
    """INSERT the records, UPDATE those whose key exists and differ; how many were inserted or
    changed (a row the centre has as it is counts for nothing: RETURNING leaves it out). Events are
    append-only: one the centre has is left as it is."""
    changed = 0
    shapes: dict[frozenset[str], list[dict[str, Any]]] = {}
    for record in records:  # a multi-row VALUES needs the same columns in every row
        shapes.setdefault(frozenset(record), []).append(record)
    for shape, group in shapes.items():
        stmt = _insert(conn, table).values(group)
        if table is events:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(key))
        else:
            updated = sorted(shape - set(key) - _INSERT_ONLY)
            stmt = stmt.on_conflict_do_update(
                index_elements=list(key),
                set_={name: stmt.excluded[name] for name in updated},
                where=or_(*(table.c[name].is_distinct_from(stmt.excluded[name]) for name in updated)),
            )
        changed += len(conn.execute(stmt.returning(table.c[key[0]])).all())
    return changed


# Columns a pushed row sets only when it is new: an update keeps the centre's record of who owns
# the row and since when.
_INSERT_ONLY = frozenset({"site", "pulled_at"})


def _upsert_own(conn: Connection, table: Table, records: list[dict[str, Any]]) -> int:
    return _upsert(conn, table, records, _ORIGIN) if records else 0


def _resolve_refs(
    conn: Connection, rows: Sequence[PushRow], centre_site: str
) -> dict[tuple[Table, Key], int]:
    """(table, key) -> the centre's id, for every reference in the batch: one query per table and
    origin site, not one per row."""
    wanted: dict[tuple[Table, str], set[int]] = {}
    for row in rows:
        for column, ref in row.refs.items():
            if ref is not None:
                wanted.setdefault((_REF_TABLE[column], ref[0]), set()).add(ref[1])
    found: dict[tuple[Table, Key], int] = {}
    for (table, origin), numbers in wanted.items():
        if origin == centre_site:
            query = select(table.c.id, table.c.id.label("origin_id")).where(table.c.id.in_(numbers))
        else:
            query = select(table.c.id, table.c.origin_id).where(
                table.c.origin_site == origin, table.c.origin_id.in_(numbers)
            )
        for r in conn.execute(query):
            found[(table, (origin, int(r.origin_id)))] = int(r.id)
    return found


def _shown(tbl: str, key: Key) -> str:
    return format_id(_KIND.get(tbl, "job"), key[1], key[0])
