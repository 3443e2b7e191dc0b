"""The side loads bench/farm_physical.py can run beside the daemon while its farm prints (`--side-load`).

A side load starts when the printers start, runs in threads of its own (the dashboard's also a process:
`farmctl serve`) and, when stopped, returns report lines and checks against targets (the shapes are in
bench/side_load.py). `SIDE_LOADS` names the ones a run can choose; every one runs by default:

* `status`: `farmctl status` and `status --json` every 30 s, as a technician runs them (this module);
* `dashboard`: `farmctl serve` as its own process on the farm home, with a read key made by
  `farmctl keys add`, and N clients (`--dashboard-clients`, 3) that do what the dashboard page does in
  a browser: load `/`, hold its live event stream open, reload every `--dashboard-reload` seconds like
  a wall screen (bench/farm_dashboard_load.py, the clients in bench/dashboard_client.py).

The daemon's own RSS sampler (`RssSampler`) is always run and is not a choice.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

from bench.farm_dashboard_load import DashboardLoad
from bench.harness import farmctl_env, percentile, rss_mb, timed_farmctl
from bench.side_load import Check, LoadContext, Outcome, Periodic, SideLoad

STATUS_target_S = 0.5
RSS_GROWTH_BOUND_MB_PER_H = 10.0  # "memory flat": what the soak accepts after start-up


class StatusCommand(Periodic):
    """`farmctl status` and `farmctl status --json` as a technician runs them, every 30 s, timed."""

    def __init__(self, home: Path) -> None:
        super().__init__(30.0)
        self.home = home
        self.walls: dict[str, list[float]] = {"status": [], "status --json": []}
        # farmctl as installed: its bytecode and the store's table cache written once, then used
        self.env = farmctl_env(home, home.parent / "status-pycache")

    def tick(self) -> None:
        for name in self.walls:
            wall, _ = timed_farmctl(*name.split(), env=self.env)
            self.walls[name].append(wall)

    def stop(self) -> Outcome:
        self.halt()
        outcome = Outcome()
        for name, walls in self.walls.items():
            if not walls:
                continue
            worst = max(walls)
            outcome.lines.append(
                f"farmctl {name}: median {statistics.median(walls):.3f} s, max {worst:.3f} s (n={len(walls)})"
            )
            median = statistics.median(walls)
            target = f"< {STATUS_target_S} s"
            measured = f"median {median:.2f} s, max {worst:.2f} s"
            outcome.checks.append(
                Check(f"`farmctl {name}` wall time", measured, target, median < STATUS_target_S)
            )
        return outcome


class RssSampler(Periodic):
    """The daemon's resident memory every `period` seconds, and its growth per hour (least squares over
    the second half of the samples, after start-up, heat-ups and the first layers)."""

    def __init__(self, pid: int, period: float, judge: bool = False) -> None:
        super().__init__(period)
        self.pid = pid
        self.judge = judge
        self.samples: list[tuple[float, float]] = []
        self._t0 = time.monotonic()

    def tick(self) -> None:
        self.samples.append((time.monotonic() - self._t0, rss_mb(self.pid)))

    def growth_mb_per_h(self) -> float | None:
        """None: too short a run to tell (under 20 samples: the start-up still dominates)."""
        tail = self.samples[len(self.samples) // 2 :]
        if len(tail) < 10:
            return None
        mean_t = statistics.fmean(t for t, _ in tail)
        mean_m = statistics.fmean(m for _, m in tail)
        slope = sum((t - mean_t) * (m - mean_m) for t, m in tail) / sum((t - mean_t) ** 2 for t, _ in tail)
        return slope * 3600

    def stop(self) -> Outcome:
        self.halt()
        outcome = Outcome()
        if not self.samples:
            return outcome
        rss = [m for _, m in self.samples]
        growth = self.growth_mb_per_h()
        text = "not judged (run too short)" if growth is None else f"{growth:+.1f} MB per hour"
        outcome.lines.append(
            f"daemon RSS every {self.period:g} s: {rss[0]:.0f} -> {rss[-1]:.0f} MB (min {min(rss):.0f}, "
            f"max {max(rss):.0f}, p95 {percentile(rss, 0.95):.0f}); growth over the second half: {text}"
        )
        if self.judge and growth is not None:
            outcome.checks.append(
                Check(
                    "daemon memory growth (soak)",
                    text,
                    f"<= {RSS_GROWTH_BOUND_MB_PER_H:g} MB/h",
                    growth <= RSS_GROWTH_BOUND_MB_PER_H,
                )
            )
        return outcome


SIDE_LOADS: dict[str, Callable[[LoadContext], SideLoad]] = {
    "status": lambda context: StatusCommand(context.home),
    "dashboard": DashboardLoad,
}
