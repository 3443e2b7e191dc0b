"""G-code kept in the database, content-addressed by sha256: files for a farm on several hosts.

A farm whose store is PostgreSQL has daemons on several hosts, and each needs the bytes of the file
it prints. Rather than shared storage set up by hand, the database that already holds the queue
holds the files: every daemon then needs nothing but the database URL (farmctl/files.py fetches a
file into the farm home's cache when a host first prints it).

A file is split into chunks of `CHUNK_BYTES`, one row each (`file_chunks`), written one at a time
while the file is read and hashed, and read back one row at a time: memory stays one chunk whatever
the file's size. The chunks and then the `file_contents` row that says the file is complete are
written in one transaction, so a reader sees a whole file or none, and a writer that dies leaves
nothing behind. The sha256 is computed on the way in; bytes that do not hash to the sha256 they are
stored under are refused (and checked again on the way out, by farmctl/files.py).

Only PostgreSQL stores use it (`shares_files`): a SQLite farm lives on one host, whose file store
is the farm home's directory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import select, text

from farmctl.errors import UserError
from farmctl.store.base import StoreBase
from farmctl.store.tables import file_chunks, file_contents

CHUNK_BYTES = 1 << 20  # 1 MiB per row: few round trips, small and constant memory on both sides




class ContentOps(StoreBase):
    @property
    def shares_files(self) -> bool:
        """Whether this store keeps the farm's files (several hosts: PostgreSQL)."""
        return self.dialect == "postgresql"

    def has_content(self, sha256: str) -> bool:
        with self._read() as conn:
            found = conn.execute(select(file_contents.c.sha256).where(file_contents.c.sha256 == sha256))
            return found.first() is not None

    def store_content(self, sha256: str, path: Path) -> None:
        """Keep the file at `path` under `sha256` (once per content: a second call does nothing).
        Refused, with nothing kept, when the bytes do not hash to `sha256`."""
        with self._write() as conn:
            if conn.dialect.name == "postgresql":  # two hosts queueing the same file: one writes it
                conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:sha))"), {"sha": sha256})
            found = conn.execute(select(file_contents.c.sha256).where(file_contents.c.sha256 == sha256))
            if found.first() is not None:
                return
            digest = hashlib.sha256()
            size = seq = 0
            try:
                source = path.open("rb")
            except OSError as exc:
                raise UserError(f"cannot read {path} to store it in the database: {exc.strerror}") from exc
            with source:
                while chunk := source.read(CHUNK_BYTES):
                    digest.update(chunk)
                    conn.execute(file_chunks.insert().values(sha256=sha256, seq=seq, data=chunk))
                    size += len(chunk)
                    seq += 1
            if digest.hexdigest() != sha256:
                raise UserError(
                    f"{path} does not match its sha256 {sha256[:12]} (it changed while being stored?); "
                    "refused: queue it again"
                )
            conn.execute(
                file_contents.insert().values(sha256=sha256, size=size, chunks=seq, added_at=self.now())
            )

    def read_content(self, sha256: str) -> Iterator[bytes]:
        """The file's bytes, chunk by chunk, in one read transaction (one chunk in memory at a time)."""
        with self._read() as conn:
            chunks = conn.execute(
                select(file_contents.c.chunks).where(file_contents.c.sha256 == sha256)
            ).scalar()
            if chunks is None:
                raise UserError(f"file {sha256[:12]} is not in the database; queue it again")
            for seq in range(chunks):
                data = conn.execute(
                    select(file_chunks.c.data).where(file_chunks.c.sha256 == sha256, file_chunks.c.seq == seq)
                ).scalar()
                if data is None:
                    raise UserError(f"file {sha256[:12]} in the database lacks part {seq}; queue it again")
                yield bytes(data)
