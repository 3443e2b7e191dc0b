"""CLI command: sync (a site's pull and push with the central farm; see docs/sync.md)."""

from __future__ import annotations

import typer

from farmctl.cli.common import HomeOpt, JsonOpt, print_json


def register(app: typer.Typer) -> None:
    app.command("sync")(sync)


def sync(json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Pull the jobs reserved for this site from the central farm and push what this site did.

    Run on a site ([sync] central and site in farm.toml). Safe to repeat (a second run changes
    nothing) and to interrupt (the next run completes it), also while this site's daemon prints.
    --json: one object with what was pulled, pushed and refused."""
    from farmctl.cli.queue_support import open_store
    from farmctl.sync.session import sync_site

    with open_store(home) as store:
        report = sync_site(store)
    if json_out:
        print_json(report.to_json())
        return
    for line in report.lines():
        print(line)
