"""Byte-level parsing of one chunk of G-code with numpy: lines, G0/G1 words, decimal numbers.

Everything here works on the chunk as one uint8 array. `split_lines` raises `Fallback` when the chunk
holds anything it cannot read exactly (lowercase words, `G1X10` without spaces, numbers with
exponents or more than 15 digits); the caller then uses the line-by-line reference interpreter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

_G, SPACE, _TAB, CR, _LF, SEMICOLON = 71, 32, 9, 13, 10, 59
# Word letter -> row in the parsed values: X, Y, Z, E, F.
_LETTER_ROW = np.full(256, -1, dtype=np.int64)
for _row, _letter in enumerate(b"XYZEF"):
    _LETTER_ROW[_letter] = _row
_IS_TERMINATOR = np.zeros(256, dtype=bool)
_IS_TERMINATOR[[SPACE, _TAB, CR, _LF, SEMICOLON]] = True
# Longest number text the fast path decodes; longer ones go to the reference path.
_MAX_NUMBER_TEXT = 24
_POW10_FLOAT = 10.0 ** np.arange(_MAX_NUMBER_TEXT + 1)
_DOT, _MINUS, _PLUS = 46, 45, 43
_IS_DIGIT = np.zeros(256, dtype=bool)
_IS_DIGIT[48:58] = True
_DIGIT_VALUE = np.where(_IS_DIGIT, np.arange(256, dtype=np.float64) - 48, 0.0)
_SHIFT = np.where(_IS_DIGIT, 10.0, 1.0)
# Characters allowed in a number text (0 pads the short ones): a sign only in the first place.
_VALID_REST = _IS_DIGIT.copy()
_VALID_REST[[0, _DOT]] = True
_VALID_FIRST = _VALID_REST.copy()
_VALID_FIRST[[_MINUS, _PLUS]] = True


class Fallback(Exception):
    """The chunk holds something only the reference path reads correctly."""


@dataclass
class Lines:
    data: bytes  # the chunk itself
    starts: IntArray
    ends: IntArray
    cmd_ends: IntArray  # end of the command part (first ';' or the line end)
    g1: IntArray  # indices of the G0/G1 lines
    values: FloatArray  # (5, len(g1)): X, Y, Z, E, F of each G0/G1 line, NaN where absent

    def command_at(self, index: int) -> str:
        """The command part of line `index` (comment and surrounding blanks removed)."""
        raw = self.data[self.starts[index] : self.cmd_ends[index]]
        return raw.decode("utf-8", "replace").strip()


def split_lines(data: bytes) -> Lines:
    arr = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(arr == _LF).astype(np.int64)
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    last = len(arr) - 1
    b0 = arr[starts]
    b1 = arr[np.minimum(starts + 1, last)]
    b2 = arr[np.minimum(starts + 2, last)]
    lengths = ends - starts
    is_g1 = (b0 == _G) & ((b1 == 49) | (b1 == 48)) & _IS_TERMINATOR[b2] & (lengths >= 2)
    semis = np.flatnonzero(arr == SEMICOLON)
    if len(semis):
        k = np.searchsorted(semis, starts)
        first_semi = np.where(k < len(semis), semis[np.minimum(k, len(semis) - 1)], ends)
        cmd_ends = np.minimum(first_semi, ends)
    else:
        cmd_ends = ends.copy()
    g1 = np.flatnonzero(is_g1)

    # Every letter inside a G0/G1 command, except the G itself, must start a word.
    letters = np.flatnonzero(((arr >= 65) & (arr <= 90)) | ((arr >= 97) & (arr <= 122)))
    line_of = np.searchsorted(starts, letters, side="right") - 1
    inside = is_g1[line_of] & (letters < cmd_ends[line_of]) & (letters != starts[line_of])
    letters, line_of = letters[inside], line_of[inside]
    if len(letters) and (arr[letters] >= 97).any():
        raise Fallback("lowercase")
    if len(letters) and not np.isin(arr[letters - 1], (SPACE, _TAB)).all():
        raise Fallback("compact words")
    rows = _LETTER_ROW[arr[letters]]
    wanted = rows >= 0
    letters, line_of, rows = letters[wanted], line_of[wanted], rows[wanted]
    numbers = decode_numbers(arr, letters + 1)
    values = np.full((5, len(ends)), np.nan)
    values[rows, line_of] = numbers
    return Lines(data, starts, ends, cmd_ends, g1, values[:, g1])


def decode_numbers(arr: NDArray[np.uint8], begins: IntArray) -> FloatArray:
    """The decimal numbers starting at `begins` (each ends at a space, ';' or line end).

    The texts are gathered into a fixed-width byte matrix and decoded column by column into an
    exact integer mantissa and a count of fraction digits.
    """
    if len(begins) == 0:
        return np.zeros(0)
    terminators = np.flatnonzero(_IS_TERMINATOR[arr])
    finishes = terminators[np.searchsorted(terminators, begins)]
    lengths = finishes - begins
    width = int(lengths.max())
    if (lengths <= 0).any() or width > _MAX_NUMBER_TEXT:
        raise Fallback("empty or long number")
    # One row per character position, one column per number: rows are contiguous in memory.
    index = begins.astype(np.int32)[None, :] + np.arange(width, dtype=np.int32)[:, None]
    np.minimum(index, len(arr) - 1, out=index)
    texts = np.where(np.arange(width)[:, None] < lengths[None, :], arr[index], 0)
    if not (_VALID_FIRST[texts[0]].all() and _VALID_REST[texts[1:]].all()):
        raise Fallback("not a plain decimal")
    is_dot = texts == _DOT
    dots = is_dot.sum(axis=0)
    signed = (texts[0] == _MINUS) | (texts[0] == _PLUS)
    digits = lengths - dots - signed
    if (dots > 1).any() or (digits <= 0).any() or digits.max() > 15:
        # Up to 15 digits the integer mantissa is exact in float64, so mantissa / 10**k is
        # exactly what float() returns; anything else goes to the reference path.
        raise Fallback("malformed or long number")
    # Horner's rule, one character position at a time: a digit shifts the mantissa left and adds
    # itself; anything else (sign, dot, padding) multiplies by 1 and adds 0.
    mantissa = np.zeros(len(begins))
    scale = np.empty(len(begins))
    digit = np.empty(len(begins))
    for row in texts:
        np.take(_SHIFT, row, out=scale)
        np.take(_DIGIT_VALUE, row, out=digit)
        np.multiply(mantissa, scale, out=mantissa)
        np.add(mantissa, digit, out=mantissa)
    fraction_digits = np.where(dots > 0, lengths - np.argmax(is_dot, axis=0) - 1, 0)
    values: FloatArray = mantissa / _POW10_FLOAT[fraction_digits]
    return np.where(texts[0] == _MINUS, -values, values)


def forward_fill(values: FloatArray, initial: float) -> FloatArray:
    """Carry the last non-NaN value forward; `initial` before the first one."""
    padded = np.concatenate(([initial], values))
    present = ~np.isnan(padded)
    index = np.where(present, np.arange(len(padded)), 0)
    np.maximum.accumulate(index, out=index)
    filled: FloatArray = padded[index][1:]
    return filled
