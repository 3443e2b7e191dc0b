"""The farm's own content-addressed store of queued files.

A queued file is copied into `<home>/files/<sha256[:2]>/<sha256>.gcode`, so the same file queued
twice is stored once, and editing or deleting the original never breaks a job. The copy goes to a
temporary file in the same directory, is fsynced, then renamed into place: a crash or a full disk
leaves either the whole file or nothing under its final name.

Farms on several hosts (a PostgreSQL store) also keep every file in the database, content-addressed
(farmctl/store/contents.py): the `shared` source below. `put` then writes it there too, and `fetch`
brings a file that only the database holds into this home's directory, which is then a cache. A
fetched file is hashed as it is written and refused unless its sha256 is the one asked for.
"""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from farmctl.errors import UserError

_CHUNK = 1 << 20
_HEX = frozenset("0123456789abcdef")
_DOWNLOADS: dict[Path, threading.Lock] = {}  # one lock per cached file ever fetched by this process
_DOWNLOADS_GUARD = threading.Lock()


def _download_lock(final: Path) -> threading.Lock:
    with _DOWNLOADS_GUARD:
        return _DOWNLOADS.setdefault(final, threading.Lock())


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int
    path: Path


class SharedContents(Protocol):
    """Where every host of a farm finds a file by its sha256 (the PostgreSQL store)."""

    def has_content(self, sha256: str) -> bool: ...

    def store_content(self, sha256: str, path: Path) -> None: ...

    def read_content(self, sha256: str) -> Iterator[bytes]: ...


class FileCorrupt(UserError):
    """A file's bytes do not hash to the sha256 they are stored under."""


class FileStore:
    """Files kept by content hash under one directory of the farm home (and in `shared`, if given)."""

    def __init__(self, root: Path, shared: SharedContents | None = None) -> None:
        self.root = root
        self.shared = shared

    @classmethod
    def for_home(cls, home: Path, shared: SharedContents | None = None) -> FileStore:
        return cls(home / "files", shared)

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.gcode"

    def sidecar(self, sha256: str, suffix: str) -> Path:
        """Where something made from a stored file is kept beside it, `<sha256>.<suffix>` (its pre-flight:
        drivers/serial/artefact.py). Removed with the file; never fetched nor shared between hosts."""
        return self.root / sha256[:2] / f"{sha256}.{suffix}"

    def sha_of(self, path: Path) -> str | None:
        """The sha256 `path` is kept under when it is a file of this store (`path_for`), else None."""
        sha = path.stem
        if len(sha) == 64 and all(c in _HEX for c in sha) and path == self.path_for(sha):
            return sha
        return None

    def has(self, sha256: str) -> bool:
        if self.path_for(sha256).is_file():
            return True
        return self.shared is not None and self.shared.has_content(sha256)

    def fetch(self, sha256: str) -> Path:
        """The local path of a file, fetched from the shared store first if only it has the file.
        The path may not exist (neither has it): callers report that as they always did.
        Raises FileCorrupt when the shared bytes do not match `sha256` (nothing is kept).

        One download per file in this process: a second caller (the dispatcher, while the daemon's
        prefetcher brings the same file in) waits for the first and finds the file cached."""
        final = self.path_for(sha256)
        if final.is_file() or self.shared is None:
            return final
        with _download_lock(final):
            if final.is_file() or not self.shared.has_content(sha256):
                return final
            return self._download(sha256, final)

    def _download(self, sha256: str, final: Path) -> Path:
        assert self.shared is not None
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            fd, temp_name = tempfile.mkstemp(prefix=".fetching-", suffix=".part", dir=final.parent)
        except OSError as exc:
            raise UserError(f"cannot write into the file cache {self.root}: {exc.strerror or exc}") from exc
        temp = Path(temp_name)
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:
                for chunk in self.shared.read_content(sha256):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != sha256:
                raise FileCorrupt(
                    f"file {sha256[:12]} in the database does not match its sha256 (got "
                    f"{digest.hexdigest()[:12]}); refused: queue the original file again"
                )
            os.replace(temp, final)
            return final
        except OSError as exc:
            raise UserError(f"cannot write {final.name} into the file cache {self.root}: "
                            f"{exc.strerror or exc}") from exc
        finally:
            temp.unlink(missing_ok=True)

    def put(self, source: Path) -> StoredFile:
        """Copy `source` in (once per content) and return where it lives."""
        try:
            size = source.stat().st_size
            self.root.mkdir(parents=True, exist_ok=True)
            fd, temp_name = tempfile.mkstemp(prefix=".incoming-", suffix=".part", dir=self.root)
        except OSError as exc:
            raise _copy_error(source, self.root, exc) from exc
        temp = Path(temp_name)
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            final = self.path_for(sha)
            if final.is_file() and final.stat().st_size == size:
                temp.unlink()
            else:
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(temp, final)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise _copy_error(source, self.root, exc) from exc
        if self.shared is not None:  # every host of the farm reads it from there
            self.shared.store_content(sha, final)
        return StoredFile(sha256=sha, size=size, path=final)


def _copy_error(source: Path, root: Path, exc: OSError) -> UserError:
    if exc.errno == errno.ENOSPC:
        return UserError(f"disk full while copying {source} into the file store {root}; free space and retry")
    if exc.errno == errno.EDQUOT:
        return UserError(f"disk quota exceeded while copying {source} into {root}; free space and retry")
    return UserError(f"cannot copy {source} into the file store {root}: {exc.strerror or exc}")
