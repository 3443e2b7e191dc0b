"""Console entry point: runs the Typer app and turns user errors into one line."""

from __future__ import annotations

import os
import sys

from farmctl.app.control import NotConfirmed, NotDriven
from farmctl.errors import BadValue, NoFarm, UserError
from farmctl.home import HOME_ENV
from farmctl.ids import UnknownJob, UnknownKey, UnknownOrder, UnknownPrinter
from farmctl.sites import OwnedElsewhere

# An unknown id: the layers below say what is missing; the CLI adds which command lists what exists.
_LISTING: tuple[tuple[type[UserError], str], ...] = (
    (UnknownPrinter, "printers"), (UnknownOrder, "orders"), (UnknownJob, "jobs"), (UnknownKey, "keys"),
)


def option_of(name: str) -> str:
    """A use case's input as the CLI's option for it is spelled: spool_g -> --spool-g (every option
    that gives a use case's input follows this rule). A printer kind's secret is given by the kind's own
    option, and a kind without one (a plug-in kind) takes it as `--set beacon_token=...`."""
    from farmctl.drivers.kinds import owner_of

    owner = owner_of(name)
    if owner is not None and name == owner.secret:
        return owner.secret_option or f"--set {name}=..."
    return "--" + name.replace("_", "-")


def one_line(exc: UserError) -> str:
    """The error as the CLI says it."""
    if isinstance(exc, BadValue):
        return exc.worded(option_of)
    if isinstance(exc, OwnedElsewhere):
        return f"{exc.refusal}; release it first with `farmctl jobs move {exc.job} --site {exc.here}`"
    for kind, group in _LISTING:
        if isinstance(exc, kind):
            return f"{exc.message}; see `farmctl {group} list`"
    if isinstance(exc, NotDriven) and exc.daemon_id is None:
        return f"{exc.message}; start one with `farmctl daemon`"
    if isinstance(exc, NotConfirmed):
        return (f"printer {exc.printer_id} did not confirm {exc.verb} within {exc.timeout_s:g} s; "
                "check `farmctl status` (the daemon may still carry it out)")
    if isinstance(exc, NoFarm):
        return f"{exc.message}; create one with `farmctl printers add`, or check --home / {HOME_ENV}"
    return exc.message


def main() -> None:
    try:
        # Imported here so that a broken import still reaches the one-line error handler below.
        from farmctl.cli.startup import long_lived_imports

        with long_lived_imports():
            from farmctl.cli.app import build

            app = build(sys.argv[1:])
        app()
    except UserError as exc:
        print(f"farmctl: error: {one_line(exc)}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("farmctl: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # last resort: users never see a traceback
        if os.environ.get("FARMCTL_DEBUG"):
            raise
        print(
            f"farmctl: internal error: {type(exc).__name__}: {exc} "
            "(set FARMCTL_DEBUG=1 to see the traceback, and please report it)",
            file=sys.stderr,
        )
        sys.exit(70)
