"""The farm's own content-addressed store of queued files.

A queued file is copied into `<home>/files/<sha256[:2]>/<sha256>.gcode`, so the same file queued
twice is stored once, and editing or deleting the original never breaks a job. The copy goes to a
temporary file in the same directory, is fsynced, then renamed into place: a crash or a full disk
leaves either the whole file or nothing under its final name.
"""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from farmctl.errors import UserError

_CHUNK = 1 << 20


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int
    path: Path


class FileStore:
    """Files kept by content hash under one directory of the farm home."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def for_home(cls, home: Path) -> FileStore:
        return cls(home / "files")

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.gcode"

    def has(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

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
            return StoredFile(sha256=sha, size=size, path=final)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise _copy_error(source, self.root, exc) from exc

    def remove(self, sha256: str) -> None:
        self.path_for(sha256).unlink(missing_ok=True)


def _copy_error(source: Path, root: Path, exc: OSError) -> UserError:
    if exc.errno == errno.ENOSPC:
        return UserError(f"disk full while copying {source} into the file store {root}; free space and retry")
    if exc.errno == errno.EDQUOT:
        return UserError(f"disk quota exceeded while copying {source} into {root}; free space and retry")
    return UserError(f"cannot copy {source} into the file store {root}: {exc.strerror or exc}")
