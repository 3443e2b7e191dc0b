"""Tables that later features added, declared like the queue tables (schema.py): recovery points
(schema v5, farmctl/store/recovery.py), API keys and share links (v6, keys.py), G-code kept in the
database (v9, contents.py) and sync's registry and marks (v10, sync_schema.py).

Declarations only: the query code of each feature works on the Core tables from tables.py, so it
does not import these models (see tables.py for why).
"""

from __future__ import annotations

from sqlalchemy import Index, LargeBinary, String, Text
from sqlmodel import Field

from farmctl.store.schema import StoreTable


class RecoveryPointRow(StoreTable, table=True):
    """Where a run of a serial printer stands, crash-safely (one row per run; recovery.py)."""

    __tablename__ = "recovery_points"
    __table_args__ = (Index("ix_recovery_printer", "printer_id", "state"),)

    run_id: int = Field(
        primary_key=True, foreign_key="print_runs.id", sa_column_kwargs={"autoincrement": False}
    )
    printer_id: str = Field(sa_type=String(64))
    job_id: int
    line: int = Field(sa_column_kwargs={"server_default": "0"})  # confirmed lines of the pre-flighted file
    targets: str | None = Field(default=None, sa_type=Text)  # JSON {"hotend": 215, "bed": 60}, last reported
    updated_at: float
    state: str = Field(sa_type=String(12))  # active | pending | recovered | abandoned
    interrupted_at: float | None = None
    reason: str | None = Field(default=None, sa_type=Text)
    recovered_by: int | None = None  # the run that continued this copy


class ApiKeyRow(StoreTable, table=True):
    """An HTTP API key or a share link, by the SHA-256 of its token (keys.py)."""

    __tablename__ = "api_keys"

    name: str = Field(primary_key=True, sa_type=String(64))
    scope: str = Field(sa_type=String(16))
    key_sha256: str = Field(sa_type=String(64), unique=True)
    created_at: float


class FileContentRow(StoreTable, table=True):
    """A file whose every chunk is stored (written last, in the chunks' transaction; contents.py)."""

    __tablename__ = "file_contents"

    sha256: str = Field(primary_key=True, sa_type=String(64))
    size: int
    chunks: int
    added_at: float


class FileChunkRow(StoreTable, table=True):
    __tablename__ = "file_chunks"

    sha256: str = Field(primary_key=True, sa_type=String(64))
    seq: int = Field(primary_key=True)
    data: bytes = Field(sa_type=LargeBinary)


class SiteRow(StoreTable, table=True):
    """The centre's registry: a site name belongs to the first farm home that synced with it."""

    __tablename__ = "sites"

    name: str = Field(primary_key=True, sa_type=String(64))
    home_id: str = Field(sa_type=String(64))
    first_seen: float
    last_sync: float | None = None


class SyncMarkRow(StoreTable, table=True):
    __tablename__ = "sync_marks"

    site: str = Field(primary_key=True, sa_type=String(64))
    tbl: str = Field(primary_key=True, sa_type=String(32))
    last_seq: int


class FarmIdentityRow(StoreTable, table=True):
    """One row: this farm home's random id, made the first time it is asked for."""

    __tablename__ = "farm_identity"

    home_id: str = Field(primary_key=True, sa_type=String(64))
    created_at: float


class SitePrinterRow(StoreTable, table=True):
    """A site's printer as the site last pushed it (never driven by the centre's daemons)."""

    __tablename__ = "site_printers"

    site: str = Field(primary_key=True, sa_type=String(64))
    printer_id: str = Field(primary_key=True, sa_type=String(64))
    kind: str = Field(sa_type=String(16))
    material: str | None = Field(default=None, sa_type=String(32))
    color: str | None = Field(default=None, sa_type=String(32))
    nozzle_mm: float | None = None
    profile: str | None = Field(default=None, sa_type=String(64))
    enabled: bool = True
    state: str = Field(sa_type=String(24))
    state_detail: str | None = Field(default=None, sa_type=Text)
    consecutive_failures: int = 0
    hold_reason: str | None = Field(default=None, sa_type=Text)
    eta_ratio: float | None = None
    spool_g: float | None = None
    updated_at: float
