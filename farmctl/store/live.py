"""The daemon's run-time rows: live printer status, daemon heartbeats, control requests, the change feed.

`LiveStore.attach(job_store)` shares the queue store's engine. Writes are batched by the caller
(the daemon flushes every printer's status in ONE short transaction per second), so a farm of 100
printers costs one write a second, not a hundred.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, or_, select

from farmctl.errors import NotFound
from farmctl.ids import format_id
from farmctl.redact import mask_optional, mask_url_passwords
from farmctl.scheduler.waits import PrinterWait
from farmctl.store.base import StoreBase
from farmctl.store.recovery import ACTIVE, PointUpdate
from farmctl.store.tables import control_requests, daemons, events, print_runs, printer_live, recovery_points

# A daemon writes its printers' rows every `status_interval_s` (1 s by default): a row older than this
# no longer says what the printer does now (its daemon died or hangs).
LIVE_STALE_AFTER_S = 10.0

_LIVE_KEYS = ("daemon_id", "heartbeat_at", "state", "detail", "endpoint", "temperatures", "run_id", "job_id",
              "lines_acked", "lines_total", "progress", "eta_s", "run_started_at", "heating", "state_reason")


@dataclass(frozen=True)
class LiveStatus:
    """One printer as its daemon sees it now."""

    printer_id: str
    state: str
    detail: str | None = None
    endpoint: str | None = None
    temperatures: dict[str, tuple[float, float | None]] = field(default_factory=dict)
    run_id: int | None = None
    job_id: int | None = None
    lines_acked: int | None = None
    lines_total: int | None = None
    progress: float | None = None
    eta_s: float | None = None
    run_started_at: float | None = None
    heating: bool = False
    daemon_id: str | None = None
    heartbeat_at: float = 0.0
    state_reason: PrinterWait | None = None  # why it is not printing (None while it prints)


@dataclass(frozen=True)
class RunProgressRow:
    run_id: int
    lines_acked: int
    lines_total: int | None
    resends: int | None
    progress: float | None


@dataclass(frozen=True)
class DaemonRecord:
    id: str
    host: str
    pid: int
    started_at: float
    heartbeat_at: float
    stopped_at: float | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class ControlRequest:
    id: int
    verb: str
    printer_id: str | None
    job_id: int | None
    state: str  # pending | done | failed
    requested_at: float
    requested_by: str
    handled_by: str | None
    handled_at: float | None
    result: str | None


@dataclass(frozen=True)
class Change:
    """One row of the event log, as the daemon's change feed sees it."""

    id: int
    kind: str
    subject: str
    actor: str = ""


def _control(row: Any) -> ControlRequest:
    m = row._mapping
    return ControlRequest(
        id=m["id"], verb=m["verb"], printer_id=m["printer_id"], job_id=m["job_id"], state=m["state"],
        requested_at=m["requested_at"], requested_by=m["requested_by"], handled_by=m["handled_by"],
        handled_at=m["handled_at"], result=m["result"],
    )


def _live(row: Any) -> LiveStatus:
    m = row._mapping
    temps = json.loads(m["temperatures"]) if m["temperatures"] else {}
    return LiveStatus(
        printer_id=m["printer_id"], state=m["state"], detail=m["detail"], endpoint=m["endpoint"],
        temperatures={k: (float(v[0]), None if v[1] is None else float(v[1])) for k, v in temps.items()},
        run_id=m["run_id"], job_id=m["job_id"], lines_acked=m["lines_acked"], lines_total=m["lines_total"],
        progress=m["progress"], eta_s=m["eta_s"], run_started_at=m["run_started_at"],
        heating=bool(m["heating"]),
        daemon_id=m["daemon_id"], heartbeat_at=m["heartbeat_at"], state_reason=_wait(m["state_reason"]),
    )


def _wait(stored: str | None) -> PrinterWait | None:
    if not stored:
        return None
    try:
        document = json.loads(stored)
    except ValueError:
        return None
    return PrinterWait.from_json(document) if isinstance(document, dict) else None


