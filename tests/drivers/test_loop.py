"""The shared link loop: one link's failure stays its own, and its timers fire without traffic."""

from __future__ import annotations

import os
import threading
import time

import pytest
from farmctl.drivers.serial.loop import LinkLoop


class EchoCounter:
    """Counts the bytes that arrive on a pipe; optionally raises on the first of them (a bug)."""

    def __init__(self, fd: int, explode: bool = False) -> None:
        self.fd = fd
        self.explode = explode
        self.deadline = time.monotonic() + 60
        self.received = 0
        self.crashed: BaseException | None = None
        self.got = threading.Event()

    def fileno(self) -> int | None:
        return self.fd

    def on_readable(self, now: float) -> None:
        data = os.read(self.fd, 4096)
        if self.explode:
            raise RuntimeError("bug in one link")
        self.received += len(data)
        self.got.set()

    def on_writable(self, now: float) -> None:
        pass

    def on_timer(self, now: float) -> None:
        self.deadline = now + 60

    def on_crash(self, error: BaseException) -> None:
        self.crashed = error


def test_a_crashing_link_is_dropped_and_the_others_go_on(capsys: pytest.CaptureFixture[str]) -> None:
    loop = LinkLoop("test")
    loop.start()
    bad_r, bad_w = os.pipe()
    good_r, good_w = os.pipe()
    bad, good = EchoCounter(bad_r, explode=True), EchoCounter(good_r)
    try:
        loop.call(lambda: loop.add(bad))
        loop.call(lambda: loop.add(good))
        os.write(bad_w, b"x")
        os.write(good_w, b"hello")
        assert good.got.wait(5)
        deadline = time.monotonic() + 5
        while bad.crashed is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert isinstance(bad.crashed, RuntimeError)
        good.got.clear()
        os.write(bad_w, b"y")  # the crashed link is no longer watched: nothing happens
        os.write(good_w, b"again")
        assert good.got.wait(5) and good.received == len("helloagain")
        assert "bug in one link" in capsys.readouterr().err  # the traceback is logged, not swallowed
    finally:
        loop.close()
        for fd in (bad_r, bad_w, good_r, good_w):
            os.close(fd)


def test_timers_fire_without_any_traffic() -> None:
    loop = LinkLoop("test")
    loop.start()
    fired = threading.Event()
    read_fd, write_fd = os.pipe()

    class Timed(EchoCounter):
        def on_timer(self, now: float) -> None:
            fired.set()
            self.deadline = now + 60

    timed = Timed(read_fd)
    timed.deadline = time.monotonic() + 0.05
    try:
        loop.call(lambda: loop.add(timed))
        assert fired.wait(2)
    finally:
        loop.close()
        os.close(read_fd)
        os.close(write_fd)
