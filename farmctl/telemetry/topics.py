"""The topic scheme (reference A7): one place that spells every topic the farm uses.

Fixed depth under `<prefix>/<site>` so `+` wildcards and ACL patterns work:

    <base>/daemon/status                  online|offline (retained, last will)
    <base>/daemon/info                    retained JSON
    <base>/printers/<id>/status           online|offline (retained)
    <base>/printers/<id>/state|job        retained JSON
    <base>/printers/<id>/telemetry        retained JSON with MQTT 5 message expiry
    <base>/printers/<id>/events           JSON events, never retained
    <base>/printers/<id>/cmd/<action>     commands in (optional)
    <base>/printers/<id>/cmd/<action>/result
    <base>/queue/state                    retained JSON
    <base>/queue/events                   JSON events, never retained
    <base>/attention/state                retained JSON: what waits for a person
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

ONLINE = "online"
OFFLINE = "offline"
# Printer ids appear verbatim as a topic level, so a topic maps back to the printer without a table.
# This is the set `farmctl printers add` accepts; none of it is special in MQTT (no '+', '#', '/').
PRINTER_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_HA_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")


class TopicError(ValueError):
    """An id that cannot be a topic level (would break wildcards or ACLs)."""


def check_printer_id(value: str) -> str:
    if not PRINTER_ID.match(value):
        raise TopicError(
            f"printer id {value!r} must be 1-64 letters, digits, '-', '_' or '.' to be used in topics"
        )
    return value


@dataclass(frozen=True)
class TopicScheme:
    base: str
    homeassistant_prefix: str = "homeassistant"

    @property
    def daemon_status(self) -> str:
        return f"{self.base}/daemon/status"

    @property
    def daemon_info(self) -> str:
        return f"{self.base}/daemon/info"

    @property
    def queue_state(self) -> str:
        return f"{self.base}/queue/state"

    @property
    def queue_events(self) -> str:
        return f"{self.base}/queue/events"

    @property
    def attention_state(self) -> str:
        return f"{self.base}/attention/state"

    @property
    def command_filter(self) -> str:
        return f"{self.base}/printers/+/cmd/+"

    @property
    def homeassistant_status(self) -> str:
        return f"{self.homeassistant_prefix}/status"

    @property
    def everything(self) -> str:
        return f"{self.base}/#"

    def printer(self, printer_id: str, leaf: str) -> str:
        return f"{self.base}/printers/{check_printer_id(printer_id)}/{leaf}"

    def command(self, printer_id: str, action: str) -> str:
        return self.printer(printer_id, f"cmd/{action}")

    def command_result(self, printer_id: str, action: str) -> str:
        return self.printer(printer_id, f"cmd/{action}/result")

    def discovery(self, site: str, printer_id: str) -> str:
        return f"{self.homeassistant_prefix}/device/{discovery_object_id(site, printer_id)}/config"

    def site_discovery(self, site: str) -> str:
        """The farm's own Home Assistant device (what needs attention), beside its printers'."""
        return f"{self.homeassistant_prefix}/device/{site_object_id(site)}/config"

    def split_printer_topic(self, topic: str) -> tuple[str, str] | None:
        """`<base>/printers/<id>/<rest>` -> (id, rest); None for any other topic."""
        prefix = f"{self.base}/printers/"
        if not topic.startswith(prefix):
            return None
        printer_id, _, rest = topic[len(prefix) :].partition("/")
        if not printer_id or not rest:
            return None
        return printer_id, rest


def discovery_object_id(site: str, printer_id: str) -> str:
    """HA object ids allow only [a-zA-Z0-9_-]: a '.' in a printer id is replaced, and a short hash of
    the real id is appended so `a.b` and `a_b` still get different HA devices."""
    safe = _HA_UNSAFE.sub("_", printer_id)
    if safe != printer_id:
        safe = f"{safe}_{hashlib.sha1(printer_id.encode()).hexdigest()[:6]}"
    return f"farm_{site}_{safe}"


def site_object_id(site: str) -> str:
    """`farmctl_<site>`: never one of the printers' `farm_<site>_<id>` (the fifth letter differs)."""
    return f"farmctl_{_HA_UNSAFE.sub('_', site)}"
