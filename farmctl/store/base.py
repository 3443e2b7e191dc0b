"""Shared plumbing of the store: short transactions, error translation, the event log."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, or_

from farmctl.ids import IdKind, format_id
from farmctl.redact import mask_values
from farmctl.sites import CENTRAL
from farmctl.store.engine import WRITE, translate_errors
from farmctl.store.tables import events

Clock = Callable[[], float]


class StoreBase:
    """Owns the engine; every public operation is one short transaction."""

    # This farm home's site name (farmctl/sites.py): jobs owned by another site are never claimed here.
    site: str = CENTRAL

    def __init__(self, engine: Engine, where: str, *, actor: str = "cli", clock: Clock = time.time) -> None:
        self._engine = engine
        self.where = where
        self.actor = actor
        self._clock = clock
        self._reading = _OpenRead()  # shared with the views attached to this store (LiveStore.attach)

    def now(self) -> float:
        return self._clock()

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Every read of this thread inside the block is one transaction on one connection (on SQLite
        one snapshot of the farm). `farmctl status` read in 14 transactions, each opening a new SQLite
        connection with its PRAGMAs (~10 ms of its CPU), and a daemon writing in between could show a
        job in two states at once. For reads only: a write inside it is a programming error."""
        if self._reading.conn is not None:
            yield
            return
        with self._read() as conn:
            self._reading.conn = conn
            try:
                yield
            finally:
                self._reading.conn = None

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction: BEGIN IMMEDIATE on SQLite, committed on success, rolled back on error."""
        if self._reading.conn is not None:
            raise RuntimeError("a store write inside store.reading(), whose snapshot would not see it")
        with translate_errors(self.where), self._engine.connect() as raw:
            conn = raw.execution_options(**{WRITE: True})
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A read transaction: one consistent snapshot (WAL readers never block the writer); inside
        `reading()`, that block's."""
        shared = self._reading.conn
        if shared is not None:
            with translate_errors(self.where):
                yield shared
            return
        with translate_errors(self.where), self._engine.connect() as conn, conn.begin():
            yield conn

    def _event(self, conn: Connection, event_kind: str, subject: str, **detail: Any) -> None:
        conn.execute(
            events.insert().values(
                at=self.now(),
                actor=self.actor,
                kind=event_kind,
                subject=subject,
                # A URL's password never reaches the event log (an OctoPrint URL may carry one).
                detail=json.dumps(mask_values(detail), default=str, sort_keys=True) if detail else None,
            )
        )

    def _site_column(self, name: str) -> str | None:
        """The value a site name is stored as in a `site` column: NULL for this farm home's own."""
        return None if name == self.site else name

    def _ours(self, column: Any) -> Any:
        """SQL: the row belongs to this farm home (a NULL site, or its own name)."""
        return or_(column.is_(None), column == self.site)

    def close(self) -> None:
        self._engine.dispose()


class _OpenRead(threading.local):
    """The connection of a `StoreBase.reading()` block, per thread (the web serves requests on several)."""

    conn: Connection | None = None


def origin_text(kind: IdKind, site: str | None, number: int | None) -> str | None:
    """A row's origin as people type it ('truck-1/j3'), None for a row made here."""
    return None if site is None or number is None else format_id(kind, number, site)


def split_tags(text: str | None) -> frozenset[str]:
    return frozenset(t for t in (text or "").split(",") if t)


def join_tags(tags: frozenset[str] | set[str]) -> str:
    return ",".join(sorted(tags))


def inserted_id(result: Any) -> int:
    """The primary key an INSERT just created."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])
