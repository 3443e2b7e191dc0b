"""Command validation: every refusal has a reason; only well-formed, unexpired commands pass."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from farmctl.telemetry.commands import (
    CommandOutcome,
    CommandRefusal,
    RecentRequests,
    RemoteCommand,
    parse_command,
)

NOW = datetime(2026, 11, 21, 7, 0, tzinfo=UTC)


def command(**body: object) -> bytes:
    return json.dumps(body).encode()


def parse(payload: bytes, action: str = "pause", printer: str = "p1") -> RemoteCommand | CommandRefusal:
    return parse_command(printer, action, payload, NOW, max_age_s=300)


def test_valid_command_with_iso_expiry() -> None:
    expires = (NOW + timedelta(seconds=30)).isoformat().replace("+00:00", "Z")
    parsed = parse(command(request_id="r1", expires_at=expires, reason="operator"), action="cancel")
    assert parsed == RemoteCommand("p1", "cancel", "r1", NOW + timedelta(seconds=30), "operator")


def test_valid_command_with_unix_seconds() -> None:
    parsed = parse(command(request_id="r2", expires_at=NOW.timestamp() + 10))
    assert isinstance(parsed, RemoteCommand)
    assert parsed.expires_at == NOW + timedelta(seconds=10)


@pytest.mark.parametrize(
    ("payload", "action", "printer", "fragment"),
    [
        (b"pause now", "pause", "p1", "not JSON"),
        (b"\xff\xfe", "pause", "p1", "not JSON"),
        (b"[1, 2]", "pause", "p1", "JSON object"),
        (command(expires_at=NOW.timestamp() + 10), "pause", "p1", "request_id"),
        (command(request_id="", expires_at=NOW.timestamp() + 10), "pause", "p1", "request_id"),
        (command(request_id="r"), "pause", "p1", "expires_at"),
        (command(request_id="r", expires_at="tomorrow"), "pause", "p1", "expires_at"),
        (command(request_id="r", expires_at="2026-11-21T07:01:00"), "pause", "p1", "expires_at"),
        (command(request_id="r", expires_at=True), "pause", "p1", "expires_at"),
        (command(request_id="r", expires_at=NOW.timestamp() - 1), "pause", "p1", "expired"),
        (command(request_id="r", expires_at=NOW.timestamp() + 3600), "pause", "p1", "ahead"),
        (
            command(request_id="r", expires_at=NOW.timestamp() + 5, gcode="M112"),
            "pause",
            "p1",
            "unknown fields",
        ),
        (command(request_id="r", expires_at=NOW.timestamp() + 5, reason=5), "pause", "p1", "reason"),
        (command(request_id="r", expires_at=NOW.timestamp() + 5), "explode", "p1", "unknown action"),
        (command(request_id="r", expires_at=NOW.timestamp() + 5), "pause", "P 1", "printer id"),
        (b"{" + b" " * 5000 + b"}", "pause", "p1", "larger"),
    ],
)
def test_refusals_carry_a_reason(payload: bytes, action: str, printer: str, fragment: str) -> None:
    parsed = parse(payload, action=action, printer=printer)
    assert isinstance(parsed, CommandRefusal)
    assert fragment in parsed.error


def test_refusal_keeps_the_request_id_when_it_was_readable() -> None:
    parsed = parse(command(request_id="r9", expires_at=NOW.timestamp() - 5))
    assert isinstance(parsed, CommandRefusal)
    assert parsed.request_id == "r9"
    assert parsed.error.startswith("expired")


def test_recent_requests_remember_answers_and_forget_the_oldest() -> None:
    recent = RecentRequests(capacity=2)
    first, second, third = (RemoteCommand("p1", "pause", f"r{i}", NOW) for i in range(3))
    recent.remember(first, None)
    assert recent.seen(first) and recent.answer(first) is None
    recent.remember(first, CommandOutcome(True))
    assert recent.answer(first) == CommandOutcome(True)
    recent.remember(second, CommandOutcome(False, "busy"))
    recent.remember(third, CommandOutcome(True))
    assert not recent.seen(first) and recent.seen(second) and recent.seen(third)
