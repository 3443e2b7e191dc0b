"""`farmctl watch --mqtt URL` and `farmctl status --mqtt URL`: a remote farm, from its broker.

No database and no farm home: a read-only subscriber (no will, never publishes) folds the daemon's
retained topics and events into a snapshot, and `farmctl.daemon.remote_view` turns that into the
same `FarmView` the local commands render, with the same renderer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from farmctl.cli.common import message, print_json

if TYPE_CHECKING:
    from farmctl.telemetry.farm_view import FarmSnapshot
    from farmctl.telemetry.follower import FarmFollower

MqttOpt = Annotated[
    str | None,
    typer.Option("--mqtt", metavar="URL",
                 help="Follow a remote farm through its broker: mqtt[s]://[user:pass@]host[:port]."),
]
SiteOpt = Annotated[str | None, typer.Option("--site", metavar="SITE",
                                             help="With --mqtt: only this site (default: all).")]
MqttCaOpt = Annotated[
    str | None, typer.Option("--mqtt-ca-file", metavar="FILE",
                             help="With --mqtt: CA bundle for an mqtts:// broker.")
]
# None stands for DEFAULT_TOPIC_PREFIX: typer validates every value that is not None through a pydantic
# adapter, and importing pydantic for a default nobody typed was ~10 % of a local `farmctl status`.
DEFAULT_TOPIC_PREFIX = "farm"
TopicPrefixOpt = Annotated[
    str | None, typer.Option("--topic-prefix", metavar="PREFIX", show_default=DEFAULT_TOPIC_PREFIX,
                             help="With --mqtt: the farm's [mqtt] topic_prefix.")
]
CONNECT_TIMEOUT_S = 10.0
SETTLE_S = 0.3  # retained messages arrive in one burst right after subscribing; this much quiet ends it


def open_follower(
    url: str, site: str | None, ca_file: str | None, topic_prefix: str | None = None
) -> FarmFollower:
    from farmctl.errors import UserError
    from farmctl.telemetry.follower import FarmFollower

    topic_prefix = DEFAULT_TOPIC_PREFIX if topic_prefix is None else topic_prefix
    follower = FarmFollower.from_url(url, ca_file=ca_file, site=site, topic_prefix=topic_prefix)
    follower.start()
    if follower.wait_for(lambda s: s.connected, CONNECT_TIMEOUT_S) is None:
        reason = follower.last_error or "no answer"
        follower.stop()
        raise UserError(f"cannot follow {follower.settings.url}: {reason}; check the URL, credentials "
                        "and that the broker is reachable")
    return follower


def settled(follower: FarmFollower, timeout: float = 5.0) -> None:
    """Wait until the retained burst is in: no new message for SETTLE_S (or `timeout`)."""
    deadline = time.monotonic() + timeout
    last = follower.snapshot()
    while time.monotonic() < deadline:
        changed = follower.wait_for(_differs_from(last), SETTLE_S)
        if changed is None:
            return
        last = changed


def _differs_from(previous: FarmSnapshot) -> Callable[[FarmSnapshot], bool]:
    return lambda snapshot: snapshot != previous


def status_remote(
    url: str, site: str | None, ca_file: str | None, topic_prefix: str | None, json_out: bool
) -> None:
    from farmctl.daemon.remote_view import farm_view_from, where_text

    topic_prefix = DEFAULT_TOPIC_PREFIX if topic_prefix is None else topic_prefix
    follower = open_follower(url, site, ca_file, topic_prefix)
    try:
        settled(follower)
        snapshot = follower.snapshot()
    finally:
        follower.stop()
    if not snapshot.sites:
        message(f"nothing published under {topic_prefix}/{site or '+'}/ on {snapshot.broker} yet")
    view = farm_view_from(snapshot)
    if json_out:
        print_json(view.to_json())
        return
    from rich.console import Console

    from farmctl.cli.dashboard import render

    Console().print(render(view, where_text(snapshot)))


def watch_remote(
    url: str, interval: float, site: str | None, ca_file: str | None, topic_prefix: str | None
) -> None:
    """Refresh the dashboard from the follower's snapshot until Ctrl-C."""
    from rich.console import Console, Group

    from farmctl.cli.dashboard import render, summary_line
    from farmctl.daemon.remote_view import farm_view_from, where_text

    follower = open_follower(url, site, ca_file, topic_prefix)
    try:
        settled(follower)
        console = Console()
        if not console.is_terminal:
            while True:
                message(summary_line(farm_view_from(follower.snapshot())))
                time.sleep(interval)
        from rich.live import Live

        def frame() -> Group:
            snapshot = follower.snapshot()
            return render(farm_view_from(snapshot), where_text(snapshot))

        with Live(frame(), console=console, refresh_per_second=4, screen=False) as live:
            while True:
                time.sleep(interval)
                live.update(frame())
    except KeyboardInterrupt:
        pass
    finally:
        follower.stop()
