"""The push: what the site did since the centre last confirmed, table by table, batch by batch.

Each table goes up to its highest change read in one snapshot at the start (orders before jobs
before runs before events), so a pushed job never names an order the centre has not got. A batch
is read in its own short read transaction here, applied in one transaction at the centre together
with the centre's mark, and only then is the site's own mark moved. Killed anywhere, the next sync
starts from the higher of the two marks: a batch is applied once or not at all, and a row changed
again since has a newer change number and goes again.
"""

from __future__ import annotations

from pathlib import Path

from farmctl.errors import DatabaseError, UserError
from farmctl.files import FileStore
from farmctl.store import JobStore
from farmctl.store.sync_central import PushRow
from farmctl.sync.report import PUSH_ORDER, PUSHED_AS, SyncReport
from farmctl.sync.translate import TRANSLATE, SiteTerms

BATCH_ROWS = 500


def push(site: JobStore, centre: JobStore, files: FileStore, report: SyncReport) -> None:
    terms = SiteTerms(
        site=site.site,
        printers=frozenset(site.printer_ids()),
        pulled_jobs=site.pulled_ids("job"),
        pulled_orders=site.pulled_ids("order"),
    )
    limits = site.sync_limits()
    for tbl in PUSH_ORDER:
        mark = max(site.sync_mark(tbl), centre.pushed_mark(site.site, tbl))
        while mark < limits[tbl]:
            rows = site.changed_rows(tbl, mark, limits[tbl], BATCH_ROWS)
            if not rows:
                break
            upto = int(rows[-1]["id" if tbl == "events" else "change_seq"])
            batch = [TRANSLATE[tbl](terms, row) for row in rows]
            file_rows: list[dict[str, object]] = []
            if tbl == "jobs":
                file_rows, batch = _send_files(site, centre, files, batch, report)
            result = centre.apply_batch(site.site, tbl, batch, upto, file_rows)
            site.confirm_sync_mark(tbl, upto)  # only after the centre's commit
            report.pushed[PUSHED_AS[tbl]] += result.changed
            report.refused.extend(result.refused)
            mark = upto


def _send_files(
    site: JobStore, centre: JobStore, files: FileStore, batch: list[PushRow], report: SyncReport
) -> tuple[list[dict[str, object]], list[PushRow]]:
    """The files of the site's own jobs in this batch: their bytes into the centre's database first
    (hashed there and refused unless they match their sha256; idempotent), then their rows go with
    the batch. A job whose file is refused stays out of the batch, named in the report."""
    shas = {row.values["file_sha"] for row in batch if "file_sha" in row.values}
    refused: set[str] = set()
    for sha in sorted(shas):
        if centre.has_content(sha):
            continue
        path: Path = files.path_for(sha)
        try:
            centre.store_content(sha, path)
        except DatabaseError:
            raise  # the link, not the file: the whole sync stops here and the next one resumes
        except UserError as exc:
            refused.add(sha)
            report.refused.append(str(exc))
    kept = [row for row in batch if row.values.get("file_sha") not in refused]
    return site.file_rows(shas - refused), kept
