"""The store's tables come from the table models, through a cache that spares later processes the models.

tables.py pickles the models' MetaData into a file beside its bytecode; these tests prove the tables the
store runs on are the models' tables (same DDL on both databases), that a process finding the file
imports neither sqlmodel, sqlalchemy.orm nor pydantic, and that a damaged or stale file is made again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

HEAVY = ("sqlmodel", "sqlalchemy.orm", "pydantic")

# Opens a farm, lists its printers, then says which of HEAVY it imported and which cache file it used.
PROBE = """
import json, sys
from pathlib import Path
from farmctl.app.farm import open_store
from farmctl.store import tables
with open_store(Path(sys.argv[1])) as store:
    store.list_printers()
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("sqlmodel", "pydantic") or m == "sqlalchemy.orm")
print(json.dumps({"heavy": heavy, "cache": str(tables.cache_file())}))
"""


def _ddl(metadata: object, dialect: object) -> list[str]:
    from sqlalchemy import MetaData

    assert isinstance(metadata, MetaData)
    out = []
    for table in metadata.sorted_tables:
        out.append(str(CreateTable(table).compile(dialect=dialect)).strip())  # type: ignore[arg-type]
        out.extend(str(CreateIndex(index).compile(dialect=dialect)) for index in  # type: ignore[arg-type]
                   sorted(table.indexes, key=lambda i: str(i.name)))
    return out


def test_the_store_runs_on_the_models_tables() -> None:
    from farmctl.store import control_schema, feature_schema, tables  # noqa: F401  (declare their tables)
    from farmctl.store.schema import metadata as declared

    assert set(tables.metadata.tables) == set(declared.tables)
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        assert _ddl(tables.metadata, dialect) == _ddl(declared, dialect)


def _probe(home: Path, env: dict[str, str]) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", PROBE, str(home)], env=env, capture_output=True, text=True,
                          check=True)
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_a_process_with_the_cache_imports_no_model_machinery(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(tmp_path / "pycache")
    home = tmp_path / "farm"
    first = _probe(home, env)  # no cache yet: declares the models and writes the file
    cache = Path(str(first["cache"]))
    assert cache.is_file() and str(cache).startswith(str(tmp_path / "pycache"))
    assert "sqlmodel" in first["heavy"]  # type: ignore[operator]
    second = _probe(home, env)
    assert second["heavy"] == [], f"with the cache the store still imported {second['heavy']}"

    cache.write_bytes(b"not a pickle")  # damaged: the models again, and a good file for the next
    assert "sqlmodel" in _probe(home, env)["heavy"]  # type: ignore[operator]
    assert _probe(home, env)["heavy"] == []


def test_no_cache_is_written_where_bytecode_is_not(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(tmp_path / "pycache")}
    first = _probe(tmp_path / "farm", env)
    assert not Path(str(first["cache"])).exists()
    assert "sqlmodel" in _probe(tmp_path / "farm", env)["heavy"]  # type: ignore[operator]
