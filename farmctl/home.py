"""Where the farm lives: the home directory holding farm.toml, the database, the file store and logs.

Resolution order: an explicit `--home DIR`, else the FARMCTL_HOME environment variable, else the
platform's user data directory (e.g. ~/.local/share/farmctl on Linux).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from farmctl.errors import UserError

HOME_ENV = "FARMCTL_HOME"


def default_home() -> Path:
    """The platform's per-user data directory for farmctl."""
    # Imported here: platformdirs costs ~15 ms and only this path needs it.
    from platformdirs import user_data_dir

    return Path(user_data_dir("farmctl", appauthor=False))


def resolve_home(option: Path | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """The farm home for this invocation (not created; see `ensure_home`)."""
    env = os.environ if environ is None else environ
    if option is not None:
        return Path(option).expanduser()
    from_env = env.get(HOME_ENV, "").strip()
    if from_env:
        return Path(from_env).expanduser()
    return default_home()


def ensure_home(home: Path) -> Path:
    """Create the farm home if missing (owner-only: the database in it holds API keys); a home
    that is a file is a user error. An existing home keeps the permissions its owner gave it."""
    if home.exists() and not home.is_dir():
        raise UserError(f"farm home {home} exists but is not a directory; pass --home DIR or set {HOME_ENV}")
    try:
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise UserError(f"cannot create farm home {home}: {exc.strerror}; pass --home DIR") from exc
    return home
