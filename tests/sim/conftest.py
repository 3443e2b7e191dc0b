"""Fixtures: a booted printer per test, over pty and over TCP.

Tests that need nothing special share a pool: one simulator process per transport with many
printers, each printer used by exactly one test (it resets when the test opens it, and its
journal holds only that test's commands). Tests that pass options (profile, faults, speed ...)
or need the exit stats (`dedicated=True`) get a process of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.sim.host import Host
from tests.support.simulator import RunningSimulator, running_simulator

POOL_SIZE = 40
DEFAULT_SPEED = 50  # physical time (homing, heating) 50x faster: quick tests


class PooledPrinter:
    """One printer of a shared simulator, with the RunningSimulator methods a test uses."""

    def __init__(self, sim: RunningSimulator, index: int) -> None:
        self._sim = sim
        self._index = index
        self.endpoints = [sim.endpoints[index]]

    def journal(self, index: int = 0) -> list[dict[str, Any]]:
        return self._sim.journal(self._index)

    def events(self, index: int = 0) -> list[dict[str, Any]]:
        return self._sim.events(self._index)

    def executed(self, index: int = 0) -> list[str]:
        return self._sim.executed(self._index)

    def wait_journal(self, predicate: Any, index: int = 0, timeout: float = 10.0) -> list[dict[str, Any]]:
        return self._sim.wait_journal(predicate, self._index, timeout)


class _Pool:
    def __init__(self, transport: str, directory: Path) -> None:
        self.transport = transport
        self.directory = directory
        self.stack = ExitStack()
        self.sim: RunningSimulator | None = None
        self.next_index = POOL_SIZE

    def lease(self) -> PooledPrinter:
        if self.sim is None or self.next_index >= POOL_SIZE:
            journal_dir = self.directory / f"{self.transport}-{len(list(self.directory.glob('*')))}"
            self.sim = self.stack.enter_context(
                running_simulator(
                    count=POOL_SIZE, transport=self.transport, speed=DEFAULT_SPEED, journal_dir=journal_dir
                )
            )
            self.next_index = 0
        self.next_index += 1
        return PooledPrinter(self.sim, self.next_index - 1)


@pytest.fixture(scope="session")
def _pools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, _Pool]]:
    directory = tmp_path_factory.mktemp("sim-pool")
    pools = {transport: _Pool(transport, directory) for transport in ("pty", "tcp")}
    yield pools
    for pool in pools.values():
        pool.stack.close()


@pytest.fixture(params=["pty", "tcp"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


Booted = tuple[Any, Host]


@pytest.fixture
def printer(
    transport: str, tmp_path: Path, _pools: dict[str, _Pool]
) -> Callable[..., AbstractContextManager[Booted]]:
    """printer(**running_simulator kwargs, dedicated=False) -> context manager of (sim, booted host)."""

    @contextmanager
    def start(dedicated: bool = False, **kwargs: Any) -> Iterator[Booted]:
        if not kwargs and not dedicated:
            handle = _pools[transport].lease()
            with Host(handle.endpoints[0]) as host:
                host.wait_boot()
                yield handle, host
            return
        kwargs.setdefault("journal_dir", tmp_path / "journal")
        kwargs.setdefault("speed", DEFAULT_SPEED)
        with running_simulator(transport=transport, **kwargs) as sim, Host(sim.endpoints[0]) as host:
            if kwargs.get("reset_on_open", True):
                host.wait_boot()
            else:
                host.wait_ready()
            yield sim, host

    return start
