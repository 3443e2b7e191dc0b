"""The "queue files" use case as a web upload calls it: typed errors, upload names, held jobs.

`farmctl jobs add` is the same use case with paths (tests/queue/test_cli.py covers it end to end).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from farmctl.app.farm import Farm
from farmctl.app.queueing import (
    FileRejected,
    FileTooLarge,
    FileToQueue,
    PartTooBig,
    QueueRequest,
    queue_files,
)
from farmctl.errors import NotFound, UserError
from farmctl.ids import UnknownPrinter
from farmctl.scheduler.model import JobState
from farmctl.store import PrinterSpec

SAMPLES = Path(__file__).resolve().parents[2] / "farmctl" / "samples"
CUBE = SAMPLES / "cube25_cura.gcode"


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[Farm]:
    with Farm.open(tmp_path / "farm", create=True) as opened:
        add_printers(opened)
        yield opened


def add_printers(opened: Farm) -> None:
    opened.store.add_printer(
        PrinterSpec(id="mini", kind="serial", connection={"port": "socket://127.0.0.1:9"},
                    bed_mm=(10.0, 10.0, 10.0))
    )
    opened.store.add_printer(
        PrinterSpec(id="big", kind="serial", connection={"port": "socket://127.0.0.1:8"},
                    bed_mm=(250.0, 210.0, 210.0))
    )


def upload(tmp_path: Path, source: Path, name: str) -> FileToQueue:
    """Like a web upload: the bytes in a temporary file, the name the slicer sent beside them."""
    temp = tmp_path / "upload-7f3a.tmp"
    shutil.copyfile(source, temp)
    return FileToQueue(temp, name=name)


def test_an_upload_becomes_a_job_named_as_sent(farm: Farm, tmp_path: Path) -> None:
    jobs = queue_files(farm, [upload(tmp_path, CUBE, "housing.gcode")], QueueRequest(copies=2, priority=10))
    assert [(j.name, j.copies, j.priority, j.state) for j in jobs] == [
        ("housing.gcode", 2, 10, JobState.QUEUED)
    ]
    assert farm.files.has(jobs[0].file_sha)
    assert jobs[0].file.estimated_time_s and jobs[0].file.estimated_time_s > 0


def test_held_upload_waits_for_release(farm: Farm, tmp_path: Path) -> None:
    [job] = queue_files(farm, [upload(tmp_path, CUBE, "a.gcode")], QueueRequest(held=True))
    assert job.state is JobState.HELD
    assert farm.store.release_job(job.id).state is JobState.QUEUED


def test_rejections_name_the_upload_not_the_temporary_file(farm: Farm, tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not G-code at all\n" * 20)
    with pytest.raises(FileRejected) as caught:
        queue_files(farm, [upload(tmp_path, text, "notes.gcode")], QueueRequest())
    assert caught.value.file == "notes.gcode"
    assert "notes.gcode" in caught.value.message and "upload-7f3a" not in caught.value.message
    assert len(caught.value.message.splitlines()) == 1


def test_too_large_is_its_own_type(farm: Farm, tmp_path: Path) -> None:
    (farm.home / "farm.toml").write_text("[files]\nmax_file_mb = 1\n")
    big = tmp_path / "big.gcode"
    big.write_bytes(b"G1 X1 Y1\n" * 200_000)  # 1.8 MB
    too_large = pytest.raises(FileTooLarge, match=r"big.gcode: 2 MB is larger than the limit of 1 MB")
    with Farm.open(farm.home) as reopened, too_large:
        queue_files(reopened, [FileToQueue(big)], QueueRequest())


def test_part_too_big_for_the_pinned_printer(farm: Farm) -> None:
    with pytest.raises(PartTooBig, match=r"too big for printer mini \(mini 10x10x10\)"):
        queue_files(farm, [FileToQueue(CUBE)], QueueRequest(printer_id="mini"))


def test_unknown_printer_and_order_are_typed(farm: Farm) -> None:
    with pytest.raises(UnknownPrinter) as caught:
        queue_files(farm, [FileToQueue(CUBE)], QueueRequest(printer_id="ghost"))
    assert caught.value.printer_id == "ghost" and caught.value.message == "no printer ghost"
    with pytest.raises(NotFound):
        queue_files(farm, [FileToQueue(CUBE)], QueueRequest(order_id=99))
    with pytest.raises(UserError, match="copies must be at least 1"):
        queue_files(farm, [FileToQueue(CUBE)], QueueRequest(copies=0))


def test_all_or_none(farm: Farm, tmp_path: Path) -> None:
    """A bad second file: the good first one is neither queued nor copied into the file store."""
    with pytest.raises(FileRejected, match="no such file"):
        queue_files(farm, [FileToQueue(CUBE), FileToQueue(tmp_path / "missing.gcode")], QueueRequest())
    assert farm.store.list_jobs().total == 0
    assert list(farm.files.root.rglob("*.gcode")) == []


def test_a_queued_file_is_preflighted_in_the_same_pass_and_kept(farm: Farm, tmp_path: Path) -> None:
    """The daemon's dispatch finds the pre-flight made here (drivers/serial/artefact.py) instead of reading
    the whole file on its supervisor thread; what it loads is what a fresh check of the stored file gives."""
    from farmctl.drivers.serial.artefact import SUFFIX, PreflightArtefacts
    from farmctl.drivers.serial.preflight import PreflightCache, preflight_file

    [job] = queue_files(farm, [upload(tmp_path, CUBE, "housing.gcode")], QueueRequest())
    stored = farm.files.path_for(job.file_sha)
    assert farm.files.sidecar(job.file_sha, SUFFIX).is_file()
    cache = PreflightCache(kept=PreflightArtefacts(farm.files))
    loaded = cache.get(stored)
    assert (cache.from_kept, cache.read_through) == (1, 0)
    fresh = preflight_file(stored)
    assert list(loaded.commands) == list(fresh.commands) and loaded.total_bytes == fresh.total_bytes


def test_a_file_no_firmware_can_read_is_refused_when_queued(farm: Farm, tmp_path: Path) -> None:
    """Refused with the analysis's other refusals (one line, the upload's name and the line), not at its
    first dispatch, where it used to fail the copy; nothing is queued or stored."""
    part = tmp_path / "part.gcode"
    part.write_bytes(CUBE.read_bytes() + "M117 Grüße\n".encode())
    lines = CUBE.read_bytes().count(b"\n") + 1
    with pytest.raises(FileRejected) as caught:
        queue_files(farm, [upload(tmp_path, part, "housing.gcode")], QueueRequest())
    assert caught.value.message == (
        f"housing.gcode:{lines}: non-ASCII character 'ü' in a command; "
        "remove it (the firmware reads ASCII only)"
    )
    assert caught.value.file == "housing.gcode"
    assert farm.store.list_jobs().total == 0
    assert not farm.files.root.exists() or not any(p.is_file() for p in farm.files.root.rglob("*"))
