"""Start-up of a CLI process: heavy imports with the garbage collector paused.

Its own module, importing nothing heavy, so that `farmctl.cli.main` can pause the collector before
typer is imported.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def long_lived_imports() -> Iterator[None]:
    """Run heavy imports (typer, rich, SQLAlchemy, the store) with the garbage collector paused, then
    freeze what they made.

    Importing builds hundreds of thousands of objects, all of them kept for the life of the process,
    and the collector walks the whole growing heap again every time it grows by a quarter: ~20 ms of
    a `farmctl status` that frees nothing (docs/benchmarks.md). Frozen afterwards, later collections
    (listing 10,000 jobs triggers several) skip those objects too. The collector runs as before once
    the block ends, so a long-running command (daemon, watch, serve) collects its own garbage."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
