"""Printers and orders."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Any

from sqlalchemy import Connection, Row, func, or_, select
from sqlalchemy.exc import IntegrityError

from farmctl.drivers.kinds import connection_columns, kinds
from farmctl.errors import BadValue, UserError
from farmctl.ids import UnknownOrder, UnknownPrinter, format_id
from farmctl.redact import mask_optional
from farmctl.states import PrinterState
from farmctl.store.base import StoreBase, inserted_id, join_tags, origin_text, split_tags
from farmctl.store.records import Order, Printer, PrinterSecret, PrinterSpec
from farmctl.store.recovery import release_pending
from farmctl.store.tables import jobs, orders, print_runs, printers

# Settings `printers set` may change besides a kind's connection settings; state is the daemon's.
SETTABLE = {f.name for f in fields(PrinterSpec)} - {"id", "connection"}


def printer_from_row(row: Row[Any]) -> Printer:
    m = row._mapping
    bed = (m["bed_x"], m["bed_y"], m["bed_z"]) if m["bed_x"] is not None else None
    try:
        state = PrinterState(m["state"])
    except ValueError:
        state = PrinterState.OFFLINE
    return Printer(
        id=m["id"],
        kind=m["kind"],
        connection=_record(m["connection"]),
        has_api_key=bool(m["api_key"]),
        material=m["material"],
        color=m["color"],
        nozzle_mm=m["nozzle_mm"],
        bed_mm=bed,
        tags=split_tags(m["tags"]),
        bed_clear_mode=m["bed_clear_mode"],
        power_w=m["power_w"],
        profile=m["profile"],
        enabled=bool(m["enabled"]),
        state=state,
        state_detail=m["state_detail"],
        state_at=m["state_at"],
        bed_clear=bool(m["bed_clear"]),
        capabilities=json.loads(m["capabilities"]) if m["capabilities"] else {},
        consecutive_failures=m["consecutive_failures"],
        hold_reason=m["hold_reason"],
        created_at=m["created_at"],
        eta_ratio=m["eta_ratio"],
        spool_g=m["spool_g"],
        spool_g_per_mm=m["spool_g_per_mm"],
    )


def record_columns() -> tuple[str, ...]:
    """The settings `printers.connection` keeps: every kind's connection settings but its secret (the
    secret has its own column, `api_key`, so that no listing of the record can show it)."""
    return tuple(column for column in connection_columns() if column not in _secrets())


def _secrets() -> set[str]:
    """The kinds' secret settings: each is stored in the api_key column, never in the record."""
    return {kind.secret for kind in kinds() if kind.secret is not None}


def _record(text: str | None) -> dict[str, Any]:
    return json.loads(text) if text else {}


def _record_text(settings: dict[str, Any]) -> str:
    """The record as stored: the settings given (None: not set), keys sorted."""
    return json.dumps({k: v for k, v in settings.items() if v is not None}, sort_keys=True)


def _normalized(values: dict[str, Any]) -> dict[str, Any]:
    """Connection settings as stored, each kind normalising its own (farmctl/drivers/kinds.py)."""
    for kind in kinds():
        values = kind.normalized(values)
    return values


def _check_settings(values: dict[str, Any]) -> None:
    """Refuse connection settings that cannot work, each kind checking its own, before a write."""
    for kind in kinds():
        kind.check(values)


def _refuse_shared_endpoint(conn: Connection, printer_id: str, values: Mapping[str, Any]) -> None:
    """Two printers on one machine (one serial device, one OctoPrint) would fight over it: each kind whose
    address is being written compares it with the other printers' addresses (its `check_unshared`)."""
    given = [(kind, values[kind.address]) for kind in kinds() if values.get(kind.address) is not None]
    if not given:
        return
    rows = conn.execute(select(printers.c.id, printers.c.connection).where(printers.c.id != printer_id)).all()
    others = {row.id: _record(row.connection) for row in rows}
    for kind, address in given:
        addresses = {other: found[kind.address] for other, found in others.items()
                     if found.get(kind.address) is not None}
        kind.check_unshared(address, addresses)


