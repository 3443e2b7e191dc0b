"""Files of random bytes (incompressible, like the worst G-code) for transfer tests and benchmarks."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def random_file(path: Path, size: int) -> str:
    """Write `size` random bytes to `path` (1 MiB at a time) and return their sha256."""
    digest = hashlib.sha256()
    with path.open("wb") as out:
        left = size
        while left:
            block = os.urandom(min(left, 1 << 20))
            digest.update(block)
            out.write(block)
            left -= len(block)
    return digest.hexdigest()
