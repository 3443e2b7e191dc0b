"""The scheduler: pure functions that choose what runs next and project finish times.

No database, no clock of its own: the store builds a `QueueSnapshot`, `plan()` answers.
"""

from farmctl.scheduler.availability import availability
from farmctl.scheduler.copies import CopyLedger, RunFact, replay
from farmctl.scheduler.dispatch import Assignment, choose, next_for_printer
from farmctl.scheduler.eligibility import Verdict, fits_bed, judge
from farmctl.scheduler.failures import FailureDecision, decide_after_failure
from farmctl.scheduler.model import (
    BedClear,
    JobState,
    JobView,
    Policy,
    PrinterState,
    PrinterView,
    QueueSnapshot,
    Requirements,
    Unavailability,
    Unavailable,
    WaitingJob,
)
from farmctl.scheduler.policy import order_jobs
from farmctl.scheduler.projection import JobForecast, OrderForecast, Plan, Segment, plan

__all__ = [
    "Assignment",
    "BedClear",
    "CopyLedger",
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
    "RunFact",
    "Segment",
    "Unavailability",
    "Unavailable",
    "Verdict",
    "WaitingJob",
    "availability",
    "choose",
    "decide_after_failure",
    "fits_bed",
    "judge",
    "next_for_printer",
    "order_jobs",
    "plan",
    "replay",
]
