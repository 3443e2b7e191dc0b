"""Sync, the site's side in its own database: what changed since a mark, the marks, pulled rows.

Every read here is one short read transaction (a WAL snapshot: the daemon printing on this farm
home never waits for it), every write one short write transaction. farmctl/sync/ decides what to
read and when; these only move rows. Rows travel as plain dicts keyed by column name.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Table, func, select

from farmctl.ids import format_id
from farmctl.sites import CENTRAL
from farmctl.store.base import StoreBase
from farmctl.store.tables import events, files, jobs, orders, print_runs, printers, sync_marks

PUSHED: dict[str, Table] = {t.name: t for t in (orders, jobs, print_runs, printers)}
EVENTS = events.name
_BY_KIND = {"order": orders, "job": jobs, "run": print_runs}


def read_mark(conn: Connection, site: str, tbl: str) -> int:
    found = conn.execute(
        select(sync_marks.c.last_seq).where(sync_marks.c.site == site, sync_marks.c.tbl == tbl)
    ).scalar()
    return int(found or 0)


def write_mark(conn: Connection, site: str, tbl: str, seq: int) -> None:
    """Move a mark forwards (never back: a late writer of an older mark changes nothing)."""
    moved = conn.execute(
        sync_marks.update()
        .where(sync_marks.c.site == site, sync_marks.c.tbl == tbl)
        .values(
            last_seq=func.max(sync_marks.c.last_seq, seq)
            if conn.dialect.name == "sqlite"
            else func.greatest(sync_marks.c.last_seq, seq)
        )
    )
    if moved.rowcount == 0:
        conn.execute(sync_marks.insert().values(site=site, tbl=tbl, last_seq=seq))


class SiteSyncOps(StoreBase):
    def sync_mark(self, tbl: str) -> int:
        """How far the centre has confirmed this site's pushes of `tbl`."""
        with self._read() as conn:
            return read_mark(conn, self.site, tbl)

    def confirm_sync_mark(self, tbl: str, seq: int) -> None:
        """Written only after the centre committed the batch up to `seq`."""
        with self._write() as conn:
            write_mark(conn, self.site, tbl, seq)

    def sync_limits(self) -> dict[str, int]:
        """The highest change sequence of each pushed table and the highest own event id, read in one
        snapshot: a sync pushes up to these, so a job it pushes never names an order it does not."""
        with self._read() as conn:
            found = {
                name: int(conn.execute(select(func.max(table.c.change_seq))).scalar() or 0)
                for name, table in PUSHED.items()
            }
            found[EVENTS] = int(
                conn.execute(select(func.max(events.c.id)).where(events.c.origin_site.is_(None))).scalar()
                or 0
            )
        return found

    def changed_rows(self, tbl: str, after: int, upto: int, limit: int) -> list[dict[str, Any]]:
        """Rows of `tbl` written after the mark `after` (up to `upto`), oldest change first."""
        if tbl == EVENTS:
            query = (
                select(events)
                .where(events.c.id > after, events.c.id <= upto, events.c.origin_site.is_(None))
                .order_by(events.c.id)
            )
        else:
            table = PUSHED[tbl]
            query = (
                select(table)
                .where(table.c.change_seq > after, table.c.change_seq <= upto)
                .order_by(table.c.change_seq)
            )
        with self._read() as conn:
            return [dict(row._mapping) for row in conn.execute(query.limit(limit))]

    def pulled_ids(self, kind: str) -> dict[int, int]:
        """This database's id -> the centre's, for the rows of `kind` pulled from the centre."""
        table = _BY_KIND[kind]
        with self._read() as conn:
            return {
                int(row.id): int(row.origin_id)
                for row in conn.execute(
                    select(table.c.id, table.c.origin_id).where(table.c.origin_site == CENTRAL)
                )
            }

    def file_rows(self, shas: Iterable[str]) -> list[dict[str, Any]]:
        with self._read() as conn:
            return [
                dict(r._mapping) for r in conn.execute(select(files).where(files.c.sha256.in_(set(shas))))
            ]

    def printer_ids(self) -> set[str]:
        with self._read() as conn:
            return set(conn.execute(select(printers.c.id)).scalars())

    def insert_pulled(
        self,
        order_rows: Sequence[dict[str, Any]],
        file_rows: Sequence[dict[str, Any]],
        job_rows: Sequence[dict[str, Any]],
    ) -> list[int]:
        """Jobs pulled from the centre, with their orders and files' rows, in one transaction; rows
        already here (by origin) are left alone. Each row carries its centre id as `id`. The files'
        bytes must be in this farm home's file store first. Returns this database's new job ids."""
        made: list[int] = []
        with self._write() as conn:
            for row in file_rows:
                if (
                    conn.execute(select(files.c.sha256).where(files.c.sha256 == row["sha256"])).first()
                    is None
                ):
                    conn.execute(files.insert().values(**row))
            order_ids: dict[int, int] = {}
            for row in order_rows:
                order_ids[row["id"]] = self._pulled_row(conn, orders, row, {"site": CENTRAL})
            for row in job_rows:
                if self._by_origin(conn, jobs, CENTRAL, row["id"]) is not None:
                    continue
                order = order_ids.get(row["order_id"]) if row["order_id"] is not None else None
                made.append(self._pulled_row(conn, jobs, row, {"site": None, "order_id": order}))
            if made:
                self._event(conn, "sync.pulled", "sync", jobs=[format_id("job", i) for i in made])
        return made

    @staticmethod
    def _by_origin(conn: Connection, table: Table, site: str, number: int) -> int | None:
        found = conn.execute(
            select(table.c.id).where(table.c.origin_site == site, table.c.origin_id == number)
        ).scalar()
        return None if found is None else int(found)

    def _pulled_row(self, conn: Connection, table: Table, row: dict[str, Any], extra: dict[str, Any]) -> int:
        existing = self._by_origin(conn, table, CENTRAL, row["id"])
        if existing is not None:
            return existing
        values = {k: v for k, v in row.items() if k in table.c and k not in ("id", "change_seq", "pulled_at")}
        values.update(extra, origin_site=CENTRAL, origin_id=row["id"])
        return int(conn.execute(table.insert().values(**values)).inserted_primary_key[0])  # type: ignore[index]
