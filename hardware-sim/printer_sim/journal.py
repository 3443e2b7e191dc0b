"""The journal: one JSON object per executed command, so tests can prove exactly-once delivery.

Lines with "cmd" are executed commands ({"n": line number or null, "cmd": text, "t": seconds since
the simulator started, "src": "serial" or "sd"}); lines with "event" record resets, kills and
unplugs; the last line written at exit holds {"stats": {...}}. Rule S13 in docs/serial-rules.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json.encoder import encode_basestring
from pathlib import Path
from typing import IO, Any

_SOURCES = {"serial": encode_basestring("serial"), "sd": encode_basestring("sd")}


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] = path.open("a", encoding="utf-8")
        self._dirty = False
        # Called once when the journal gets something to flush (the event loop keeps a list of those,
        # instead of asking every printer's journal on every pass).
        self.on_dirty: Callable[[Journal], None] | None = None

    def command(self, line_number: int | None, text: str, t: float, source: str) -> None:
        # Written for every executed line, so formatted by hand: exactly what
        # json.dumps({"n": ..., "cmd": ..., "t": ..., "src": ...}, ensure_ascii=False) writes
        # (json quotes strings with encode_basestring and writes numbers with repr).
        number = "null" if line_number is None else repr(line_number)
        quoted = _SOURCES.get(source) or encode_basestring(source)
        self._file.write(
            f'{{"n": {number}, "cmd": {encode_basestring(text)}, "t": {round(t, 6)!r}, "src": {quoted}}}\n'
        )
        if not self._dirty:
            self._mark_dirty()

    def event(self, name: str, t: float, **details: Any) -> None:
        self._file.write(json.dumps({"event": name, "t": round(t, 6), **details}) + "\n")
        if not self._dirty:
            self._mark_dirty()

    def stats(self, stats: dict[str, Any]) -> None:
        self._file.write(json.dumps({"stats": stats}) + "\n")
        if not self._dirty:
            self._mark_dirty()

    def _mark_dirty(self) -> None:
        self._dirty = True
        if self.on_dirty is not None:
            self.on_dirty(self)

    @property
    def dirty(self) -> bool:
        return self._dirty

    def flush(self) -> None:
        if self._dirty:
            self._file.flush()
            self._dirty = False

    def close(self) -> None:
        self.flush()
        self._file.close()
