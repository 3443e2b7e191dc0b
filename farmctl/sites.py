"""Site names: which farm home a record belongs to (issue 13, docs/sync.md).

Every farm home has a site name. A farm home with `[sync] central` set is a *site* (a truck, a
remote workshop): its name is `[sync] site`, by default its host name. A farm home without it is
the *centre* (or a farm on its own) and is called `central`, a name no site may take. At the centre
a job may be reserved for a site (`jobs add --site truck-1`, `jobs move j3 --site truck-1`); the
store keeps the owning site in `jobs.site` (NULL: this farm home's own) and every listing shows the
name. Names are typed by technicians and go into MQTT topics: lowercase letters, digits, `-`, `_`
and `.`, at most 64 characters, starting with a letter or digit.
"""

from __future__ import annotations

import re
import socket

from farmctl.errors import UserError

CENTRAL = "central"

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def check_site(text: str) -> str:
    """A site name as typed ('Truck-1 ' -> 'truck-1'); anything else is a one-line user error."""
    name = text.strip().lower()
    if not _NAME.fullmatch(name):
        raise UserError(
            f"'{text}' is not a site name (letters, digits, '-', '_' or '.', at most 64, e.g. truck-1)"
        )
    return name


def host_site() -> str:
    """The default site name: this machine's host name, made a valid site name."""
    name = re.sub(r"[^a-z0-9._-]+", "-", socket.gethostname().split(".")[0].lower()).strip("-._")
    return name[:64] or "site"


def own_site(site: str | None, central: str | None) -> str:
    """This farm home's site name from its [sync] settings: `central` without a central URL, else
    `site` (default: the host name). A site cannot call itself `central`."""
    if central is None:
        return CENTRAL
    name = check_site(site) if site is not None else host_site()
    if name == CENTRAL:
        raise UserError(
            f"[sync] site '{CENTRAL}' is the centre's own name; give this site another one (e.g. truck-1)"
        )
    return name


class OwnedElsewhere(UserError):
    """A change to a job another site owns (reserved for it), refused: `job` as shown here (j41), its
    `owner`, and `here`, the site this farm home is, to which the job would be released first. Each face
    says how to release it (the CLI: `farmctl jobs move j41 --site central`)."""

    def __init__(self, action: str, job: str, owner: str, here: str) -> None:
        self.refusal = f"cannot {action} job {job}: it is reserved for site {owner}, which owns it"
        self.job, self.owner, self.here = job, owner, here
        super().__init__(f"{self.refusal}; release it first by moving it to site {here}")
