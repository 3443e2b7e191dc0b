"""CLI commands: keys (API keys of the HTTP server: `farmctl serve`, [http] in farm.toml)."""

from __future__ import annotations

from typing import Annotated

import typer

from farmctl.cli.common import HomeOpt, JsonOpt, message, print_json
from farmctl.cli.help import FarmTyper

keys_app = FarmTyper(
    help="API keys for the HTTP server (slicers, scripts, the dashboard).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")


@keys_app.command("add")
def add(
    name: Annotated[str, typer.Argument(metavar="NAME", help="A name for the key, e.g. prusaslicer-anna.")],
    scope: Annotated[
        str,
        typer.Option(
            "--scope", metavar="SCOPE",
            help="read, upload, control or admin; each includes the ones before it.",
        ),
    ],
    json_out: Annotated[
        bool, typer.Option("--json", help='Print {"name", "scope", "key"} on stdout.')
    ] = False,
    home: HomeOpt = None,
) -> None:
    """Create a key and print it once: it is stored hashed and cannot be shown again."""
    from farmctl.cli.queue_support import open_store
    from farmctl.errors import UserError
    from farmctl.store.keys import KeyNameTaken

    with open_store(home, create=True) as store:
        try:
            key, secret = store.add_api_key(name, scope)
        except KeyNameTaken as taken:
            raise UserError(
                f"a key named '{taken.name}' exists; revoke it first (`farmctl keys revoke {taken.name}`) or "
                "pick another name"
            ) from None
    if json_out:
        print_json({"name": key.name, "scope": key.scope, "key": secret})
        return
    print(secret)
    message(f"created key '{key.name}' ({key.scope}); copy it now, it is not shown again")


@keys_app.command("list")
def list_(json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Every key's name, scope and creation time (never the keys themselves)."""
    from farmctl.app.values import iso
    from farmctl.cli.queue_support import open_store, print_table

    with open_store(home) as store:
        keys = store.list_api_keys()
    documents = [{"name": k.name, "scope": k.scope, "created": iso(k.created_at) or ""} for k in keys]
    if json_out:
        print_json(documents)
        return
    if not documents:
        message("no API keys; create one with `farmctl keys add NAME --scope upload`")
        return
    print_table(("NAME", "SCOPE", "CREATED"), [(d["name"], d["scope"], d["created"]) for d in documents])


@keys_app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The key's name (see `keys list`).")],
    home: HomeOpt = None,
) -> None:
    """Delete a key: requests with it are refused from now on, also by a running server."""
    from farmctl.cli.queue_support import open_store

    with open_store(home) as store:
        key = store.revoke_api_key(name)
    message(f"revoked key '{key.name}' ({key.scope})")
