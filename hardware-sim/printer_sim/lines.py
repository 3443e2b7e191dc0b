"""Marlin's serial line handling (process_stream_char + get_serial_commands), as a pure class.

Characters go in; complete lines come out as a typed result: a validated command, a line error
(one of Marlin's three), or nothing (an empty or comment-only line, which gets no `ok`).
Rules S2 (exact error strings) and S4 (M110) in docs/serial-rules.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

_NUMBER_PREFIX = re.compile(r"N-?\d*")
_LEADING_INT = re.compile(r"\s*([-+]?\d+)")
# What a streaming host sends for nearly every line: "N<digits> <command>*<digits>", nothing before
# the N, one '*' and no NUL. Such a line can skip the general parse (see _numbered_line).
_PLAIN_NUMBERED = re.compile(rb"N(\d+)([^*\x00]*)\*(\d+)")


class LineErrorKind(Enum):
    LINE_NUMBER = ("line_number", "Line Number is not Last Line Number+1, Last Line: ")
    CHECKSUM = ("checksum", "checksum mismatch, Last Line: ")
    NO_CHECKSUM = ("no_checksum", "No Checksum with line number, Last Line: ")

    @property
    def stat(self) -> str:
        return self.value[0]

    @property
    def message(self) -> str:
        return self.value[1]


@dataclass(frozen=True)
class ReceivedLine:
    text: str  # without line number, checksum or comment
    line_number: int | None
    numbered_prefix: str  # "N123" when the line started with N (ADVANCED_OK echoes it)


@dataclass(frozen=True)
class LineError:
    kind: LineErrorKind


class LineReader:
    def __init__(self, max_cmd_size: int) -> None:
        self.limit = max_cmd_size - 1  # the buffer keeps a terminating NUL
        self.last_n = 0
        self._line = bytearray()
        self._skipping = False  # after ';' or an overflow: ignore until the end of the line

    def clear(self) -> None:
        self._line.clear()
        self._skipping = False

    def take(self, chunk: bytes) -> None:
        """Characters of the current line (no end-of-line bytes in `chunk`)."""
        if self._skipping or not chunk:
            return
        if b"\x08" in chunk:  # backspace erases the previous character
            for byte in chunk:
                if self._skipping:
                    return
                if byte == 0x08:
                    if self._line:
                        self._line.pop()
                else:
                    self.take(bytes((byte,)))
            return
        comment = chunk.find(b";")
        if comment >= 0:
            chunk = chunk[:comment]
            self._skipping = True
        room = self.limit - len(self._line)
        if len(chunk) >= room:
            chunk = chunk[: max(room, 0)]
            self._skipping = True  # "Skip the rest on overflow": the line is truncated
        self._line += chunk

    def end_line(self) -> ReceivedLine | LineError | None:
        """An end-of-line byte arrived: validate the line like get_serial_commands()."""
        raw = bytes(self._line)
        self.clear()
        plain = _PLAIN_NUMBERED.fullmatch(raw)
        if plain is not None and b"M110" not in raw:
            return self._numbered_line(raw, plain)
        nul = raw.find(b"\x00")
        if nul >= 0:
            raw = raw[:nul]  # the firmware keeps lines as C strings
        raw = raw.lstrip(b" ")
        text = raw.decode("latin-1")
        if not text or text.startswith("!!DEBUG:"):
            return None  # empty lines get no ok; simulator control lines were handled on arrival
        line_number: int | None = None
        prefix = ""
        if text[0] == "N":
            number_at = 0
            if "M110" in text:  # the last N on an M110 line is the new line number
                second = text.find("N", text.find("M110") + 4)
                if second >= 0:
                    number_at = second
            number = leading_int(text, number_at + 1)
            head = _NUMBER_PREFIX.match(text)
            prefix = head.group(0) if head else "N"
            if number != self.last_n + 1 and "M110" not in text:
                return LineError(LineErrorKind.LINE_NUMBER)
            star = text.rfind("*")
            if star < 0:
                return LineError(LineErrorKind.NO_CHECKSUM)
            if leading_int(text, star + 1) != xor_of(raw[:star]):
                return LineError(LineErrorKind.CHECKSUM)
            self.last_n = line_number = number
            text = text[len(prefix) :]
        star = text.find("*")
        if star >= 0:
            text = text[:star]
        text = text.strip()
        if not text:
            return None
        return ReceivedLine(text, line_number, prefix)

    def _numbered_line(self, raw: bytes, plain: re.Match[bytes]) -> ReceivedLine | LineError | None:
        """end_line() for a plain numbered line, with the same checks in the same order: a C
        string without NUL or leading blanks, whose only '*' is the checksum's, and no M110 (whose
        last N is the number). It runs for every streamed line, so it avoids the general parse."""
        number = int(plain.group(1))
        if number != self.last_n + 1:
            return LineError(LineErrorKind.LINE_NUMBER)
        if int(plain.group(3)) != xor_of(raw[: plain.start(3) - 1]):
            return LineError(LineErrorKind.CHECKSUM)
        self.last_n = number
        text = plain.group(2).decode("latin-1").strip()
        if not text:
            return None
        return ReceivedLine(text, number, "N" + plain.group(1).decode("latin-1"))


def xor_of(data: bytes) -> int:
    """The XOR of all bytes (Marlin's line checksum). Every streamed line is checked, so instead of one
    interpreted step per byte the bytes are read as one integer whose upper half is XORed onto its lower
    half until a single byte is left: a few big-integer operations per line."""
    value = int.from_bytes(data, "little")
    size = len(data)
    while size > 1:
        keep = (size + 1) // 2
        value = (value >> (8 * keep)) ^ (value & ((1 << (8 * keep)) - 1))
        size = keep
    return value


def leading_int(text: str, start: int) -> int:
    """strtol(): the integer at `start`, 0 if there is none."""
    found = _LEADING_INT.match(text, start)
    return int(found.group(1)) if found else 0
