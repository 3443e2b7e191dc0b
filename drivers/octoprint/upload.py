"""Streamed multipart upload bodies and safe file names for OctoPrint.

octorest 0.4's ``upload()`` builds the body with ``requests``' ``files=``, which reads the whole file
into memory, offers no progress, and silently drops the ``select``/``print``/``path`` form fields
(they are passed as ``json=``, which requests ignores next to ``files=``). `MultipartFile` is a
file-like body that requests streams chunk by chunk with a known Content-Length, reporting
progress as it goes, with the form fields sent as real form fields.
"""

from __future__ import annotations

import os
import re
import secrets
import unicodedata
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import BinaryIO

#: Called as progress(bytes_sent, bytes_total) from the uploading thread.
ProgressCallback = Callable[[int, int], None]

GCODE_SUFFIXES = (".gcode", ".gco", ".g")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_NAME = 96  # OctoPrint itself allows more; long names only make listings unreadable


def safe_file_name(name: str, *, prefix: str = "") -> str:
    """A file name OctoPrint stores unchanged, so the path farmctl computes is the path it prints.

    Only ASCII letters, digits, ``.``, ``_`` and ``-`` survive (accents are folded, anything else
    becomes ``_``); no leading dot, no ``..``; the G-code suffix is kept or added; an optional
    prefix (e.g. the job id) makes names from different jobs distinct.
    """
    stem, suffix = os.path.splitext(os.path.basename(name.replace("\\", "/")))
    if suffix.lower() not in GCODE_SUFFIXES:
        stem, suffix = stem + suffix, ".gcode"
    folded = unicodedata.normalize("NFKD", f"{prefix}{stem}").encode("ascii", "ignore").decode()
    cleaned = _UNSAFE.sub("_", folded).replace("..", "_").strip("._-")
    cleaned = cleaned[: _MAX_NAME - len(suffix)] or "job"
    return cleaned + suffix.lower()


class MultipartFile:
    """A multipart/form-data body over an open file: form fields, then the file, then the trailer.

    requests sends a body object that has ``read`` and a length as a stream (no chunked encoding, no
    copy in memory). Progress counts only file bytes, so 100 % means the file itself is sent.
    """

    CHUNK = 256 * 1024

    def __init__(
        self,
        stream: BinaryIO,
        *,
        file_name: str,
        size: int,
        fields: Mapping[str, str],
        progress: ProgressCallback | None = None,
    ) -> None:
        self.boundary = "farmctl-" + secrets.token_hex(16)
        head = b"".join(
            self._part_header(f'name="{key}"') + value.encode() + b"\r\n" for key, value in fields.items()
        )
        head += self._part_header(f'name="file"; filename="{file_name}"',
                                  content_type="application/octet-stream")
        self._head = head
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()
        self._stream = stream
        self._size = size
        self._progress = progress
        self._sent_file = 0
        self._stage = 0  # 0 head, 1 file, 2 tail, 3 done
        self._offset = 0

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return len(self._head) + self._size + len(self._tail)

    def _part_header(self, disposition: str, content_type: str | None = None) -> bytes:
        lines = [f"--{self.boundary}", f"Content-Disposition: form-data; {disposition}"]
        if content_type:
            lines.append(f"Content-Type: {content_type}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def read(self, size: int = -1) -> bytes:
        want = self.CHUNK if size is None or size < 0 else size
        while self._stage < 3:
            if self._stage == 0:
                chunk = self._head[self._offset:self._offset + want]
                self._offset += len(chunk)
                if self._offset >= len(self._head):
                    self._stage, self._offset = 1, 0
                    self._report()
                if chunk:
                    return chunk
            elif self._stage == 1:
                remaining = self._size - self._sent_file
                chunk = self._stream.read(min(want, remaining)) if remaining > 0 else b""
                if not chunk:
                    if remaining > 0:
                        raise OSError(f"file shrank while uploading: {remaining} bytes missing")
                    self._stage = 2
                    continue
                self._sent_file += len(chunk)
                self._report()
                return chunk
            else:
                chunk = self._tail[self._offset:self._offset + want]
                self._offset += len(chunk)
                if self._offset >= len(self._tail):
                    self._stage = 3
                return chunk
        return b""

    def _report(self) -> None:
        if self._progress is not None:
            self._progress(self._sent_file, self._size)


def open_upload(path: Path) -> tuple[BinaryIO, int]:
    stream = open(path, "rb")  # noqa: SIM115 - the caller closes it after the request
    return stream, os.fstat(stream.fileno()).st_size
