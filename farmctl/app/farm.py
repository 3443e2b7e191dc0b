"""`Farm`: one farm as the use cases see it, its store, its configuration and its file store.

A face opens it once per request or command (`with Farm.open(home) as farm:`); the daemon, which
already holds a store opened from the farm home, wraps that one (`Farm.of(store)`). `open_store`
is the one place a farm's store is opened by its home: it reads the farm's configuration first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from farmctl.errors import UserError

if TYPE_CHECKING:
    from farmctl.config import FarmConfig
    from farmctl.files import FileStore
    from farmctl.store import JobStore
    from farmctl.store.base import Clock


def open_store(
    home: Path, *, create: bool = True, actor: str = "cli", clock: Clock | None = None
) -> JobStore:
    """The store of the farm at `home`, with the farm's configuration (farm.toml and FARMCTL_*
    variables: [store] url may put the database on PostgreSQL). `create=False`: `NoFarm` when
    `home` does not exist, instead of a new empty farm."""
    from farmctl.config import load_config
    from farmctl.store import JobStore

    return JobStore.open(home, config=load_config(home), create=create, actor=actor, clock=clock)


def files_of(store: JobStore) -> FileStore:
    """The file store of the farm `store` was opened from: the farm home's directory, backed by the
    database when the farm spans several hosts (PostgreSQL; farmctl/store/contents.py)."""
    if store.home is None:
        raise UserError("this database was opened without a farm home; open the farm by its home")
    from farmctl.files import FileStore  # lazily: hashlib and tempfile stay out of every CLI start

    return FileStore.for_home(store.home, store if store.shares_files else None)


@dataclass
class Farm:
    home: Path
    config: FarmConfig
    store: JobStore
    files: FileStore

    @classmethod
    def open(cls, home: Path, *, create: bool = False, actor: str = "cli") -> Farm:
        """`create=True` only for use cases that add things: a farm home that does not exist is
        otherwise an error, not a new empty farm (a mistyped home directory)."""
        return cls.of(open_store(home, create=create, actor=actor))

    @classmethod
    def of(cls, store: JobStore) -> Farm:
        """The farm a store was opened from (`open_store(home)`)."""
        if store.home is None or store.config is None:
            raise UserError("this database was opened without a farm home; open the farm by its home")
        return cls(home=store.home, config=store.config, store=store, files=files_of(store))

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Farm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
