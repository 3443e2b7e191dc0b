"""Pairing a job's runs with its copies (farmctl/scheduler/copies.py): the attempt numbers and the copies
waiting for a retry, by the dispatch rule (a printer takes an untried copy before one that failed on it)."""

from __future__ import annotations

from farmctl.scheduler.copies import RunFact, replay


def run(run_id: int, state: str, started: float, ended: float | None, printer: str = "p1") -> RunFact:
    return RunFact(run_id, printer, state, started, ended)


def test_copies_in_a_row_are_each_a_first_attempt() -> None:
    ledger = replay(3, [run(1, "done", 0, 10), run(2, "done", 11, 20), run(3, "printing", 21, None)])
    assert ledger.attempt == {1: 1, 2: 1, 3: 1}
    assert ledger.waiting == () and ledger.untried == 0


def test_a_retry_counts_on_the_copy_that_failed() -> None:
    ledger = replay(1, [run(1, "failed", 0, 5), run(2, "failed", 6, 8), run(3, "done", 9, 20)])
    assert ledger.attempt == {1: 1, 2: 2, 3: 3}


def test_a_printer_takes_an_untried_copy_before_one_that_failed_on_it() -> None:
    # Copy A fails on p1; p1's next run prints copy B (untried), not A's retry; then A's retry follows.
    runs = [run(1, "failed", 0, 5), run(2, "done", 6, 8), run(3, "printing", 9, None)]
    ledger = replay(2, runs)
    assert ledger.attempt == {1: 1, 2: 1, 3: 2}


def test_another_printer_takes_the_retry_first() -> None:
    runs = [run(1, "failed", 0, 5, "a"), run(2, "printing", 6, None, "b")]
    ledger = replay(3, runs)
    assert ledger.attempt == {1: 1, 2: 2}  # b retries the copy that failed on a
    assert ledger.untried == 2 and ledger.retries == ()


def test_waiting_copies_remember_every_printer_they_failed_on() -> None:
    runs = [run(1, "failed", 0, 5, "a"), run(2, "failed", 6, 9, "b"), run(3, "interrupted", 10, 12, "c")]
    ledger = replay(2, runs)
    # b takes the retry of the copy that failed on a, and fails it too; c (where it never failed) takes
    # it next, and is interrupted: it waits with both failures remembered.
    assert ledger.attempt == {1: 1, 2: 2, 3: 3}
    assert [(w.attempts, w.failed_on) for w in ledger.waiting] == [(3, frozenset({"a", "b"}))]
    assert ledger.retries == (frozenset({"a", "b"}),) and ledger.untried == 1


def test_an_interrupted_copy_is_no_printers_fault() -> None:
    runs = [run(1, "failed", 0, 5, "a"), run(2, "interrupted", 1, 9, "b"), run(3, "printing", 10, None, "c")]
    ledger = replay(2, runs)
    assert ledger.attempt == {1: 1, 2: 1, 3: 2}  # c retries the older waiting copy (failed on a)
    assert [(w.attempts, w.failed_on) for w in ledger.waiting] == [(1, frozenset())]
    assert ledger.retries == ()  # nothing to steer: the interrupted copy may print anywhere


def test_parallel_copies_retry_their_own_failures() -> None:
    # Copies A (r1) and B (r2) print at once; A fails and is retried (r3) while B goes on; B then fails
    # and its retry (r4) is B's second attempt, not the job's fourth run.
    runs = [run(1, "failed", 0, 5, "a"), run(2, "interrupted", 0, 12, "b"), run(3, "done", 6, 30, "b"),
            run(4, "printing", 13, None, "a")]
    assert replay(2, runs).attempt == {1: 1, 2: 1, 3: 2, 4: 2}
