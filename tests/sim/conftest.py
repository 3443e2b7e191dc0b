"""Fixtures: a fresh simulator process per test, over pty and over TCP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.sim.host import Host
from tests.support.simulator import RunningSimulator, running_simulator

Booted = tuple[RunningSimulator, Host]


@pytest.fixture(params=["pty", "tcp"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def printer(transport: str, tmp_path: Path) -> Callable[..., AbstractContextManager[Booted]]:
    """printer(**running_simulator kwargs) -> context manager yielding (sim, booted host)."""

    @contextmanager
    def start(**kwargs: Any) -> Iterator[Booted]:
        kwargs.setdefault("journal_dir", tmp_path / "journal")
        kwargs.setdefault("speed", 50)  # physical time (homing, heating) 50x faster: quick tests
        with running_simulator(transport=transport, **kwargs) as sim, Host(sim.endpoints[0]) as host:
            if kwargs.get("reset_on_open", True):
                host.wait_boot()
            else:
                host.wait_ready()
            yield sim, host

    return start
