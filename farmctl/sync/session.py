"""One sync, from start to end: the checks, the pull, the push, and its one-line failures.

What can go wrong and what the user reads (one line, exit non-zero):
- this farm home is the centre, or keeps its database elsewhere than SQLite: sync runs on sites;
- the central database does not answer or refuses (a bad URL, a password, a stopped server):
  nothing was changed, anywhere;
- the link drops in the middle: the batches the centre committed stay (both marks say so), the
  rest is done by the next sync;
- the central database is at another schema than this farmctl's: refused, never upgraded from a
  site under the centre's feet (farmctl/store/migrations.py `require_current`);
- the site name is registered at the centre by another farm home: refused before anything moves.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from farmctl.config_schema import SyncSettings
from farmctl.errors import DatabaseError, UserError
from farmctl.files import FileStore
from farmctl.store import JobStore
from farmctl.store.engine import redact
from farmctl.sync.pull import pull
from farmctl.sync.push import push
from farmctl.sync.report import SyncReport

CONNECT_TIMEOUT_S = 10  # an unreachable centre (a truck out of range) fails in this long, not minutes


def central_url(store: JobStore) -> str:
    """The centre's database URL from [sync] central; one line when this farm home is no site."""
    settings = store.config.section(SyncSettings) if store.config else SyncSettings()
    if settings.central is None:
        raise UserError(
            "this farm home is the centre (no [sync] central in farm.toml); farmctl sync runs on a site: "
            'set [sync] central = "postgresql+psycopg://..." and site = "truck-1" there'
        )
    return settings.central


def open_centre(url: str, site: str) -> JobStore:
    """The centre's store, its schema checked, not migrated. One line when it does not answer."""
    timed = url
    if url.startswith("postgresql") and "connect_timeout" not in urlsplit(url).query:
        timed = f"{url}{'&' if '?' in url else '?'}connect_timeout={CONNECT_TIMEOUT_S}"
    try:
        return JobStore.open(url=timed, migrate=False, actor=f"sync:{site}")
    except DatabaseError as exc:
        raise DatabaseError(f"cannot reach the central database: {exc.message}; nothing was synced") from exc


def sync_site(store: JobStore) -> SyncReport:
    """Sync the site whose store this is with its centre ([sync] central)."""
    url = central_url(store)
    if store.home is None:
        raise UserError("farmctl sync needs the site's farm home (its file store); open the farm by its home")
    if store.dialect != "sqlite":
        raise UserError(
            f"farmctl sync runs on a site whose farm home keeps its database in SQLite; this one is at "
            f"{store.where} (a farm on PostgreSQL is the centre itself)"
        )
    report = SyncReport(site=store.site, central=redact(url))
    home_id = store.home_id()
    with open_centre(url, store.site) as centre:
        try:
            report.registered = centre.register_site(store.site, home_id)
            pull(store, centre, FileStore.for_home(store.home, centre), report)
            push(store, centre, FileStore.for_home(store.home), report)
            centre.site_synced(store.site)
        except DatabaseError as exc:
            raise DatabaseError(
                f"sync stopped: {exc.message}; what the centre confirmed is kept, run farmctl sync again"
            ) from exc
    return report
