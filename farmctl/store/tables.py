"""The Core tables the store's queries run on: the table models' tables, without importing the models
when a cached copy of them is at hand.

The tables are declared once, as SQLModel table models (schema.py, control_schema.py,
feature_schema.py), and the store only ever uses each model's Core `Table` (no ORM session, no
mapped instance: see schema.py). Declaring the models is the costly part of opening the store:
importing sqlmodel brings in sqlalchemy.orm and pydantic, and each class builds an ORM mapper and a
pydantic field set, all of it thrown away once the Core tables exist (with the CLI's own start-up
changes, a `status` process's imports went from 489 to 313 ms of CPU: docs/benchmarks.md, "`farmctl
status` and the records commands as processes").

So the models' MetaData is pickled into a cache file beside this module's bytecode (honouring
PYTHONPYCACHEPREFIX and, for writing, PYTHONDONTWRITEBYTECODE, like a .pyc), named by a digest of
the declaring modules' source and of the Python, SQLAlchemy and SQLModel it was made with. A process
that finds the file unpickles the tables (~10 ms) and never imports sqlmodel, sqlalchemy.orm or
pydantic; one that does not (first run, an edited model, a read-only install) declares the models
as before and writes the file for the next. Either way the store runs on the unpickled copy, so the
cached path is the one every run exercises. A file that cannot be read back is rebuilt. The file is
as trusted as the bytecode beside it: whoever may write one may write the other.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pickle
import sys
from pathlib import Path

import sqlalchemy
from sqlalchemy import DDL, MetaData, Table, event

_HERE = Path(__file__).parent
# The modules whose source decides the tables (and this one, which decides how they are loaded).
_DECLARING = ("schema.py", "control_schema.py", "feature_schema.py", "tables.py")
_CACHE_PREFIX = "tables."


def _digest() -> str:
    digest = hashlib.sha256()
    for name in _DECLARING:
        digest.update((_HERE / name).read_bytes())
    digest.update(f"{sys.version}|{sqlalchemy.__version__}|{_sqlmodel_stamp()}".encode())
    return digest.hexdigest()[:20]


def _sqlmodel_stamp() -> str:
    """Which sqlmodel would declare the models, without importing it: where its package is and when
    it was written (an upgrade rewrites it), since how a model becomes a table is sqlmodel's."""
    spec = importlib.util.find_spec("sqlmodel")
    if spec is None or spec.origin is None:
        return "no sqlmodel"
    stat = os.stat(spec.origin)
    return f"{spec.origin}|{stat.st_size}|{stat.st_mtime_ns}"


def cache_file() -> Path:
    """Where this installation's pickled tables are (or would be) kept."""
    pyc = Path(importlib.util.cache_from_source(__file__))
    return pyc.with_name(f"{_CACHE_PREFIX}{_digest()}.pickle")


def _declared() -> bytes:
    """The models' MetaData, pickled (imports the models)."""
    from farmctl.store import control_schema, feature_schema  # noqa: F401  (their classes add tables)
    from farmctl.store.schema import metadata as declared

    return pickle.dumps(declared, protocol=pickle.HIGHEST_PROTOCOL)


def _cached(path: Path) -> MetaData | None:
    try:
        loaded = pickle.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except Exception:
        return None
    return loaded if isinstance(loaded, MetaData) else None


def _write(path: Path, data: bytes) -> None:
    """Keep `data` at `path` for the next process; a cache that cannot be written only costs time."""
    if sys.dont_write_bytecode:
        return
    scratch = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch.write_bytes(data)
        os.replace(scratch, path)  # atomic: a concurrent reader sees the old file or the whole new one
        for stale in path.parent.glob(f"{_CACHE_PREFIX}*.pickle"):
            if stale != path:  # made from an older source: never read again
                stale.unlink(missing_ok=True)
    except OSError:
        scratch.unlink(missing_ok=True)


def load() -> MetaData:
    """The store's tables: from the cache file when it is there, else declared and cached."""
    path = cache_file()
    found = _cached(path)
    if found is not None:
        return found
    data = _declared()
    _write(path, data)
    tables: MetaData = pickle.loads(data)
    return tables


metadata = load()


def _table(name: str) -> Table:
    return metadata.tables[name]


schema_info = _table("farmctl_schema")
printers = _table("printers")
orders = _table("orders")
files = _table("files")
jobs = _table("jobs")
print_runs = _table("print_runs")
events = _table("events")
daemons = _table("daemons")
printer_live = _table("printer_live")
control_requests = _table("control_requests")
recovery_points = _table("recovery_points")
api_keys = _table("api_keys")
file_contents = _table("file_contents")
file_chunks = _table("file_chunks")
sites = _table("sites")
sync_marks = _table("sync_marks")
farm_identity = _table("farm_identity")
site_printers = _table("site_printers")

# The tables each schema step adds to an existing database (migrations.py).
CONTROL_TABLES = (daemons, printer_live, control_requests)
RECOVERY_TABLES = (recovery_points,)
API_KEY_TABLES = (api_keys,)
CONTENT_TABLES = (file_contents, file_chunks)
SYNC_TABLES = (sites, sync_marks, farm_identity, site_printers)

# One printer prints one copy at a time: the database refuses a second active run. Written as
# plain DDL (same text on SQLite and PostgreSQL) because dialect keywords on Index (sqlite_where,
# postgresql_where) make SQLAlchemy import both dialects, ~60 ms on every CLI start-up. Listeners
# are not pickled: attached here, to the tables the store uses.
event.listen(
    print_runs,
    "after_create",
    DDL("CREATE UNIQUE INDEX ux_runs_printer_active ON print_runs (printer_id) WHERE state = 'printing'"),
)
