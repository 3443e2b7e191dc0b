"""Reading an upload as it arrives: a multipart form's file parts (or a body that is the file) go
straight to temporary files in the farm home (`<home>/spool/`), hashed on the way; the small fields
stay in memory.

Memory is constant in the file's size: each chunk the server receives is parsed, written and dropped
(python-multipart's push parser; Starlette's own `request.form()` would spool to the system's temp
directory, off the farm's disk, and buffers a megabyte per file first). The spool is in the farm home
so the file store's copy is on the same disk and a full disk is the farm's own, reported as such.

An upload larger than the limit is read to its end and dropped, then refused: answering before the
client has sent its body makes most clients (requests, slicers) report a broken connection instead of
the reason.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from farmctl.web.errors import WebError

SPOOL_DIR = "spool"
_PREFIX = "upload-"
_MAX_FIELD_BYTES = 64 * 1024  # print/select/path/userdata/root/checksum: small by nature
_MAX_FIELDS = 32
_STALE_S = 24 * 3600


@dataclass
class SpooledFile:
    """One file part: the form field it came in, the name the client gave it, where its bytes are
    now (None once discarded), its size and SHA-256."""

    field: str
    name: str
    path: Path | None
    size: int = 0
    sha256: str = ""

    def discard(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None


@dataclass
class SpooledForm:
    """The form's fields and its files (one for an upload; `farmctl quote` takes several). The
    `file_*` properties read the first file: what the one-file uploads use."""

    fields: dict[str, str] = field(default_factory=dict)
    files: list[SpooledFile] = field(default_factory=list)

    @property
    def file_field(self) -> str | None:
        return self.files[0].field if self.files else None

    @property
    def file_name(self) -> str | None:
        return self.files[0].name if self.files else None

    @property
    def file_path(self) -> Path | None:
        return self.files[0].path if self.files else None

    @property
    def size(self) -> int:
        return self.files[0].size if self.files else 0

    @property
    def sha256(self) -> str:
        return self.files[0].sha256 if self.files else ""

    def discard(self) -> None:
        for spooled in self.files:
            spooled.discard()


def spool_dir(home: Path) -> Path:
    path = home / SPOOL_DIR
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def clear_stale(home: Path, now: float | None = None) -> int:
    """Remove spool files a crashed server left behind (a day old: another live server on this
    home may be writing a younger one); returns how many."""
    directory = home / SPOOL_DIR
    if not directory.is_dir():
        return 0
    cutoff = (time.time() if now is None else now) - _STALE_S
    removed = 0
    for entry in directory.glob(f"{_PREFIX}*"):
        with contextlib.suppress(OSError):
            if entry.stat().st_mtime < cutoff:
                entry.unlink()
                removed += 1
    return removed


class _FormReader:
    """The parser's callbacks: collect fields, stream each file part to disk."""

    def __init__(self, directory: Path, max_file_bytes: int, max_files: int) -> None:
        self.directory = directory
        self.max_file_bytes = max_file_bytes
        self.max_files = max_files
        self.form = SpooledForm()
        self.too_large = False
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, bytes] = {}
        self._name: str | None = None
        self._value = bytearray()
        self._file: _FileWriter | None = None

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._header_field.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._header_value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._headers = {}
        self._name = None
        self._value = bytearray()

    def _header_end(self) -> None:
        self._headers[self._header_field.decode("latin-1").strip().lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        disposition = self._headers.get("content-disposition", b"")
        _, options = parse_options_header(disposition)
        name = options.get(b"name")
        if name is None:
            raise WebError(400, "a form part has no name; send a multipart/form-data upload")
        self._name = name.decode("utf-8", "replace")
        filename = options.get(b"filename")
        if filename is None:
            if len(self.form.fields) >= _MAX_FIELDS:
                raise WebError(400, f"more than {_MAX_FIELDS} form fields; send the file and its few options")
            return
        if len(self.form.files) >= self.max_files:
            if self.max_files == 1:
                raise WebError(400, "one file per upload, please; this one has two file parts")
            raise WebError(400, f"more than {self.max_files} files in one request; send fewer")
        # A browser or slicer may send a path ("C:\\parts\\x.gcode"): the name is its last part.
        raw = filename.decode("utf-8", "replace").replace("\\", "/")
        self._file = _FileWriter(self.directory, self._name, raw, self.max_file_bytes)
        self.form.files.append(self._file.spooled)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None:
            if not self._file.write(memoryview(data)[start:end]):
                self.too_large = True
            return
        if len(self._value) + (end - start) > _MAX_FIELD_BYTES:
            raise WebError(400, f"the form field '{self._name}' is longer than {_MAX_FIELD_BYTES} bytes")
        self._value.extend(data[start:end])

    def _part_end(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            return
        if self._name is not None:
            self.form.fields[self._name] = self._value.decode("utf-8", "replace")

    def finish(self) -> SpooledForm:
        if self._file is not None:
            self._file.close()
            self._file = None
        return self.form


class _FileWriter:
    """One file's bytes to a spool file, hashed on the way; past the limit it stops writing, drops
    what it wrote, and only counts (the body is read to its end before the 413, see above)."""

    def __init__(self, directory: Path, field_name: str, name: str, max_bytes: int) -> None:
        fd, temp = tempfile.mkstemp(prefix=_PREFIX, suffix=".part", dir=directory)
        self.spooled = SpooledFile(field=field_name, name=name, path=Path(temp))
        self._out: IO[bytes] | None = os.fdopen(fd, "wb")
        self._digest = hashlib.sha256()
        self._max_bytes = max_bytes

    def write(self, chunk: memoryview | bytes) -> bool:
        """False once the file is over the limit."""
        self.spooled.size += len(chunk)
        if self.spooled.size > self._max_bytes:
            self.close()
            self.spooled.discard()
            return False
        if self._out is not None:
            self._digest.update(chunk)
            self._out.write(chunk)
        return True

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
            self.spooled.sha256 = self._digest.hexdigest()


async def read_form(
    content_type: str | None, body: AsyncIterator[bytes], home: Path, max_file_bytes: int, *,
    max_files: int = 1,
) -> SpooledForm:
    """Parse a multipart/form-data body into fields and its spooled files (the caller discards them)."""
    kind, options = parse_options_header(content_type or "")
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise WebError(400, "send the file as multipart/form-data (a form with a 'file' part)")
    reader = _FormReader(spool_dir(home), max_file_bytes, max_files)
    parser = MultipartParser(boundary, reader.callbacks())  # type: ignore[arg-type]
    try:
        async for chunk in body:
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        reader.finish().discard()
        raise WebError(400, f"the multipart form is malformed ({exc}); send multipart/form-data") from None
    except BaseException:
        reader.finish().discard()  # a client that went away, a bad part: nothing stays in the spool
        raise
    form = reader.finish()
    if reader.too_large:
        form.discard()
        raise _too_large(max_file_bytes)
    return form


async def read_body(body: AsyncIterator[bytes], home: Path, max_file_bytes: int, name: str) -> SpooledForm:
    """A body that is the file itself (PrusaLink's `PUT /api/v1/files/...`), spooled like a form's
    file part: a form of that one file and no fields (the caller discards it)."""
    writer = _FileWriter(spool_dir(home), "file", name, max_file_bytes)
    form = SpooledForm(files=[writer.spooled])
    fits = True
    try:
        async for chunk in body:
            fits = fits and writer.write(chunk)
    except BaseException:
        writer.close()
        form.discard()  # a client that went away: nothing stays in the spool
        raise
    writer.close()
    if not fits:
        form.discard()
        raise _too_large(max_file_bytes)
    return form


def _too_large(max_file_bytes: int) -> WebError:
    return WebError(
        413, f"the file is larger than the limit of {max_file_bytes / 1e6:.0f} MB ([files] max_file_mb)"
    )


@contextlib.contextmanager
def discarding(form: SpooledForm) -> Iterator[SpooledForm]:
    """Remove the spooled file when done with it, whatever happened."""
    try:
        yield form
    finally:
        form.discard()
