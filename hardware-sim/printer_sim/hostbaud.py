"""The baud rate a host set on a pseudo-terminal, seen from the master side.

On Linux both sides of a pty share one termios, so the simulator can see what the host asked for.
A real printer opened at the wrong baud rate only produces garbage in both directions; with
`--enforce-baud` the simulator does the same, so a host's auto-baud detection can be tested.
"""

from __future__ import annotations

import fcntl
import struct
import termios

_TCGETS2 = 0x802C542A  # _IOR('T', 0x2A, struct termios2): arbitrary rates (BOTHER), e.g. 250000
_BOTHER = 0o010000
_OSPEED_OFFSET = 40  # struct termios2: 4 flags, c_line, c_cc[19], c_ispeed, c_ospeed
_STANDARD = {
    getattr(termios, name): int(name[1:]) for name in dir(termios) if name[:1] == "B" and name[1:].isdigit()
}
_GARBLE = bytes(byte ^ 0x80 for byte in range(256))


def host_baud(master_fd: int) -> int | None:
    """The output speed the host configured, or None if it cannot be read."""
    try:
        speed = termios.tcgetattr(master_fd)[5]
    except termios.error:
        return None
    if speed != _BOTHER and speed in _STANDARD:
        return _STANDARD[speed]
    try:
        raw = fcntl.ioctl(master_fd, _TCGETS2, bytes(44))
    except OSError:
        return None
    return int(struct.unpack_from("I", raw, _OSPEED_OFFSET)[0])


def garble(data: bytes) -> bytes:
    """Bytes sampled at the wrong rate: never a clean ASCII line (no "ok", no newline)."""
    return data.translate(_GARBLE)