class LiveStore(StoreBase):
    @classmethod
    def attach(cls, store: StoreBase) -> LiveStore:
        """A view over the same database as `store` (same engine, actor and clock)."""
        view = cls(store._engine, store.where, actor=store.actor, clock=store._clock)
        view._reading = store._reading  # inside store.reading(), this view reads in that transaction too
        return view

    # ---- daemons ---------------------------------------------------------------------------
    def register_daemon(self, daemon_id: str, host: str, pid: int, detail: dict[str, Any]) -> None:
        now = self.now()
        with self._write() as conn:
            conn.execute(daemons.insert().values(
                id=daemon_id, host=host, pid=pid, started_at=now, heartbeat_at=now,
                detail=json.dumps(detail, sort_keys=True, default=str),
            ))
            self._event(conn, "daemon.started", daemon_id, host=host, pid=pid)

    def daemon_stopped(self, daemon_id: str) -> None:
        with self._write() as conn:
            conn.execute(daemons.update().where(daemons.c.id == daemon_id).values(stopped_at=self.now()))
            conn.execute(printer_live.update().where(printer_live.c.daemon_id == daemon_id).values(
                daemon_id=None, state="offline", detail="daemon stopped", run_id=None, job_id=None,
                progress=None, eta_s=None, heating=0, state_reason=None,
            ))
            self._event(conn, "daemon.stopped", daemon_id)

    def running_daemons(self, stale_after_s: float) -> list[DaemonRecord]:
        """Daemons that have not stopped and sent a heartbeat recently."""
        cutoff = self.now() - stale_after_s
        with self._read() as conn:
            rows = conn.execute(
                select(daemons).where(daemons.c.stopped_at.is_(None), daemons.c.heartbeat_at >= cutoff)
                .order_by(daemons.c.started_at)
            ).all()
        return [
            DaemonRecord(id=r.id, host=r.host, pid=r.pid, started_at=r.started_at,
                         heartbeat_at=r.heartbeat_at, stopped_at=r.stopped_at,
                         detail=json.loads(r.detail) if r.detail else {})
            for r in rows
        ]

    # ---- ownership and live status -----------------------------------------------------------
    def claim_printers(self, daemon_id: str, printer_ids: Iterable[str], lease_s: float) -> list[str]:
        """Take the printers no live daemon owns (lease expired or never owned); returns all now ours."""
        now = self.now()
        owned: list[str] = []
        with self._write() as conn:
            for printer_id in printer_ids:
                row = conn.execute(select(printer_live.c.daemon_id, printer_live.c.heartbeat_at)
                                   .where(printer_live.c.printer_id == printer_id)).first()
                if row is None:
                    conn.execute(printer_live.insert().values(
                        printer_id=printer_id, daemon_id=daemon_id, heartbeat_at=now, state="offline"))
                    owned.append(printer_id)
                    continue
                taken = conn.execute(
                    printer_live.update().where(
                        printer_live.c.printer_id == printer_id,
                        or_(printer_live.c.daemon_id.is_(None), printer_live.c.daemon_id == daemon_id,
                            printer_live.c.heartbeat_at < now - lease_s),
                    ).values(daemon_id=daemon_id, heartbeat_at=now)
                )
                if taken.rowcount:
                    owned.append(printer_id)
        return owned

    def release_printer(self, daemon_id: str, printer_id: str) -> None:
        with self._write() as conn:
            conn.execute(printer_live.delete().where(
                printer_live.c.printer_id == printer_id, printer_live.c.daemon_id == daemon_id))

    def flush(
        self,
        daemon_id: str,
        statuses: Sequence[LiveStatus],
        progress: Sequence[RunProgressRow],
        points: Sequence[PointUpdate] = (),
    ) -> None:
        """One transaction: every owned printer's status, the runs' progress and recovery points, the
        daemon's heartbeat.

        Each kind of row is ONE statement executed for many parameter sets (executemany): at 100
        printers this is two statements a second, not two hundred, and the supervisor stays free.
        """
        now = self.now()
        with self._write() as conn:
            conn.execute(daemons.update().where(daemons.c.id == daemon_id).values(heartbeat_at=now))
            if statuses:
                params = [self._live_values(daemon_id, status, now) for status in statuses]
                done = conn.execute(
                    printer_live.update()
                    .where(printer_live.c.printer_id == bindparam("b_printer"),
                           or_(printer_live.c.daemon_id.is_(None), printer_live.c.daemon_id == daemon_id))
                    .values({key: bindparam(f"b_{key}") for key in _LIVE_KEYS}),
                    params,
                )
                if done.rowcount != len(params):  # a row missing (printer added meanwhile): per row
                    for status in statuses:
                        self._put_live(conn, daemon_id, status, now)
            if progress:
                conn.execute(
                    print_runs.update()
                    .where(print_runs.c.id == bindparam("b_run"), print_runs.c.state == "printing")
                    .values(lines_acked=bindparam("b_acked"),
                            lines_total=func.coalesce(bindparam("b_total"), print_runs.c.lines_total),
                            resends=func.coalesce(bindparam("b_resends"), print_runs.c.resends),
                            progress=func.coalesce(bindparam("b_progress"), print_runs.c.progress)),
                    [{"b_run": row.run_id, "b_acked": row.lines_acked, "b_total": row.lines_total,
                      "b_resends": row.resends, "b_progress": row.progress} for row in progress],
                )
            if points:  # the crash-safe recovery points, in the same transaction (recovery.py)
                conn.execute(
                    recovery_points.update()
                    .where(recovery_points.c.run_id == bindparam("b_run"), recovery_points.c.state == ACTIVE)
                    .values(line=bindparam("b_line"),
                            targets=func.coalesce(bindparam("b_targets"), recovery_points.c.targets),
                            updated_at=now),
                    [{"b_run": point.run_id, "b_line": point.line,
                      "b_targets": json.dumps(point.targets, sort_keys=True) if point.targets else None}
                     for point in points],
                )

    def _live_values(self, daemon_id: str, status: LiveStatus, now: float) -> dict[str, Any]:
        values = self._live_row(daemon_id, status, now)
        params = {f"b_{key}": values[key] for key in _LIVE_KEYS}
        params["b_printer"] = status.printer_id
        return params

    @staticmethod
    def _live_row(daemon_id: str, status: LiveStatus, now: float) -> dict[str, Any]:
        return {
            # Shown by `farmctl status`: a URL's password (OctoPrint user:pw@) never gets there.
            "daemon_id": daemon_id, "heartbeat_at": now, "state": status.state,
            "detail": mask_optional(status.detail), "endpoint": mask_optional(status.endpoint),
            "temperatures": json.dumps({k: list(v) for k, v in status.temperatures.items()}, sort_keys=True),
            "run_id": status.run_id, "job_id": status.job_id, "lines_acked": status.lines_acked,
            "lines_total": status.lines_total, "progress": status.progress, "eta_s": status.eta_s,
            "run_started_at": status.run_started_at, "heating": 1 if status.heating else 0,
            "state_reason": None if status.state_reason is None else json.dumps(
                {**status.state_reason.to_json(), "text": mask_url_passwords(status.state_reason.text)},
                sort_keys=True),
        }

    def _put_live(self, conn: Connection, daemon_id: str, status: LiveStatus, now: float) -> None:
        values = self._live_row(daemon_id, status, now)
        done = conn.execute(printer_live.update().where(
            printer_live.c.printer_id == status.printer_id,
            or_(printer_live.c.daemon_id.is_(None), printer_live.c.daemon_id == daemon_id),
        ).values(**values))
        if done.rowcount == 0 and conn.execute(
            select(printer_live.c.printer_id).where(printer_live.c.printer_id == status.printer_id)
        ).first() is None:
            conn.execute(printer_live.insert().values(printer_id=status.printer_id, **values))

    def live_statuses(self) -> dict[str, LiveStatus]:
        with self._read() as conn:
            rows = conn.execute(select(printer_live)).all()
        return {r.printer_id: _live(r) for r in rows}

    # ---- control requests --------------------------------------------------------------------
    def request_control(self, verb: str, *, printer_id: str | None = None, job_id: int | None = None) -> int:
        with self._write() as conn:
            new_id = conn.execute(control_requests.insert().values(
                verb=verb, printer_id=printer_id, job_id=job_id, requested_at=self.now(),
                requested_by=self.actor, state="pending",
            )).inserted_primary_key[0]  # type: ignore[index]
            # The event wakes the daemon: it watches the event log, not this table.
            subject = printer_id or (format_id("job", job_id) if job_id else "farm")
            self._event(conn, "control.requested", subject, verb=verb, request=int(new_id))
        return int(new_id)

    def get_control(self, request_id: int) -> ControlRequest:
        with self._read() as conn:
            row = conn.execute(select(control_requests).where(control_requests.c.id == request_id)).first()
        if row is None:
            raise NotFound(f"no control request {request_id}")
        return _control(row)

    def pending_controls(self) -> list[ControlRequest]:
        with self._read() as conn:
            rows = conn.execute(select(control_requests).where(control_requests.c.state == "pending")
                                .order_by(control_requests.c.id)).all()
        return [_control(r) for r in rows]

    def complete_control(self, request_id: int, daemon_id: str, *, ok: bool, result: str) -> None:
        with self._write() as conn:
            conn.execute(control_requests.update().where(
                control_requests.c.id == request_id, control_requests.c.state == "pending",
            ).values(state="done" if ok else "failed", handled_by=daemon_id, handled_at=self.now(),
                     result=mask_url_passwords(result)))

    def expire_controls(self, older_than_s: float) -> int:
        """Requests nobody handled (no daemon owned the printer) fail instead of firing much later."""
        cutoff = self.now() - older_than_s
        with self._write() as conn:
            done = conn.execute(control_requests.update().where(and_(
                control_requests.c.state == "pending", control_requests.c.requested_at < cutoff,
            )).values(state="failed", handled_at=self.now(), result="expired: no daemon handled it"))
        return int(done.rowcount or 0)

    # ---- change feed ---------------------------------------------------------------------------
    def last_change_id(self) -> int:
        with self._read() as conn:
            return int(conn.execute(select(func.max(events.c.id))).scalar() or 0)

    def changes_since(self, change_id: int, limit: int = 1000) -> list[Change]:
        with self._read() as conn:
            rows = conn.execute(select(events.c.id, events.c.kind, events.c.subject, events.c.actor)
                                .where(events.c.id > change_id).order_by(events.c.id).limit(limit)).all()
        return [Change(r.id, r.kind, r.subject, r.actor) for r in rows]
