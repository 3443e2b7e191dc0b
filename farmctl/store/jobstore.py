"""`JobStore`: the one facade over the queue database (see docs/queue.md for the API)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select

from farmctl.config import FarmConfig
from farmctl.config_schema import SchedulerSettings, StoreSettings, SyncSettings
from farmctl.errors import NoFarm, UserError
from farmctl.home import ensure_home
from farmctl.sites import own_site
from farmctl.store.base import Clock
from farmctl.store.catalog import CatalogOps
from farmctl.store.contents import ContentOps
from farmctl.store.engine import make_engine, redact, sqlite_url, translate_errors
from farmctl.store.history import HistoryOps
from farmctl.store.identity import IdentityOps
from farmctl.store.jobs import JobOps
from farmctl.store.keys import KeyOps
from farmctl.store.migrations import require_current, upgrade
from farmctl.store.records import Event, Run
from farmctl.store.recovery import RecoveryOps
from farmctl.store.snapshot import SnapshotOps
from farmctl.store.sync_central import CentralSyncOps
from farmctl.store.sync_site import SiteSyncOps
from farmctl.store.tables import events

DATABASE_FILE = "farm.db"


class JobStore(
    HistoryOps,
    CatalogOps,
    ContentOps,
    IdentityOps,
    JobOps,
    KeyOps,
    RecoveryOps,
    SnapshotOps,
    SiteSyncOps,
    CentralSyncOps,
):
    """Printers, orders, jobs, print runs and the event log of one farm.

    Open with `farmctl.app.farm.open_store(home)` (SQLite in the farm home unless [store] url /
    FARMCTL_STORE_URL says otherwise) or `JobStore.open(url=...)`. Every method is one short
    transaction and returns frozen dataclasses (farmctl.store.records); user-facing failures raise
    UserError (typed: farmctl/errors.py, farmctl/ids.py).
    """

    scheduler: SchedulerSettings
    home: Path | None = None  # the farm home it was opened from (None: opened by URL alone)
    config: FarmConfig | None = None

    @classmethod
    def open(
        cls,
        home: Path | None = None,
        *,
        url: str | None = None,
        config: FarmConfig | None = None,
        actor: str = "cli",
        clock: Clock | None = None,
        create: bool = True,
        migrate: bool = True,
    ) -> JobStore:
        """Open by farm home with that farm's configuration (read by the caller: the store reads no
        files but its database; `farmctl.app.farm.open_store(home)` does both), or by `url` alone.

        `create=False` (read-only commands): a farm home that does not exist raises `NoFarm`
        instead of becoming a new, empty farm (a mistyped home directory would otherwise create one).
        `migrate=False` (another farm's database, as sync opens the centre's): a schema other than
        this farmctl's is refused in one line instead of being upgraded under that farm's feet."""
        if home is not None and config is None:
            raise TypeError("JobStore.open(home) needs the farm's config: use farmctl.app.farm.open_store")
        store_settings = config.section(StoreSettings) if config else StoreSettings()
        sync = config.section(SyncSettings) if config else SyncSettings()
        site = own_site(sync.site, sync.central)  # before opening: a bad [sync] site is one line
        url = url or store_settings.url
        if url is None:
            if home is None:
                raise UserError("no farm home and no database URL given")
            if not create and not home.exists():
                raise NoFarm(home)
            path = ensure_home(home) / DATABASE_FILE
            _create_private(path)
            url = sqlite_url(path)
            where = str(path)
        else:
            where = redact(url)
        engine = make_engine(url, store_settings.busy_timeout_ms)
        with translate_errors(where), engine.connect() as conn:
            if migrate:
                upgrade(conn, where)
            else:
                require_current(conn, where)
        kwargs: dict[str, Any] = {"actor": actor}
        if clock is not None:
            kwargs["clock"] = clock
        store = cls(engine, where, **kwargs)
        store.scheduler = config.section(SchedulerSettings) if config else SchedulerSettings()
        store.site = site
        store.home = home
        store.config = config
        return store

    def __enter__(self) -> JobStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fail_run_with_policy(self, run_id: int, error: str, **stats: Any) -> Run:
        """`fail_run` with the retry and rotation limits from farm.toml [scheduler]."""
        return self.fail_run(
            run_id,
            error,
            max_retries=self.scheduler.max_retries,
            printer_failure_limit=self.scheduler.printer_failure_limit,
            **stats,
        )

    def list_events(self, *, since_id: int = 0, subject: str | None = None, limit: int = 200) -> list[Event]:
        query = select(events).where(events.c.id > since_id)
        if subject is not None:
            query = query.where(events.c.subject == subject)
        with self._read() as conn:
            rows = conn.execute(query.order_by(events.c.id).limit(limit)).all()
        return [
            Event(
                id=r.id,
                at=r.at,
                actor=r.actor,
                kind=r.kind,
                subject=r.subject,
                detail=json.loads(r.detail) if r.detail else {},
                origin_site=r.origin_site,
            )
            for r in rows
        ]

    def record_event(self, event_kind: str, subject: str, **detail: Any) -> None:
        with self._write() as conn:
            self._event(conn, event_kind, subject, **detail)


def _create_private(path: Path) -> None:
    """Create the database file owner-only (0600) before SQLite does (with 0644): it holds the
    OctoPrint API keys. SQLite gives its -wal and -shm files the database file's permissions."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass  # an existing database keeps the permissions its owner gave it
    except OSError as exc:
        raise UserError(f"cannot create the database {path}: {exc.strerror}; check the farm home") from exc


__all__: Sequence[str] = ["DATABASE_FILE", "JobStore"]