def _connection(spec: PrinterSpec) -> dict[str, Any]:
    """Every kind's connection settings of `spec` (None: not given); a setting no kind has is refused."""
    unknown = set(spec.connection) - set(connection_columns())
    if unknown:
        raise UserError(f"cannot set {', '.join(sorted(unknown))} on a printer")
    return {column: spec.connection.get(column) for column in connection_columns()}


def _spec_columns(spec: PrinterSpec) -> dict[str, Any]:
    values: dict[str, Any] = {
        "kind": spec.kind,
        "connection": _record_text({column: spec.connection.get(column) for column in record_columns()}),
        "api_key": next((spec.connection[s] for s in sorted(_secrets()) if spec.connection.get(s)), None),
        "material": spec.material,
        "color": spec.color,
        "nozzle_mm": spec.nozzle_mm,
        "tags": join_tags(spec.tags),
        "bed_clear_mode": spec.bed_clear_mode,
        "power_w": spec.power_w,
        "profile": spec.profile,
    }
    bed = spec.bed_mm
    values.update(bed_x=bed[0] if bed else None, bed_y=bed[1] if bed else None, bed_z=bed[2] if bed else None)
    return values


class CatalogOps(StoreBase):
    # ---- printers -------------------------------------------------------------------------
    def add_printer(self, spec: PrinterSpec) -> Printer:
        now = self.now()
        spec = replace(spec, connection=_normalized(_connection(spec)))
        _check_settings(_connection(spec))
        try:
            with self._write() as conn:
                if conn.execute(select(printers.c.id).where(printers.c.id == spec.id)).first():
                    raise UserError(
                        f"printer {spec.id} already exists; pick another id or `printers set {spec.id}`"
                    )
                _refuse_shared_endpoint(conn, spec.id, _connection(spec))
                conn.execute(
                    printers.insert().values(
                        id=spec.id, created_at=now, updated_at=now, **_spec_columns(spec)
                    )
                )
                self._event(conn, "printer.added", spec.id, kind=spec.kind)
        except IntegrityError as exc:  # a concurrent add of the same id
            raise UserError(f"printer {spec.id} already exists; pick another id") from exc
        return self.get_printer(spec.id)

    def get_printer(self, printer_id: str) -> Printer:
        with self._read() as conn:
            row = conn.execute(select(printers).where(printers.c.id == printer_id)).first()
        if row is None:
            raise UnknownPrinter(printer_id)
        return printer_from_row(row)

    def list_printers(self) -> list[Printer]:
        with self._read() as conn:
            rows = conn.execute(select(printers).order_by(printers.c.id)).all()
        return [printer_from_row(r) for r in rows]

    def printer_secret(self, printer_id: str) -> PrinterSecret | None:
        with self._read() as conn:
            key = conn.execute(select(printers.c.api_key).where(printers.c.id == printer_id)).scalar()
        return PrinterSecret(printer_id, key) if key else None

    def set_spool(self, printer_id: str, grams: float | None, grams_per_mm: float | None) -> Printer:
        """A spool loaded (`printers set ID --spool-g 750`): its grams, and grams per mm of its filament
        (the records' density table knows them); every run then takes what it used off (runs.py).
        `grams=None` stops tracking the printer's spool."""
        with self._write() as conn:
            found = conn.execute(
                printers.update()
                .where(printers.c.id == printer_id)
                .values(spool_g=grams, spool_g_per_mm=grams_per_mm if grams is not None else None,
                        updated_at=self.now())
                .returning(printers.c.id)
            ).first()
            if found is None:
                raise UnknownPrinter(printer_id)
            self._event(conn, "printer.spool", printer_id, grams=grams)
        return self.get_printer(printer_id)

    def update_printer(self, printer_id: str, **changes: Any) -> Printer:
        """Change registration settings (`printers set`); `bed_mm` and `tags` take their usual types."""
        unknown = set(changes) - SETTABLE - set(connection_columns())
        if unknown:
            raise UserError(f"cannot set {', '.join(sorted(unknown))} on a printer")
        changes = _normalized(changes)
        values: dict[str, Any] = {}
        for key, value in changes.items():
            if key == "bed_mm":
                values.update(bed_x=value[0], bed_y=value[1], bed_z=value[2])
            elif key == "tags":
                values["tags"] = join_tags(value)
            elif key in _secrets():
                values["api_key"] = value
            else:
                values[key] = value
        _check_settings(changes)
        record = {column: values.pop(column) for column in record_columns() if column in values}
        with self._write() as conn:
            _refuse_shared_endpoint(conn, printer_id, changes)
            if record:  # the record's other settings stay as they are
                found = conn.execute(select(printers.c.connection).where(printers.c.id == printer_id)).first()
                if found is None:
                    raise UnknownPrinter(printer_id)
                values["connection"] = _record_text({**_record(found.connection), **record})
            done = conn.execute(
                printers.update().where(printers.c.id == printer_id).values(updated_at=self.now(), **values)
            )
            if done.rowcount == 0:
                raise UnknownPrinter(printer_id)
            # The event names what changed, never the values (an API key must not reach the log).
            self._event(conn, "printer.updated", printer_id, changed=sorted(changes))
        return self.get_printer(printer_id)

    def remove_printer(self, printer_id: str) -> None:
        with self._write() as conn:
            if conn.execute(select(printers.c.id).where(printers.c.id == printer_id)).first() is None:
                raise UnknownPrinter(printer_id)
            active = conn.execute(
                select(func.count()).where(
                    print_runs.c.printer_id == printer_id, print_runs.c.state == "printing"
                )
            ).scalar_one()
            if active:
                raise UserError(f"printer {printer_id} is printing; cancel or finish its job first")
            pinned = conn.execute(
                select(func.count()).where(
                    jobs.c.printer_id == printer_id, jobs.c.state.in_(("queued", "held"))
                )
            ).scalar_one()
            if pinned:
                raise UserError(
                    f"{pinned} queued job(s) are pinned to printer {printer_id}; "
                    "cancel them or pin them elsewhere first"
                )
            conn.execute(printers.delete().where(printers.c.id == printer_id))
            self._event(conn, "printer.removed", printer_id)

    def set_printer_enabled(self, printer_id: str, enabled: bool) -> Printer:
        """Enable also puts a printer back into rotation (clears the failure hold)."""
        self.get_printer(printer_id)
        values: dict[str, Any] = {"enabled": enabled, "updated_at": self.now()}
        if enabled:
            values.update(hold_reason=None, consecutive_failures=0)
        with self._write() as conn:
            conn.execute(printers.update().where(printers.c.id == printer_id).values(**values))
            self._event(conn, "printer.enabled" if enabled else "printer.disabled", printer_id)
        return self.get_printer(printer_id)

    def confirm_bed_clear(self, printer_id: str) -> Printer:
        """The operator (or an auto-clearing printer) says the bed is empty. Refused while a copy
        prints there: the bed holds that part, and a "clear" bed would let the next copy start on it."""
        self.get_printer(printer_id)
        with self._write() as conn:
            running = conn.execute(
                select(print_runs.c.id, print_runs.c.job_id).where(
                    print_runs.c.printer_id == printer_id, print_runs.c.state == "printing"
                )
            ).first()
            if running is not None:
                raise UserError(
                    f"printer {printer_id} is printing {format_id('job', running.job_id)} "
                    f"({format_id('run', running.id)}); confirm the bed clear after that copy ends"
                )
            # A copy waiting there for `printers recover` is given up: the part is gone, it prints again.
            abandoned = release_pending(self, conn, printer_id=printer_id)
            conn.execute(
                printers.update()
                .where(printers.c.id == printer_id)
                .values(bed_clear=True, updated_at=self.now())
            )
            if abandoned:
                self._event(conn, "printer.bed_cleared", printer_id,
                            abandoned=[format_id("run", run_id) for run_id in abandoned])
            else:
                self._event(conn, "printer.bed_cleared", printer_id)
        return self.get_printer(printer_id)

    def set_printer_state(
        self,
        printer_id: str,
        state: PrinterState,
        detail: str | None = None,
        capabilities: dict[str, Any] | None = None,
    ) -> None:
        """For the daemon: what the printer is doing now (and, once known, what it can do)."""
        detail = mask_optional(detail)  # drivers quote their URL, which may carry a password
        values: dict[str, Any] = {"state": state.value, "state_detail": detail, "state_at": self.now()}
        if capabilities is not None:
            values["capabilities"] = json.dumps(capabilities, sort_keys=True, default=str)
        with self._write() as conn:
            done = conn.execute(printers.update().where(printers.c.id == printer_id).values(**values))
            if done.rowcount == 0:
                raise UnknownPrinter(printer_id)
            self._event(conn, "printer.state", printer_id, state=state.value, detail=detail)

    # ---- orders ---------------------------------------------------------------------------
    def add_order(
        self,
        customer: str,
        *,
        due: float | None,
        priority: int = 0,
        project: str | None = None,
        notes: str | None = None,
    ) -> Order:
        if not customer.strip():
            raise BadValue("an order needs a customer ({customer} NAME)", "customer")
        with self._write() as conn:
            new_id = inserted_id(
                conn.execute(
                    orders.insert().values(
                        customer=customer.strip(),
                        project=project,
                        due=due,
                        priority=priority,
                        notes=notes,
                        created_at=self.now(),
                    )
                )
            )
            self._event(conn, "order.added", format_id("order", new_id), customer=customer, project=project)
        return self.get_order(int(new_id))

    def get_order(self, order_id: int) -> Order:
        found = self._orders(orders.c.id == order_id)
        if not found:
            raise UnknownOrder(order_id)
        return found[0]

    def list_orders(self, *, site: str | None = None) -> list[Order]:
        """Every order, or those of `site`: taken there or with a job (not cancelled) owned by it."""
        if site is None:
            return self._orders(None)
        ours = site == self.site
        owned_jobs = select(jobs.c.order_id).where(
            jobs.c.state != "cancelled", self._ours(jobs.c.site) if ours else jobs.c.site == site
        )
        taken = self._ours(orders.c.site) if ours else orders.c.site == site
        return self._orders(or_(taken, orders.c.id.in_(owned_jobs)))

    def _orders(self, where: Any) -> list[Order]:
        counts = (
            select(
                jobs.c.order_id,
                func.count().label("n"),
                func.sum(jobs.c.copies).label("copies"),
                func.sum(jobs.c.copies_done).label("done"),
            )
            .where(jobs.c.state != "cancelled")
            .group_by(jobs.c.order_id)
            .subquery()
        )
        query = select(orders, counts.c.n, counts.c.copies, counts.c.done).outerjoin(
            counts, counts.c.order_id == orders.c.id
        )
        if where is not None:
            query = query.where(where)
        with self._read() as conn:
            rows = conn.execute(query.order_by(orders.c.id)).all()
            job_sites: dict[int, set[str]] = {}
            for order_id, site in conn.execute(
                select(jobs.c.order_id, jobs.c.site)
                .where(jobs.c.order_id.is_not(None), jobs.c.state != "cancelled")
                .distinct()
            ):
                job_sites.setdefault(order_id, set()).add(site or self.site)
        return [
            Order(
                id=r.id,
                customer=r.customer,
                project=r.project,
                due=r.due,
                priority=r.priority,
                notes=r.notes,
                created_at=r.created_at,
                jobs=r.n or 0,
                copies=r.copies or 0,
                copies_done=r.done or 0,
                site=r.site or self.site,
                job_sites=tuple(sorted(job_sites.get(r.id, ()))),
                origin=origin_text("order", r.origin_site, r.origin_id),
            )
            for r in rows
        ]
