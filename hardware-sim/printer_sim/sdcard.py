"""A small virtual SD card: enough for hosts that list, select and print files (M20-M27)."""

from __future__ import annotations

from printer_sim.profile import SdFile


class SdCard:
    def __init__(self, files: tuple[SdFile, ...]) -> None:
        self.files = {f.name.upper(): f.gcode.encode("latin-1", "replace") for f in files}
        self.mounted = True
        self.selected: str | None = None
        self.position = 0
        self.printing = False

    def open(self, name: str) -> int | None:
        """Select a file for printing; returns its size, or None if there is no such file."""
        key = name.strip().upper()
        if key not in self.files:
            return None
        self.selected = key
        self.position = 0
        self.printing = False
        return len(self.files[key])

    @property
    def size(self) -> int:
        return len(self.files[self.selected]) if self.selected else 0

    def next_line(self) -> str | None:
        """The next raw line of the selected file, or None at the end."""
        if not self.selected:
            return None
        data = self.files[self.selected]
        if self.position >= len(data):
            return None
        end = data.find(b"\n", self.position)
        end = len(data) if end < 0 else end
        line = data[self.position : end]
        self.position = end + 1
        return line.decode("latin-1")

    def at_end(self) -> bool:
        return self.selected is None or self.position >= self.size
