"""A dispatch streams the pre-flight made when the file was queued (drivers/serial/artefact.py) instead of
reading the whole file on the supervisor thread (issue 16); without a usable one it pre-flights the file
as before, the copy prints all the same, and the artefact is made for the next time."""

from __future__ import annotations

from pathlib import Path

import pytest
from farmctl.drivers.serial.artefact import SUFFIX, PreflightArtefacts

from farmctl.app.farm import Farm as AppFarm
from farmctl.app.queueing import FileToQueue, QueueRequest, queue_files
from farmctl.files import FileStore
from tests.daemon.conftest import SIM_SPEED, Farm, executed_job_lines, job_commands, small_part, wait_for
from tests.support.simulator import running_simulator


@pytest.mark.parametrize("artefact", ["as queued", "missing", "damaged"])
def test_the_first_copy_streams_the_kept_preflight_or_falls_back(
    farm: Farm, tmp_path: Path, artefact: str
) -> None:
    part = small_part(tmp_path / "part.gcode", moves=1200)  # three blocks of commands
    with running_simulator(count=1, journal_dir=tmp_path / "journal", speed=SIM_SPEED) as sim:
        farm.add_printer("p1", sim.endpoints[0])
        with AppFarm.open(farm.home) as app:  # `farmctl jobs add` and uploads: the one use case
            [job] = queue_files(app, [FileToQueue(part)], QueueRequest(held=True))
            kept = app.files.sidecar(job.file_sha, SUFFIX)
            stored = app.files.path_for(job.file_sha)
            assert kept.is_file()
            if artefact == "missing":
                kept.unlink()
            elif artefact == "damaged":
                data = kept.read_bytes()
                kept.write_bytes(data[:100] + bytes([data[100] ^ 0xFF]) + data[101:])
            app.store.release_job(job.id)
        daemon = farm.start_daemon(bed_clear="manual")
        wait_for(lambda: farm.job_state(job.id) == "done", 60, "the job to finish")
        assert executed_job_lines(sim, 0, len(job_commands(part))) == job_commands(part)
        assert daemon.supervisor is not None
        preflight = daemon.supervisor.preflight
        if artefact == "as queued":
            assert (preflight.from_kept, preflight.read_through) == (1, 0)  # the file was never read whole
        else:
            assert (preflight.from_kept, preflight.read_through) == (0, 1)
        # Either way a good artefact is there now: the next daemon of this farm home loads it.
        assert PreflightArtefacts(FileStore.for_home(farm.home)).load(stored, 96) is not None
        farm.stop_daemon(daemon)
