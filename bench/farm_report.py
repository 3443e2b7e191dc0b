"""What bench/farm_physical.py measured, against issue 16's targets, and the host's cost per printer."""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass, field
from typing import Any

from bench.harness import percentile, spread
from bench.journal_check import JournalCheck
from bench.side_load import Check, Outcome

CPU_TARGET_CORES = 0.5
RSS_TARGET_MB = 300.0
LATENCY_TARGET_S = 1.0
MQTT_TARGET_MS = 200.0


@dataclass
class Report:
    args: argparse.Namespace
    machine: str
    fixed: tuple[float, float] = (0.0, 0.0)  # daemon with no printer: cores, RSS MB
    idle: tuple[float, float, float] = (0.0, 0.0, 0.0)  # every printer idle: cores, RSS MB, CPU wait share
    window: tuple[float, float, float] = (0.0, 0.0, 0.0)  # streaming: cores, seconds, CPU wait share
    sims: tuple[float, float] = (0.0, 0.0)  # simulators in the window: cores, CPU wait (summed shares)
    lines: dict[str, int] = field(default_factory=dict)  # lines acknowledged per printer in the window
    dispatch: list[float] = field(default_factory=list)
    control: dict[str, list[float]] = field(default_factory=dict)
    controlled: list[str] = field(default_factory=list)
    faulty: list[str] = field(default_factory=list)
    peak_rss: float = 0.0
    rss_first_jobs: float = 0.0  # once the first printer of each file printed
    rss_all_jobs: float = 0.0  # once every printer printed
    mqtt_ms: list[float] = field(default_factory=list)
    loads: list[Outcome] = field(default_factory=list)
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    journals: list[JournalCheck] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    runs: dict[str, list[tuple[str, str | None]]] = field(default_factory=dict)  # per printer: (state, error)

    # -- derived figures -----------------------------------------------------------------------------

    @property
    def printers(self) -> int:
        return self.args.printers

    def judged(self) -> list[str]:
        """Printers whose starvation is judged: not paused on purpose, not fed faults."""
        return [p for p in sorted(self.stats) if p not in self.controlled and p not in self.faulty]

    def host_cost(self) -> dict[str, float]:
        fixed_cores, fixed_rss = self.fixed
        idle_cores, idle_rss, _ = self.idle
        window_cores, seconds, _ = self.window
        lines_per_s = sum(self.lines.values()) / seconds if seconds else 0.0
        idle_us = (idle_cores - fixed_cores) / self.printers * 1e6
        line_us = (window_cores - idle_cores) / lines_per_s * 1e6 if lines_per_s else float("nan")
        per_printer_rate = lines_per_s / self.printers
        per_printer_cores = (idle_us + per_printer_rate * line_us) / 1e6
        cost = {
            "fixed_cores": fixed_cores,
            "fixed_rss_mb": fixed_rss,
            "idle_us_per_printer_s": idle_us,
            "rss_mb_per_idle_printer": (idle_rss - fixed_rss) / self.printers,
            "lines_per_s": lines_per_s,
            "lines_per_s_per_printer": per_printer_rate,
            "us_per_line": line_us,
            "rss_mb_printing_over_idle": self.peak_rss - idle_rss,
            "rss_mb_files_and_first_jobs": self.rss_first_jobs - idle_rss,
            "rss_mb_per_printing_printer": (self.rss_all_jobs - self.rss_first_jobs)
            / max(1, self.printers - 2),
            "printers_per_core": (1 - fixed_cores) / per_printer_cores
            if per_printer_cores > 0
            else float("inf"),
        }
        per_printer_mb = cost["rss_mb_per_idle_printer"] + cost["rss_mb_per_printing_printer"]
        base_mb = fixed_rss + cost["rss_mb_files_and_first_jobs"]
        fitting = (RSS_TARGET_MB - base_mb) / per_printer_mb if per_printer_mb > 0 else 0.0
        cost["printers_in_rss_target"] = fitting
        return cost

    def checks(self) -> list[Check]:
        judged = self.judged()
        starved = {p: float(self.stats[p].get("host_starvation_s", float("nan"))) for p in judged}
        clean = sum(1 for value in starved.values() if value == 0)
        checks = [
            Check("host-caused planner starvation", f"0 on {clean} of {len(judged)} printers",
                  "0 on every printer", clean == len(judged)),
            Check("daemon CPU while streaming", f"{self.window[0]:.2f} cores", f"<= {CPU_TARGET_CORES} core",
                  self.window[0] <= CPU_TARGET_CORES),
            Check("daemon peak RSS", f"{self.peak_rss:.0f} MB", f"<= {RSS_TARGET_MB:.0f} MB",
                  self.peak_rss <= RSS_TARGET_MB),
            Check("dispatch latency (job added -> printing)", self._spread_s(self.dispatch),
                  f"< {LATENCY_TARGET_S:g} s", bool(self.dispatch) and max(self.dispatch) < LATENCY_TARGET_S),
        ]  # fmt: skip
        for verb, latencies in self.control.items():
            figure = f"{verb} latency (requested -> handled by the daemon)"
            met = max(latencies) < LATENCY_TARGET_S
            checks.append(Check(figure, self._spread_s(latencies), f"< {LATENCY_TARGET_S:g} s", met))
        median = statistics.median(self.mqtt_ms) if self.mqtt_ms else float("nan")
        checks.append(Check("MQTT state change -> subscriber", spread(self.mqtt_ms),
                            f"median < {MQTT_TARGET_MS:g} ms", median < MQTT_TARGET_MS))  # fmt: skip
        for outcome in self.loads:
            checks += outcome.checks
        clean_journals = sum(1 for j in self.journals if j.clean)
        total = len(self.journals)
        measured = f"{clean_journals} of {total} printers"
        checks.append(
            Check("every line executed once, in order (journals)", measured, "all", clean_journals == total)
        )
        return checks

    def met(self) -> bool:
        return all(check.met for check in self.checks())

    @staticmethod
    def _spread_s(values: list[float]) -> str:
        if not values:
            return "none measured"
        return (f"median {statistics.median(values):.3f} s, p95 {percentile(values, 0.95):.3f} s, "
                f"max {max(values):.3f} s (n={len(values)})")  # fmt: skip

    # -- printing -------------------------------------------------------------------------------------

    def print(self) -> None:
        a = self.args
        print(
            f"\n== {self.printers} printers at physical speed, {a.minutes:g} min, {a.transport}, profiles "
            f"{a.profiles}; {self.machine}"
        )
        print(
            f"streaming window {self.window[1]:.0f} s; daemon waited for a CPU {self.window[2]:.0%} of it; "
            f"simulators {self.sims[0]:.2f} cores (waiting {self.sims[1]:.0%} of the time, summed)"
        )
        print("\n| figure | measured | target | |\n| --- | --- | --- | --- |")
        for check in self.checks():
            verdict = "met" if check.met else "NOT MET"
            print(f"| {check.figure} | {check.measured} | {check.target} | {verdict} |")
        self._print_cost()
        self._print_starvation()
        print("\n== Other figures")
        for outcome in self.loads:
            for line in outcome.lines:
                print(line)
        for journal in self.journals:
            if not journal.clean or journal.printer in self.faulty:
                print(journal.summary())
        for printer, runs in sorted(self.runs.items()):
            failed = [error for state, error in runs if state == "failed"]
            if failed or printer in self.faulty:
                states = ", ".join(state for state, _ in runs)
                print(f"{printer} runs: {states}" + "".join(f"\n    failed: {error}" for error in failed))
        for note in self.notes:
            print(f"note: {note}")

    def _print_cost(self) -> None:
        cost = self.host_cost()
        print("\n== The host's own cost per printer (daemon process: CPU user+system, RSS)")
        print(
            f"fixed (daemon, broker connection, no printer): {cost['fixed_cores']:.3f} cores, "
            f"{cost['fixed_rss_mb']:.0f} MB"
        )
        print(
            f"idle printer: {cost['idle_us_per_printer_s']:.0f} us CPU per second, "
            f"{cost['rss_mb_per_idle_printer']:.2f} MB"
        )
        if self.rss_first_jobs:  # (measured when there are more printers than files)
            print(
                f"memory once printing: {cost['rss_mb_files_and_first_jobs']:+.0f} MB with the first "
                f"printer of each file printing (the files' pre-flighted commands), then "
                f"{cost['rss_mb_per_printing_printer']:+.1f} MB per further printing printer"
            )
        print(
            f"streaming: {cost['lines_per_s']:.0f} lines/s in all ({cost['lines_per_s_per_printer']:.1f} per "
            f"printer), {cost['us_per_line']:.1f} us CPU per line on top of the idle cost; memory while "
            f"printing {cost['rss_mb_printing_over_idle']:+.0f} MB over idle (peak)"
        )
        print(
            f"printers per core: (1 - {cost['fixed_cores']:.3f}) / ({cost['idle_us_per_printer_s']:.0f} us + "
            f"{cost['lines_per_s_per_printer']:.1f} lines/s x {cost['us_per_line']:.1f} us) = "
            f"{cost['printers_per_core']:.0f}"
        )
        if self.rss_first_jobs:
            print(
                f"printers printing these files within {RSS_TARGET_MB:.0f} MB: ({RSS_TARGET_MB:.0f} - "
                f"{cost['fixed_rss_mb']:.0f} fixed - {cost['rss_mb_files_and_first_jobs']:.0f} files) / "
                f"({cost['rss_mb_per_idle_printer']:.2f} + {cost['rss_mb_per_printing_printer']:.1f} MB) = "
                f"{cost['printers_in_rss_target']:.0f}"
            )

    def _print_starvation(self) -> None:
        judged = self.judged()
        print("\n== Planner starvation per printer (simulators' exit stats, seconds)")
        for name in ("host", "link", "late"):
            values = [float(self.stats[p].get(f"{name}_starvation_s", 0.0)) for p in judged]
            total = sum(values)
            print(
                f"{name}: {total:.3f} s in all, {sum(1 for v in values if v > 0)} printers with any, "
                f"max {max(values, default=0):.3f} s"
            )
        worst = sorted(judged, key=lambda p: -float(self.stats[p].get("host_starvation_s", 0)))[:5]
        for printer in worst:
            s = self.stats[printer]
            if s.get("host_starvation_s", 0):
                longest = f"longest {s['host_starvation_max_s']:.4f} s at {s['host_starvation_max_at']:.0f} s"
                spells = f"{s['host_starvation_gaps']} spell(s)"
                print(f"  {printer}: host {s['host_starvation_s']:.4f} s, {spells}, {longest}")
        for group, members in (("paused/cancelled on purpose", self.controlled), ("fed faults", self.faulty)):
            for printer in members:
                s = self.stats.get(printer, {})
                print(
                    f"  {printer} ({group}): host {s.get('host_starvation_s', 0):.3f} s, "
                    f"link {s.get('link_starvation_s', 0):.3f} s"
                )

    def figures(self) -> dict[str, Any]:
        return {
            "args": {k: (str(v) if not isinstance(v, int | float | str | bool | None) else v)
                     for k, v in vars(self.args).items()},
            "machine": self.machine,
            "checks": [vars(check) for check in self.checks()],
            "host_cost": self.host_cost(),
            "starvation": {
                p: {k: v for k, v in s.items() if "starvation" in k} for p, s in sorted(self.stats.items())
            },
            "controlled": self.controlled,
            "faulty": self.faulty,
        }  # fmt: skip
