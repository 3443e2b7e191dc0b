"""Identity across sites: which row `truck-1/j3` is, this farm home's id, the centre's site registry.

See farmctl/store/sync_schema.py for the columns and docs/sync.md for the rules.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from farmctl.errors import UserError
from farmctl.ids import IdKind, UnknownJob, UnknownOrder, UnknownRun
from farmctl.store.base import StoreBase
from farmctl.store.tables import farm_identity, jobs, orders, print_runs, sites

_TABLES = {"order": orders, "job": jobs, "run": print_runs}
_UNKNOWN = {"order": UnknownOrder, "job": UnknownJob, "run": UnknownRun}


class IdentityOps(StoreBase):
    def local_id(self, kind: IdKind, site: str, number: int) -> int:
        """This database's id of the record `site` knows as `number` (`truck-1/j3`): the row whose
        origin it is, or `number` itself when `site` is this farm home. Raises Unknown... if none."""
        if site == self.site:
            return number
        table = _TABLES[kind]
        with self._read() as conn:
            found = conn.execute(
                select(table.c.id).where(table.c.origin_site == site, table.c.origin_id == number)
            ).scalar()
        if found is None:
            raise _UNKNOWN[kind](number, site)
        return int(found)

    def home_id(self) -> str:
        """This farm home's random id, made once (the site registry tells farm homes apart by it)."""
        with self._read() as conn:
            found = conn.execute(select(farm_identity.c.home_id)).scalar()
        if found is not None:
            return str(found)
        with self._write() as conn:
            found = conn.execute(select(farm_identity.c.home_id)).scalar()  # another process won
            if found is None:
                found = uuid.uuid4().hex
                conn.execute(farm_identity.insert().values(home_id=found, created_at=self.now()))
        return str(found)

    def register_site(self, name: str, home_id: str) -> bool:
        """At the centre: `name` belongs to the farm home `home_id`, registered on its first sync
        (returns True then). A name already held by another farm home is refused in one line."""
        with self._write() as conn:
            row = conn.execute(select(sites).where(sites.c.name == name).with_for_update()).first()
            if row is None:
                conn.execute(sites.insert().values(name=name, home_id=home_id, first_seen=self.now()))
                return True
            if row.home_id != home_id:
                seen = datetime.fromtimestamp(row.first_seen, UTC).strftime("%Y-%m-%d")
                raise UserError(
                    f"site {name} is already used by another farm home (first seen {seen}); "
                    "give this one another [sync] site"
                )
            return False
