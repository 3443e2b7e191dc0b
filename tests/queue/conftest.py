"""Fixtures for the queue tests: a farm home with a SQLite store, and a private PostgreSQL database."""

from __future__ import annotations

import hashlib
import json
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from farmctl.app.farm import open_store
from farmctl.cli.main import main
from farmctl.store import FileInfo, Job, JobStore, NewJob, PrinterSpec
from tests.support.postgres import temporary_database


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "farm"
    path.mkdir()
    return path


@pytest.fixture
def store(home: Path) -> Iterator[JobStore]:
    with open_store(home) as opened:
        yield opened


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A uniquely named database on the local PostgreSQL, dropped after the session."""
    with temporary_database("farmctl_queue") as url:
        yield url


def fake_file(name: str = "part.gcode", *, seconds: float = 3600.0, size_mm: float = 20.0) -> FileInfo:
    sha = hashlib.sha256(f"{name}-{uuid.uuid4()}".encode()).hexdigest()
    return FileInfo(
        sha256=sha,
        size=1234,
        name=name,
        estimated_time_s=seconds,
        bbox_min=(0.0, 0.0, 0.0),
        bbox_max=(size_mm, size_mm, size_mm),
    )


def add_job(store: JobStore, *, copies: int = 1, seconds: float = 3600.0, **kw: object) -> Job:
    info = fake_file(seconds=seconds)
    new = NewJob(file_sha=info.sha256, name=info.name, copies=copies, **kw)  # type: ignore[arg-type]
    return store.add_jobs([new], [info])[0]


def add_printer(store: JobStore, pid: str, **kw: object) -> None:
    port = 10_000 + int.from_bytes(pid.encode()) % 50_000  # one port per printer id (never shared)
    spec = PrinterSpec(id=pid, kind="serial", connection={"port": f"socket://127.0.0.1:{port}"}, **kw)  # type: ignore[arg-type]
    store.add_printer(spec)


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out)


@pytest.fixture
def farm(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Result]:
    """Run `farmctl --home HOME ARGS...` in this process; returns exit code, stdout, stderr."""
    monkeypatch.delenv("FARMCTL_HOME", raising=False)

    def run(*args: str) -> Result:
        return run_cli(home, args, capsys, monkeypatch)

    return run


def run_cli(
    home: Path, args: tuple[str, ...], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Result:
    """`farmctl --home HOME ARGS...` in this process: exit code, stdout, stderr."""
    monkeypatch.setattr(sys, "argv", ["farmctl", "--home", str(home), *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def one_line_error(result: Result, *needles: str) -> None:
    assert result.code != 0, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("farmctl: error: "), result.err
    for needle in needles:
        assert needle in lines[0], lines[0]
