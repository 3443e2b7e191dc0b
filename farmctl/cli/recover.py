"""CLI: `farmctl printers recover ID` — continue a copy that was interrupted with its part on the bed.

The plan (resume line and layer, Z, temperatures, and that the part must still be on the bed) is shown
and asked for; `--yes` skips the question, `--json` prints one document with the plan and the outcome.
The daemon that drives the printer carries out the very same plan (farmctl.daemon.recovery).
"""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any

import typer

from farmctl.cli.common import HomeOpt, JsonOpt, add_to_group, message, print_json
from farmctl.errors import UserError

PrinterArg = Annotated[str, typer.Argument(help="Printer id, e.g. mk3-1.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Recover without asking.")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="Seconds to wait for the daemon to start it.")]


def register(app: typer.Typer) -> None:
    add_to_group(app, "printers", {"recover": recover})


def recover(
    printer_id: PrinterArg,
    yes: YesOpt = False,
    json_out: JsonOpt = False,
    timeout: TimeoutOpt = 30.0,
    home: HomeOpt = None,
) -> None:
    """Continue a copy interrupted mid-print (the printer reset or lost power) from where it stood: heats,
    homes X and Y only, sets Z and streams the rest of the file. The part must still be on the bed;
    `printers clear ID` gives the copy up instead."""
    from farmctl.app.farm import files_of
    from farmctl.cli.daemon import request_control
    from farmctl.cli.queue_support import open_store
    from farmctl.config_schema import DaemonSettings
    from farmctl.daemon.recovery import plan_recovery
    from farmctl.ids import format_id

    with open_store(home) as store:
        settings = store.config.section(DaemonSettings) if store.config else DaemonSettings()
        if store.home is None:
            raise UserError("recovery needs the farm home (its file store)")
        plan = plan_recovery(
            store,
            files_of(store),
            printer_id,
            now=time.time(),
            max_age_s=settings.recovery_max_age_s,
        )
    document: dict[str, Any] = {"plan": plan.to_json(), "recovered": False}
    for line in plan.lines():
        message(line)
    if not yes:
        if not sys.stdin.isatty():
            message(
                f"not recovered: run `farmctl printers recover {printer_id} --yes` to recover without asking"
            )
            if json_out:
                print_json(document)
            return
        if not typer.confirm(
            "The part is still on the bed, untouched: recover now?", default=False, err=True
        ):
            message("not recovered; nothing changed")
            if json_out:
                print_json(document)
            return
    request_id, result = request_control("recover", printer_id, timeout, home)
    with open_store(home) as store:
        points, _ = store.recovery_info([plan.run_id])
    point = points.get(plan.run_id)
    new_run = point.recovered_by if point is not None else None
    document.update(
        recovered=new_run is not None,
        waiting_for_power=point is not None and point.recoverable,  # accepted; starts when power allows
        request=request_id,
        result=result,
        run=format_id("run", new_run) if new_run is not None else None,
    )
    if json_out:
        print_json(document)
    else:
        message(result)
