"""MQTT telemetry benchmark: 100 simulated printers at 1 Hz telemetry plus state changes and events.

Prints two figures against a private mosquitto (started here on a free port, never the machine's):
- the CPU the publisher adds to the daemon process: the same load is generated twice in a child
  process, once into a disabled sink and once into a real `TelemetryPublisher`; the difference in
  the child's CPU time (user + system, all its threads, paho's included) divided by wall time;
- end-to-end latency from a `publish_printer_state()` call to an outside subscriber receiving it,
  from the state document's `ts` (taken at call time, ms resolution) to the subscriber's clock.

    .venv/bin/python -m bench.mqtt [--printers 100] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from bench.harness import ROOT, StateProbe, percentile, private_broker, spread
from tests.support.mosquitto import free_port

SITE = "bench"


# -- the child: one daemon's worth of calls ------------------------------------------------------


def run_load(url: str, printers: int, seconds: float, enabled: bool, state_period: float) -> dict[str, float]:
    """Generate the calls; report CPU used, wall time, and how long each call took in the caller."""
    from farmctl.telemetry import models
    from farmctl.telemetry.settings import parse_mqtt_section
    from farmctl.telemetry.sink import DisabledTelemetry, TelemetrySink, open_telemetry

    settings = parse_mqtt_section({"url": url, "site": SITE, "telemetry_interval_s": 1.0}, "bench")
    sink: TelemetrySink = (
        open_telemetry(settings, software_version="bench") if enabled else DisabledTelemetry()
    )
    sink.start()
    ids = [f"p{n:03d}" for n in range(printers)]
    for pid in ids:
        sink.register_printer(models.PrinterDescription(pid, pid.upper()))
        sink.publish_printer_availability(pid, True)
    if enabled:
        time.sleep(1.0)  # connected and discovery out before measuring steady state

    # Four "worker" threads, each owning a quarter of the printers, like a daemon's printer threads.
    stop_at = time.monotonic() + seconds

    durations: list[float] = []  # list.extend is atomic under the GIL; each thread appends once

    def timed(call: Callable[[], object], into: list[float]) -> None:
        started = time.perf_counter()
        call()
        into.append(time.perf_counter() - started)

    def worker(mine: list[str], offset: float) -> None:
        mine_durations: list[float] = []
        tick = 0
        next_tick = time.monotonic() + offset
        while True:
            now = time.monotonic()
            if now >= stop_at:
                break
            if now < next_tick:
                time.sleep(next_tick - now)
                continue
            for index, pid in enumerate(mine):
                temp = 200.0 + (tick + index) % 15
                sample = models.PrinterTelemetry(
                    {"tool0": models.Temperature(temp, 215.0), "bed": models.Temperature(60.0, 60.0)},
                    tick % 100,
                )
                timed(lambda: sink.publish_printer_telemetry(pid, sample), mine_durations)  # noqa: B023
                # Every `state_period` seconds each printer changes state and emits an event.
                if (tick + index) % int(state_period) == 0:
                    snapshot = models.PrinterStateSnapshot(
                        "printing" if tick % 2 else "paused", job_id=f"j{tick}"
                    )
                    timed(lambda: sink.publish_printer_state(pid, snapshot), mine_durations)  # noqa: B023
                    timed(
                        lambda: sink.publish_printer_event(pid, "layer_change", data={"layer": tick}),  # noqa: B023
                        mine_durations,
                    )
            tick += 1
            next_tick += 1.0
        durations.extend(mine_durations)

    quarter = max(1, len(ids) // 4)
    groups = [ids[i : i + quarter] for i in range(0, len(ids), quarter)]
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    wall_before = time.monotonic()
    threads = [threading.Thread(target=worker, args=(g, i * 0.25)) for i, g in enumerate(groups)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - wall_before
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    result = {
        "cpu_s": cpu,
        "wall_s": wall,
        "calls": len(durations),
        "call_p50_us": percentile(durations, 0.5) * 1e6,
        "call_p99_us": percentile(durations, 0.99) * 1e6,
        "call_max_us": max(durations) * 1e6,
    }
    if enabled:
        stats = sink.stats()
        assert stats is not None
        result.update(published=stats.published, dropped=stats.events_dropped, connected=stats.connected)
    sink.stop()
    return result


# -- the parent: broker, subscriber, report ---------------------------------------------------------


def child(
    url: str, args: argparse.Namespace, enabled: bool, seconds: float | None = None
) -> dict[str, float]:
    command = [
        sys.executable,
        "-m",
        "bench.mqtt",
        "--worker",
        "enabled" if enabled else "disabled",
        "--url",
        url,
        "--printers",
        str(args.printers),
        "--seconds",
        str(args.seconds),
        "--state-period",
        str(args.state_period),
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    result: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--printers", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--state-period", type=float, default=5.0, help="seconds between a printer's state changes"
    )
    parser.add_argument(
        "--broker-nodelay", action="store_true", help="run mosquitto with set_tcp_nodelay true (default: off)"
    )
    parser.add_argument("--worker", choices=["enabled", "disabled"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        print(
            json.dumps(
                run_load(args.url, args.printers, args.seconds, args.worker == "enabled", args.state_period)
            )
        )
        return

    with private_broker(extra_config=("set_tcp_nodelay true",) if args.broker_nodelay else ()) as broker:
        print(
            f"broker: private mosquitto on {broker.url}"
            f"{' (set_tcp_nodelay true)' if args.broker_nodelay else ''};"
            f" {args.printers} printers for {args.seconds:g} s",
            flush=True,
        )
        baseline = child(broker.url, args, enabled=False)
        probe = StateProbe(broker.host, broker.port, SITE)
        try:
            loaded = child(broker.url, args, enabled=True)
            time.sleep(0.5)
        finally:
            probe.close()

    # Same load against an address where no broker listens: the calls must stay as cheap.
    dead = child(f"mqtt://127.0.0.1:{free_port()}", args, enabled=True, seconds=min(args.seconds, 10.0))

    added_cpu = (loaded["cpu_s"] / loaded["wall_s"] - baseline["cpu_s"] / baseline["wall_s"]) * 100.0
    latencies = probe.latencies_ms()
    per_printer_rate = 1.0 + 2.0 / args.state_period
    print(
        f"load: {args.printers} printers x (1 telemetry/s + 1 state change and 1 event"
        f" per {args.state_period:g} s)"
        f" = {args.printers * per_printer_rate:.0f} calls/s"
    )
    print(
        f"calls-only CPU (disabled sink):   {baseline['cpu_s'] / baseline['wall_s'] * 100:.1f} % of one core"
    )
    print(f"with TelemetryPublisher:          {loaded['cpu_s'] / loaded['wall_s'] * 100:.1f} % of one core")
    print(f"publisher's added CPU:            {added_cpu:.1f} % of one core")
    print(
        f"messages published: {loaded.get('published', 0):.0f};"
        f" events dropped: {loaded.get('dropped', 0):.0f};"
        f" subscriber received {probe.messages}"
    )
    for name, run in (
        ("disabled sink", baseline),
        ("publisher, broker up", loaded),
        ("publisher, no broker", dead),
    ):
        print(
            f"caller cost per call ({name}): median {run['call_p50_us']:.1f} us,"
            f" p99 {run['call_p99_us']:.1f} us,"
            f" max {run['call_max_us']:.0f} us over {run['calls']:.0f} calls"
        )
    print(
        f"no-broker run: connected={bool(dead.get('connected'))}, events dropped {dead.get('dropped', 0):.0f}"
    )
    if latencies:
        print(
            f"state change -> subscriber latency: {spread(latencies)},"
            f" p99 {percentile(latencies, 0.99):.1f} ms (target: median < 200 ms)"
        )
    else:
        print("no state changes received: latency not measured")


if __name__ == "__main__":
    main()
