"""The scheduler: pure functions that choose what runs next and project finish times.

No database, no clock of its own: the store builds a `QueueSnapshot`, `plan()` answers.
"""

from farmctl.scheduler.dispatch import Assignment, choose, next_for_printer
from farmctl.scheduler.eligibility import Verdict, fits_bed, judge
from farmctl.scheduler.failures import FailureDecision, decide_after_failure
from farmctl.scheduler.model import (
    JobState,
    JobView,
    Policy,
    PrinterState,
    PrinterView,
    QueueSnapshot,
    Requirements,
)
from farmctl.scheduler.policy import order_jobs
from farmctl.scheduler.projection import JobForecast, OrderForecast, Plan, Segment, plan

__all__ = [
    "Assignment",
    "FailureDecision",
    "JobForecast",
    "JobState",
    "JobView",
    "OrderForecast",
    "Plan",
    "Policy",
    "PrinterState",
    "PrinterView",
    "QueueSnapshot",
    "Requirements",
    "Segment",
    "Verdict",
    "choose",
    "decide_after_failure",
    "fits_bed",
    "judge",
    "next_for_printer",
    "order_jobs",
    "plan",
]
