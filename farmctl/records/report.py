"""Order reports: what an order made, where and when, what it used and what it cost.

Built from the runs the store recorded (every attempt: a failed or cancelled copy used filament,
machine time and a person's time too, so it is in the cost). Per part: copies done, the attempts
with their printer, times and outcome, failures with their reason, print time, filament and cost;
per order: totals and when it was delivered (its last copy done, once every copy is). An order with
nothing printed yet is an honest empty report, not an error. Rendering (JSON, CSV, HTML, PDF) is in
render.py; the timeline picture's geometry is `timeline()` here, shared by HTML and PDF.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from farmctl.config_schema import CostSettings
from farmctl.ids import format_id
from farmctl.records.costs import Cost, Machine, cost_of, farm_costs, grams, machines_of, money, sum_costs
from farmctl.store.history import JobRecord, RunRecord
from farmctl.times import iso

if TYPE_CHECKING:
    from farmctl.store import JobStore, Order

FAILED_STATES = frozenset({"failed", "interrupted", "cancelled"})


@dataclass(frozen=True)
class RunLine:
    run_id: int
    printer_id: str
    state: str
    started_at: float
    ended_at: float | None  # None: printing now
    print_time_s: float
    filament_g: float | None  # None: not known (the file's analysis had no filament figure)
    cost: Cost
    error: str | None


@dataclass(frozen=True)
class JobReport:
    job_id: int
    file: str
    copies: int
    copies_done: int
    state: str
    material: str | None
    runs: tuple[RunLine, ...]

    @property
    def failures(self) -> tuple[RunLine, ...]:
        return tuple(r for r in self.runs if r.state in FAILED_STATES)

    @property
    def printers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.printer_id for r in self.runs))

    @property
    def print_time_s(self) -> float:
        return sum(r.print_time_s for r in self.runs)

    @property
    def filament_g(self) -> float:
        return sum(r.filament_g or 0.0 for r in self.runs)

    @property
    def cost(self) -> Cost:
        return sum_costs(run.cost for run in self.runs)


@dataclass(frozen=True)
class OrderReport:
    order: Order
    jobs: tuple[JobReport, ...]
    currency: str
    generated: float

    @property
    def runs(self) -> list[RunLine]:
        return [run for job in self.jobs for run in job.runs]

    @property
    def total_cost(self) -> Cost:
        return sum_costs(job.cost for job in self.jobs)

    @property
    def delivered_at(self) -> float | None:
        """When its last copy was done, once every copy of every part is (cancelled parts aside)."""
        live = [job for job in self.jobs if job.state != "cancelled"]
        if not live or any(job.copies_done < job.copies for job in live):
            return None
        ends = [r.ended_at for job in live for r in job.runs if r.state == "done" and r.ended_at]
        return max(ends) if ends else None

    @property
    def nothing_printed(self) -> bool:
        return not any(job.runs for job in self.jobs)

    def to_json(self) -> dict[str, Any]:
        order = self.order
        total = self.total_cost
        return {
            "order": format_id("order", order.id),
            "customer": order.customer,
            "project": order.project,
            "due": iso(order.due),
            "delivered": iso(self.delivered_at),
            "currency": self.currency,
            "jobs": [
                {
                    "job": format_id("job", job.job_id),
                    "file": job.file,
                    "state": job.state,
                    "material": job.material,
                    "copies": job.copies,
                    "copies_done": job.copies_done,
                    "attempts": len(job.runs),
                    "failures": [
                        {"run": format_id("run", r.run_id), "printer": r.printer_id, "state": r.state,
                         "reason": r.error}
                        for r in job.failures
                    ],
                    "printers": list(job.printers),
                    "print_time_s": round(job.print_time_s),
                    "filament_g": round(job.filament_g, 1),
                    "cost": money(job.cost.total),
                    "breakdown": job.cost.to_json(),
                    "runs": [
                        {
                            "run": format_id("run", r.run_id),
                            "printer": r.printer_id,
                            "state": r.state,
                            "started": iso(r.started_at),
                            "ended": iso(r.ended_at),
                            "print_time_s": round(r.print_time_s),
                            "filament_g": None if r.filament_g is None else round(r.filament_g, 1),
                            "cost": money(r.cost.total),
                            "error": r.error,
                        }
                        for r in job.runs
                    ],
                }
                for job in self.jobs
            ],
            "print_time_s": round(sum(job.print_time_s for job in self.jobs)),
            "filament_g": round(sum(job.filament_g for job in self.jobs), 1),
            "total_cost": money(total.total),
            "breakdown": total.to_json(),
            "missing_prices": list(total.missing),
            "nothing_printed": self.nothing_printed,
            "generated": iso(self.generated),
        }


def build_report(
    order: Order,
    jobs: list[JobRecord],
    runs: list[RunRecord],
    *,
    costs: CostSettings,
    machines: dict[str, Machine],
    now: float,
    default_printer_w: float = 350.0,
) -> OrderReport:
    """Pure: the report of an order from its history rows."""
    by_job: dict[int, list[RunLine]] = {job.job_id: [] for job in jobs}
    for run in runs:
        end = run.ended_at if run.ended_at is not None else now
        seconds = max(0.0, end - run.started_at)
        used = None if run.filament_mm is None else grams(costs, run.material, run.filament_mm)
        cost = cost_of(
            costs,
            material=run.material,
            filament_g=used or 0.0,
            print_time_s=seconds,
            machine=machines.get(run.printer_id, Machine(run.printer_id)),
            default_printer_w=default_printer_w,
        )
        by_job.setdefault(run.job_id, []).append(
            RunLine(run.run_id, run.printer_id, run.state, run.started_at, run.ended_at, seconds, used, cost,
                    run.error)
        )
    reports = tuple(
        JobReport(job.job_id, job.name, job.copies, job.copies_done, job.state, job.material,
                  tuple(by_job[job.job_id]))
        for job in jobs
    )
    return OrderReport(order, reports, costs.currency, now)


def order_report(store: JobStore, order_id: int) -> OrderReport:
    """The service the faces call (`farmctl orders report`)."""
    order, jobs, runs = store.order_history(order_id)
    costs, power = farm_costs(store)
    return build_report(order, jobs, runs, costs=costs, machines=machines_of(store.list_printers()),
                        now=store.now(), default_printer_w=power.default_printer_w)


@dataclass(frozen=True)
class Bar:
    """One attempt in the timeline picture: x from 0 (the first start) to 1 (the last end)."""

    row: int  # index into the printers
    x0: float
    x1: float
    label: str  # e.g. "j3 #2"
    job_index: int  # for a colour per part
    failed: bool


def timeline(report: OrderReport) -> tuple[list[str], list[Bar], float, float]:
    """(printers, bars, start, end) of the picture of which copy printed on which printer when."""
    runs = [(job_index, job, run) for job_index, job in enumerate(report.jobs) for run in job.runs]
    if not runs:
        return [], [], report.generated, report.generated
    start = min(run.started_at for _, _, run in runs)
    end = max((run.ended_at or report.generated) for _, _, run in runs)
    span = max(end - start, 1.0)
    printers = sorted({run.printer_id for _, _, run in runs})
    row_of = {p: i for i, p in enumerate(printers)}
    bars = []
    attempt: dict[int, int] = {}
    for job_index, job, run in runs:
        attempt[job.job_id] = attempt.get(job.job_id, 0) + 1
        stop = run.ended_at or report.generated
        bars.append(
            Bar(
                row=row_of[run.printer_id],
                x0=(run.started_at - start) / span,
                x1=(stop - start) / span,
                label=f"{format_id('job', job.job_id)} #{attempt[job.job_id]}",
                job_index=job_index,
                failed=run.state in FAILED_STATES,
            )
        )
    return printers, bars, start, end
