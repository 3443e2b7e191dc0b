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
"""

from __future__ import annotations

from dataclasses import dataclass

from farmctl.telemetry.settings import TOPIC_LEVEL

ONLINE = "online"
OFFLINE = "offline"


class TopicError(ValueError):
    """An id that cannot be a topic level (would break wildcards or ACLs)."""


def check_level(value: str, what: str) -> str:
    if not TOPIC_LEVEL.match(value):
        raise TopicError(
            f"{what} {value!r} must be lowercase letters, digits, '_' or '-' to be used in topics"
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
    def command_filter(self) -> str:
        return f"{self.base}/printers/+/cmd/+"

    @property
    def homeassistant_status(self) -> str:
        return f"{self.homeassistant_prefix}/status"

    @property
    def everything(self) -> str:
        return f"{self.base}/#"

    def printer(self, printer_id: str, leaf: str) -> str:
        return f"{self.base}/printers/{check_level(printer_id, 'printer id')}/{leaf}"

    def command(self, printer_id: str, action: str) -> str:
        return self.printer(printer_id, f"cmd/{action}")

    def command_result(self, printer_id: str, action: str) -> str:
        return self.printer(printer_id, f"cmd/{action}/result")

    def discovery(self, site: str, printer_id: str) -> str:
        return f"{self.homeassistant_prefix}/device/{discovery_object_id(site, printer_id)}/config"

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
    # HA object ids allow [a-zA-Z0-9_-]; site and printer id are already restricted to that set.
    return f"farm_{site}_{printer_id}"
