"""MQTT through the real daemon: N simulated printers printing back to back, telemetry at 1 Hz.

bench/mqtt.py measures the publisher alone; this runs the whole path: `farmctl daemon` (a real
process) drives N `printer-sim` printers over TCP through a queue of many short copies, so every
printer changes state (idle -> printing -> idle) every few seconds, and publishes to a private
mosquitto. It prints:
  * latency from a printer state change in the daemon to an outside subscriber: the state
    document's `ts` (stamped when the supervisor hands the change to telemetry, right after saving
    it) to the subscriber's receive time, same machine clock, ms resolution;
  * the daemon process's CPU (fraction of one core) with MQTT on, and the same farm with no
    [mqtt] section (the difference is what telemetry adds inside the daemon);
  * messages received by the subscriber per second, copies printed.

    .venv/bin/python -m bench.mqtt_daemon [--printers 10 20] [--seconds 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import StateProbe, percentile, private_broker, process_cpu_s, simulator_farm
from farmctl.app.farm import open_store

SITE = "bench"
SIM_SPEED = 50.0
PER_SIM = 10  # printers per simulator process


def small_part(path: Path, moves: int) -> Path:
    lines = ["M140 S50", "M104 S200", "M190 S50", "M109 S200", "G28", "G90", "M82", "G92 E0"]
    e = 0.0
    for i in range(moves):
        e += 0.05
        lines.append(f"G1 X{50 + (i * 7) % 30} Y{50 + (i * 13) % 30} E{e:.3f} F3000")
    lines += ["M104 S0", "M140 S0", "M84", ""]
    path.write_text("\n".join(lines))
    return path


def run_farm(count: int, seconds: float, broker_url: str | None) -> dict[str, Any]:
    scratch = Path(tempfile.mkdtemp(prefix="mqtt-daemon-bench-"))
    home = scratch / "home"
    home.mkdir()
    if broker_url is not None:
        (home / "farm.toml").write_text(
            f'[mqtt]\nurl = "{broker_url}"\nsite = "{SITE}"\ntelemetry_interval_s = 1.0\n'
        )
    with simulator_farm(count, PER_SIM, transport="tcp", speed=SIM_SPEED) as sims:
        return run_daemon(sims.endpoints, home, scratch, seconds, broker_url)


def run_daemon(endpoints: list[str], home: Path, scratch: Path, seconds: float,
               broker_url: str | None) -> dict[str, Any]:
    from farmctl.drivers.serial.preflight import preflight_file

    from farmctl.files import FileStore
    from farmctl.store import FileInfo, NewJob, PrinterSpec
    from farmctl.store.live import LiveStore

    count = len(endpoints)
    part = small_part(scratch / "part.gcode", moves=120)
    with open_store(home, actor="bench") as store:
        for index, url in enumerate(endpoints):
            store.add_printer(PrinterSpec(id=f"p{index:03d}", kind="serial", connection={"port": url},
                                          material="PLA",
                                          nozzle_mm=0.4, bed_mm=(220, 220, 250)))
        kept = FileStore.for_home(home).put(part)
        info = FileInfo(sha256=kept.sha256, size=kept.size, name=part.name, estimated_time_s=60.0,
                        lines=len(preflight_file(part).commands))
        job = store.add_jobs([NewJob(file_sha=kept.sha256, name=part.name, copies=100_000)], [info])[0].id
    daemon = subprocess.Popen(
        [sys.executable, "-m", "farmctl", "daemon", "--home", str(home), "--quiet", "--bed-clear", "auto",
         "--on-stop", "cancel"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    subscriber = None
    try:
        if broker_url is not None:
            host, port = broker_url.removeprefix("mqtt://").split(":")
            subscriber = StateProbe(host, int(port), SITE)
        with open_store(home, actor="bench") as store:
            live = LiveStore.attach(store)
            deadline = time.monotonic() + 60
            while sum(s.state == "printing" for s in live.live_statuses().values()) < count // 2:
                if time.monotonic() > deadline or daemon.poll() is not None:
                    raise SystemExit("the farm did not start printing")
                time.sleep(0.2)
            done_before = sum(r.state == "done" for r in store.list_runs(job_id=job, limit=1_000_000))
            since, messages_before = time.time(), subscriber.messages if subscriber else 0
            cpu0, wall0 = process_cpu_s(daemon.pid), time.monotonic()
            time.sleep(seconds)
            cpu1, wall1 = process_cpu_s(daemon.pid), time.monotonic()
            until, messages_after = time.time(), subscriber.messages if subscriber else 0
            done_after = sum(r.state == "done" for r in store.list_runs(job_id=job, limit=1_000_000))
        result: dict[str, Any] = {
            "cpu": (cpu1 - cpu0) / (wall1 - wall0),
            "copies": done_after - done_before,
        }
        if subscriber is not None:
            result["latencies"] = [
                (s.received - s.stamped) * 1000 for s in subscriber.states(since) if s.received <= until
            ]
            result["messages_per_s"] = (messages_after - messages_before) / (wall1 - wall0)
        return result
    finally:
        if subscriber is not None:
            subscriber.close()
        daemon.terminate()
        daemon.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--printers", type=int, nargs="+", default=[10, 20])
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    with private_broker() as broker:
        for count in args.printers:
            on = run_farm(count, args.seconds, broker.url)
            off = run_farm(count, args.seconds, None)
            lat = on["latencies"]
            print(f"\n{count} printers, {args.seconds:g} s, simulators at {SIM_SPEED:g}x:")
            rate = on["messages_per_s"]
            print(f"  state changes seen by the subscriber: {len(lat)}; messages/s: {rate:.1f}")
            if lat:
                print(f"  state change -> subscriber: median {statistics.median(lat):.1f} ms, "
                      f"p95 {percentile(lat, 0.95):.1f} ms, p99 {percentile(lat, 0.99):.1f} ms, "
                      f"max {max(lat):.1f} ms")
            print(f"  daemon CPU: MQTT on {on['cpu'] * 100:.1f} % of one core ({on['copies']} copies), "
                  f"MQTT off {off['cpu'] * 100:.1f} % ({off['copies']} copies)")
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
