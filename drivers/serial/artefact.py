"""Pre-flight artefacts: a stored file's pre-flight kept beside it in the farm's file store.

The pre-flight of a file (preflight.py) is made once, when the file is queued, in the same pass as its
analysis (farmctl/app/queueing.py), and saved as `<sha256>.preflight<FORMAT>` next to `<sha256>.gcode`.
A dispatch then loads that index (a few ms for the densest file of the corpus) instead of reading and
cleaning the whole file on the daemon's supervisor thread (0.4 s for it, issue 16).

An artefact is a cache, never the truth. It is used only when everything about it holds: the format,
its checksum, the sha256 and size of the file it was made of, the line limit it was checked for (or one
that changes nothing, `PreflightIndex.fits`). Anything else (missing, from an older farmctl, cut short,
bit-flipped, made for another limit) reads as "none", and the caller pre-flights the file as it always
did; a file pulled from a site's centre or fetched from a shared database arrives without one, and
gets one from whoever pre-flights it first. The file's blocks are still checked against their digests
as they are streamed (FileCommands), so even an artefact that lied could not send other bytes.

Artefacts are made for Marlin's default line limit (MAX_CMD_SIZE), the one every printer of the daemon
has unless configured otherwise.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from array import array
from pathlib import Path

from farmctl.drivers.serial.preflight import (
    BLOCK_COMMANDS,
    DIGEST_BYTES,
    MAX_CMD_SIZE,
    PreflightError,
    PreflightIndex,
    PreflightResult,
    preflight_index,
)

from farmctl.files import FileStore

FORMAT = 1  # raise it whenever the index or the cleaning rules change: older artefacts are then ignored
SUFFIX = f"preflight{FORMAT}"
_MAGIC = b"farmctl-preflight\n"
_CHECK_BYTES = 16


def encode(index: PreflightIndex, sha256: str) -> bytes:
    header = {
        "format": FORMAT, "sha256": sha256, "size": index.size, "encoding": index.encoding,
        "max_line_bytes": index.max_line_bytes, "block_commands": BLOCK_COMMANDS, "byteorder": sys.byteorder,
        "shortened": index.shortened, "total_bytes": index.total_bytes, "longest": index.longest,
        "starts": len(index.starts), "digests": len(index.digests), "commands": len(index.source_lines),
        "itemsizes": [index.starts.itemsize, index.source_lines.itemsize],
    }
    head = json.dumps(header, separators=(",", ":")).encode()
    body = b"".join((_MAGIC, len(head).to_bytes(4, "little"), head, index.starts.tobytes(), index.digests,
                     index.source_lines.tobytes()))
    return body + hashlib.blake2b(body, digest_size=_CHECK_BYTES).digest()


def decode(data: bytes, sha256: str, size: int) -> PreflightIndex | None:
    """The index in `data` if it is whole and was made of this file (sha256, size), else None."""
    body, check = data[:-_CHECK_BYTES], data[-_CHECK_BYTES:]
    if not body.startswith(_MAGIC) or hashlib.blake2b(body, digest_size=_CHECK_BYTES).digest() != check:
        return None
    try:
        at = len(_MAGIC) + 4
        length = int.from_bytes(body[len(_MAGIC) : at], "little")
        header = json.loads(body[at : at + length])
        starts, source_lines = array("q"), array("I")
        expected = {"format": FORMAT, "sha256": sha256, "size": size, "block_commands": BLOCK_COMMANDS,
                    "byteorder": sys.byteorder, "itemsizes": [starts.itemsize, source_lines.itemsize]}
        if any(header.get(key) != value for key, value in expected.items()):
            return None
        at += length
        end = at + header["starts"] * starts.itemsize
        starts.frombytes(body[at:end])
        digests = body[end : end + header["digests"]]
        source_lines.frombytes(body[end + header["digests"] :])
        commands = header["commands"]
        blocks = -(-commands // BLOCK_COMMANDS)
        if (len(source_lines) != commands or len(starts) != blocks + 1 or starts[-1] != size
                or len(digests) != blocks * DIGEST_BYTES):
            return None
        return PreflightIndex(size, str(header["encoding"]), int(header["max_line_bytes"]), starts, digests,
                              source_lines, int(header["shortened"]), int(header["total_bytes"]),
                              int(header["longest"]))
    except (ValueError, KeyError, TypeError):
        return None


class PreflightArtefacts:
    """The artefacts of one file store; what a PreflightCache consults before reading a file."""

    def __init__(self, files: FileStore) -> None:
        self.files = files

    def load(self, path: Path, max_line_bytes: int) -> PreflightResult | None:
        """The pre-flight of the stored file at `path` for this line limit from its artefact; None when
        there is no usable one (the caller pre-flights the file)."""
        sha = self.files.sha_of(path)
        index = self._index(sha, path) if sha is not None else None
        if index is None or not index.fits(max_line_bytes):
            return None
        return index.result(path, max_line_bytes)

    def keep(self, path: Path, index: PreflightIndex) -> None:
        """Save the pre-flight a reader just made of the stored file at `path` (for the default limit)."""
        sha = self.files.sha_of(path)
        if sha is not None and index.max_line_bytes == MAX_CMD_SIZE:
            self.save(sha, index)

    def save(self, sha256: str, index: PreflightIndex) -> bool:
        """Write the artefact (whole or not at all: a temporary file renamed into place). False when it
        could not be written: nothing is lost but time, at the first dispatch."""
        final = self.files.sidecar(sha256, SUFFIX)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=".preflight-", suffix=".part", dir=final.parent)
        except OSError:
            return False
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(encode(index, sha256))
            os.replace(temp, final)
            return True
        except OSError:
            return False
        finally:
            Path(temp).unlink(missing_ok=True)

    def ensure(self, sha256: str) -> bool:
        """Make the artefact of a stored file that has none usable (a file pulled or fetched from
        elsewhere), off the thread that dispatches. True when one is there afterwards."""
        path = self.files.path_for(sha256)
        if self._index(sha256, path) is not None:
            return True
        try:
            index = preflight_index(path)
        except PreflightError:  # missing, or refused: the dispatch reports it as it always did
            return False
        return self.save(sha256, index)

    def _index(self, sha256: str, path: Path) -> PreflightIndex | None:
        try:
            size = path.stat().st_size
            data = self.files.sidecar(sha256, SUFFIX).read_bytes()
        except OSError:
            return None
        return decode(data, sha256, size)
