"""The pull: jobs reserved for this site at the centre, with their files and orders.

Order of the steps, for a sync killed anywhere: (1) every file is fetched from the centre's
database into this farm home's file store, hashed on the way and refused unless it matches its
sha256 (farmctl/files.py), so no job here ever points at a file that is not here; (2) the centre
records that the site has the jobs (`pulled_at`: from then on `jobs move` there is refused);
(3) the jobs and their orders are inserted here in one transaction. Killed after (2), the next
sync pulls them again: it asks for every job reserved for the site that this farm home lacks, not
only the unmarked ones.
"""

from __future__ import annotations

from farmctl.drivers.serial.artefact import PreflightArtefacts
from farmctl.files import FileCorrupt, FileStore
from farmctl.ids import format_id
from farmctl.sites import CENTRAL
from farmctl.store import JobStore
from farmctl.sync.report import SyncReport


def pull(site: JobStore, centre: JobStore, files: FileStore, report: SyncReport) -> None:
    have = set(site.pulled_ids("job").values())
    job_rows, order_rows, file_rows = centre.reserved_for(site.site, have)
    if not job_rows:
        return
    fetched: set[str] = set()
    preflights = PreflightArtefacts(files)
    for info in file_rows:
        sha = info["sha256"]
        had = files.path_for(sha).is_file()
        try:
            if files.fetch(sha).is_file():
                fetched.add(sha)
                report.pulled_files += 0 if had else 1
                # Artefacts stay in the home that made them: pre-flight it here, so the site's first
                # dispatch of it does not (a refusal leaves it to the dispatch, which reports it).
                preflights.ensure(sha)
        except FileCorrupt as exc:  # one file's bytes never stop the other jobs (nothing of it is kept)
            report.refused.append(str(exc))
    ready = []
    for row in job_rows:
        if row["file_sha"] in fetched:
            ready.append(row)
        else:
            report.refused.append(
                f"{format_id('job', row['id'], CENTRAL)} not pulled: its file {row['name']} is not in the "
                "central database whole; queue it again at the centre"
            )
    marked = set(centre.mark_pulled(site.site, [row["id"] for row in ready]))
    jobs = [row for row in ready if row["id"] in marked]
    wanted_orders = {row["order_id"] for row in jobs}
    orders = [row for row in order_rows if row["id"] in wanted_orders]
    pulled_orders_before = set(site.pulled_ids("order").values())
    site.insert_pulled(orders, [f for f in file_rows if f["sha256"] in fetched], jobs)
    report.pulled_jobs = [format_id("job", row["id"], CENTRAL) for row in jobs]
    report.pulled_orders = len(wanted_orders - pulled_orders_before)
