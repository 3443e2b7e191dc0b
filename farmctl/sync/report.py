"""What one sync did: the `--json` object of `farmctl sync`, and its lines for a person."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PUSH_ORDER = ("orders", "jobs", "print_runs", "events", "printers")
# the names the report gives the pushed tables (the --json keys)
PUSHED_AS = {
    "orders": "orders",
    "jobs": "jobs",
    "print_runs": "runs",
    "events": "events",
    "printers": "printers",
}


@dataclass
class SyncReport:
    site: str
    central: str  # the centre's database, its password masked
    registered: bool = False  # this sync registered the site name at the centre
    pulled_jobs: list[str] = field(default_factory=list)  # as shown here: central/j41
    pulled_orders: int = 0
    pulled_files: int = 0
    pushed: dict[str, int] = field(default_factory=lambda: {name: 0 for name in PUSHED_AS.values()})
    refused: list[str] = field(default_factory=list)

    @property
    def changed_anything(self) -> bool:
        return bool(self.pulled_jobs or self.pulled_orders or self.pulled_files or any(self.pushed.values()))

    def to_json(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "central": self.central,
            "registered": self.registered,
            "pulled": {"jobs": self.pulled_jobs, "orders": self.pulled_orders, "files": self.pulled_files},
            "pushed": dict(self.pushed),
            "refused": list(self.refused),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> SyncReport:
        """The report a `farmctl sync --json` process printed (the daemon's own syncs run as one)."""
        return cls(
            site=doc["site"],
            central=doc["central"],
            registered=doc["registered"],
            pulled_jobs=list(doc["pulled"]["jobs"]),
            pulled_orders=doc["pulled"]["orders"],
            pulled_files=doc["pulled"]["files"],
            pushed=dict(doc["pushed"]),
            refused=list(doc["refused"]),
        )

    def lines(self) -> list[str]:
        pulled = (
            f"pulled {_count(len(self.pulled_jobs), 'jobs')} ({', '.join(self.pulled_jobs)}), "
            f"{_count(self.pulled_orders, 'orders')}, {_count(self.pulled_files, 'files')}"
            if self.pulled_jobs or self.pulled_files
            else "pulled nothing new"
        )
        pushed = ", ".join(_count(count, name) for name, count in self.pushed.items() if count)
        found = [
            f"{self.site} synced with {self.central}" + (" (site registered)" if self.registered else ""),
            pulled,
            f"pushed {pushed}" if pushed else "pushed nothing new",
        ]
        return found + [f"refused: {line}" for line in self.refused]


def _count(number: int, plural: str) -> str:
    """`1 job`, `2 jobs`: the report's names are plurals ending in s (its --json keys)."""
    return f"{number} {plural[:-1] if number == 1 else plural}"
