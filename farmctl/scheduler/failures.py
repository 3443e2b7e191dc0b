"""Failure policy: retry a failed copy a bounded number of times; rest a printer that keeps failing."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FailureDecision:
    retry: bool  # the copy goes back to the queue
    job_failed_reason: str | None  # set when the job gives up
    printer_hold_reason: str | None  # set when the printer leaves rotation


def decide_after_failure(
    *,
    job_failures: int,
    max_retries: int,
    printer_id: str,
    printer_consecutive_failures: int,
    printer_failure_limit: int,
    error: str,
) -> FailureDecision:
    """`job_failures` and `printer_consecutive_failures` already count this failure."""
    retry = job_failures <= max_retries
    job_reason = None if retry else f"failed {job_failures} times (retry limit {max_retries}); last: {error}"
    hold = None
    if printer_consecutive_failures >= printer_failure_limit:
        hold = f"{printer_consecutive_failures} failed prints in a row; last: {error}"
    del printer_id  # part of the call for readable call sites and future per-printer limits
    return FailureDecision(retry=retry, job_failed_reason=job_reason, printer_hold_reason=hold)
