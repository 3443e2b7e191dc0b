"""Did a printer execute what the host sent, exactly once and in order? Checked on the simulator's journal.

The same rules as the test suite (tests/drivers/helpers.py): which commands the host numbers on its
own (hello, temperature polls), which differences the 8-bit XOR checksum cannot see, what counts as a
fragment. Two checks per printer:

* line numbers: every numbered line the printer ran, the host's own included, is the previous one
  plus 1 (none lost, none run twice, none out of order); a reconnect or reboot (M110 / a reset in the
  journal) starts the count again;
* content: the job lines run are the file's lines in order, restarted from the top when a copy is
  printed again (a cancelled copy goes back to the queue), each equal to the file's line or differing
  only where the checksum is blind; and no unnumbered move (the tail of a line cut by the firmware's RX
  flush: a move run twice) ran inside a copy. Other unnumbered lines inside a copy are counted apart as
  strays: a line whose `N` a flipped bit turned into another letter, which Marlin runs unchecked and,
  starting with no command letter it knows, answers as an unknown command (harmless; a single flipped
  bit of `N` never makes a `G`, `M` or `T`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tests.drivers.helpers import HOST_COMMANDS, checksum_blind

OUT_OF_BAND = ("M108", "M112", "M410", "M876")  # what a host may send unnumbered during a job


@dataclass
class JournalCheck:
    printer: str
    numbered: int = 0  # numbered lines run, the host's own included
    out_of_order: list[tuple[int, int]] = field(default_factory=list)  # (previous N, this N)
    job_lines: int = 0
    copies: int = 0  # times the file was started
    identical: int = 0
    checksum_blind: int = 0
    unexplained: list[tuple[int, str, str]] = field(default_factory=list)  # (N, ran, file has)
    fragments: list[str] = field(default_factory=list)  # unnumbered moves inside a copy
    strays: list[str] = field(default_factory=list)  # other unnumbered lines inside a copy

    @property
    def clean(self) -> bool:
        return not self.out_of_order and not self.unexplained and not self.fragments

    def summary(self) -> str:
        verdict = "exactly once, in order" if self.clean else "PROBLEMS"
        text = (
            f"{self.printer}: {verdict}: {self.numbered} numbered lines; {self.job_lines} job lines in "
            f"{self.copies} start(s) of the file, {self.identical} identical, {self.checksum_blind} "
            f"checksum-blind corrupted; out of order {len(self.out_of_order)}, unexplained "
            f"{len(self.unexplained)}, move fragments {len(self.fragments)}, stray unnumbered lines "
            f"{len(self.strays)} (unknown commands)"
        )
        for number, ran, wanted in self.unexplained[:3]:
            text += f"\n    N{number}: ran {ran!r}, the file has {wanted!r}"
        for previous, this in self.out_of_order[:3]:
            text += f"\n    N{this} ran after N{previous}"
        return text


def job_commands(commands: list[str]) -> list[str]:
    """A file's commands as the journal shows them once the host's own commands are left out."""
    return [command for command in commands if not command.startswith(HOST_COMMANDS)]


def check_journal(printer: str, entries: list[dict[str, Any]], file_commands: list[str]) -> JournalCheck:
    """`entries`: the journal's executed commands; `file_commands`: the file as the host streams it."""
    result = JournalCheck(printer)
    expected = job_commands(file_commands)
    previous: int | None = None
    at = 0  # index in `expected` of the next job line
    unnumbered: list[str] = []  # run since the last job line, without a line number
    for entry in entries:
        number, ran = entry.get("n"), str(entry["cmd"])
        if number is None:
            unnumbered.append(ran)
            continue
        result.numbered += 1
        if ran.startswith("M110"):
            previous = None  # the host (re)started the numbering
        elif previous is not None and number != previous + 1:
            result.out_of_order.append((previous, number))
        previous = number
        if ran.startswith(HOST_COMMANDS):
            continue
        result.job_lines += 1
        if at == 0 or (ran == expected[0] and ran != expected[at % len(expected)]):
            result.copies += 1  # the file (re)starts: what ran in between (a cancel's script) is not a job's
            at = 0
        else:  # inside one copy the host numbers every line it sends (but out-of-band emergency commands)
            for stray in unnumbered:
                if re.match(r"[Gg]0*[0-3](?!\d)", stray):
                    result.fragments.append(stray)
                elif not stray.upper().startswith(OUT_OF_BAND):
                    result.strays.append(stray)
        unnumbered = []
        wanted = expected[at] if at < len(expected) else ""
        if ran == wanted:
            result.identical += 1
        elif checksum_blind(wanted, ran):
            result.checksum_blind += 1
        else:
            result.unexplained.append((number, ran, wanted))
        at += 1
    return result
