"""Remote commands: `<base>/printers/<id>/cmd/<action>` in, `.../cmd/<action>/result` out.

Pure validation (no paho, no threads): the publisher feeds it the topic, payload and the current
time, and gets back either a `RemoteCommand` to hand to the daemon or a `CommandRefusal` to answer.
Every command must carry a `request_id` (QoS 1 can deliver twice; the id makes that harmless) and an
`expires_at` (a command queued in a broker for an hour must not pause a print when it finally lands).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from farmctl.telemetry.topics import PRINTER_ID

ACTIONS = frozenset({"pause", "resume", "cancel"})
MAX_PAYLOAD_BYTES = 4096
MAX_REQUEST_ID = 128


@dataclass(frozen=True)
class RemoteCommand:
    """A validated command for the daemon to run through the same control path as the CLI."""

    printer_id: str
    action: str
    request_id: str
    expires_at: datetime
    reason: str | None = None


@dataclass(frozen=True)
class CommandOutcome:
    """What the daemon's handler answers; `error` is a one-line reason shown to the remote user."""

    ok: bool
    error: str | None = None


# What the daemon gives the publisher to run a command (daemon/remote_commands.py).
CommandHandler = Callable[[RemoteCommand], CommandOutcome]


@dataclass(frozen=True)
class CommandRefusal:
    printer_id: str
    action: str
    request_id: str | None
    error: str


def parse_command(
    printer_id: str, action: str, payload: bytes, now: datetime, max_age_s: float
) -> RemoteCommand | CommandRefusal:
    def refuse(error: str, request_id: str | None = None) -> CommandRefusal:
        return CommandRefusal(printer_id, action, request_id, error)

    if len(payload) > MAX_PAYLOAD_BYTES:
        return refuse(f"malformed: payload larger than {MAX_PAYLOAD_BYTES} bytes")
    try:
        body = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return refuse("malformed: payload is not JSON")
    if not isinstance(body, dict):
        return refuse("malformed: payload must be a JSON object")
    request_id = body.get("request_id")
    if not isinstance(request_id, str) or not request_id.strip() or len(request_id) > MAX_REQUEST_ID:
        return refuse(f"malformed: request_id must be a non-empty string of at most {MAX_REQUEST_ID} chars")
    # From here on the sender can match our answer to its request.
    if not PRINTER_ID.match(printer_id):
        return refuse("malformed: invalid printer id in topic", request_id)
    if action not in ACTIONS:
        return refuse(f"unknown action {action!r}; known: {', '.join(sorted(ACTIONS))}", request_id)
    expires_at = _parse_time(body.get("expires_at"))
    if expires_at is None:
        return refuse("malformed: expires_at must be an ISO 8601 time with zone or unix seconds", request_id)
    if expires_at <= now:
        return refuse(f"expired at {expires_at.isoformat()}", request_id)
    if expires_at > now + timedelta(seconds=max_age_s):
        # An expiry far in the future defeats the point of having one; make the sender pick a short one.
        return refuse(f"malformed: expires_at is more than {max_age_s:g} s ahead", request_id)
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        return refuse("malformed: reason must be a string", request_id)
    unknown = set(body) - {"request_id", "expires_at", "reason"}
    if unknown:
        return refuse(f"malformed: unknown fields {', '.join(sorted(unknown))}", request_id)
    return RemoteCommand(printer_id, action, request_id, expires_at, reason)


def result_document(
    printer_id: str, action: str, request_id: str | None, ok: bool, error: str | None
) -> dict[str, Any]:
    return {"request_id": request_id, "printer": printer_id, "action": action, "ok": ok, "error": error}


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        # A time without a zone is ambiguous across sites; refuse rather than guess.
        return moment if moment.tzinfo is not None else None
    return None


class RecentRequests:
    """Remembers the last answers by request id, so a QoS 1 duplicate is answered, not re-run."""

    def __init__(self, capacity: int = 512) -> None:
        self._capacity = capacity
        self._answers: OrderedDict[tuple[str, str, str], CommandOutcome | None] = OrderedDict()

    def seen(self, command: RemoteCommand) -> bool:
        return self._key(command) in self._answers

    def answer(self, command: RemoteCommand) -> CommandOutcome | None:
        """The stored outcome, or None while the first delivery is still being handled."""
        return self._answers.get(self._key(command))

    def remember(self, command: RemoteCommand, outcome: CommandOutcome | None) -> None:
        key = self._key(command)
        self._answers[key] = outcome
        self._answers.move_to_end(key)
        while len(self._answers) > self._capacity:
            self._answers.popitem(last=False)

    @staticmethod
    def _key(command: RemoteCommand) -> tuple[str, str, str]:
        return (command.printer_id, command.action, command.request_id)
