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

    .venv/bin/python bench/mqtt_daemon.py [--printers 10 20] [--seconds 20]
"""

from __future__ import annotations

import os
import sys

# Run as a script, bench/ is sys.path[0], and bench/queue.py would shadow the stdlib `queue`.
BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != BENCH]
sys.path.insert(0, os.path.dirname(BENCH))

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

SITE = "bench"
SIM_SPEED = 50.0
PER_SIM = 10


def small_part(path: Path, moves: int) -> Path:
    lines = ["M140 S50", "M104 S200", "M190 S50", "M109 S200", "G28", "G90", "M82", "G92 E0"]
    e = 0.0
    for i in range(moves):
        e += 0.05
        lines.append(f"G1 X{50 + (i * 7) % 30} Y{50 + (i * 13) % 30} E{e:.3f} F3000")
    lines += ["M104 S0", "M140 S0", "M84", ""]
    path.write_text("\n".join(lines))
    return path


def start_sims(count: int) -> tuple[list[subprocess.Popen[str]], list[str]]:
    processes, endpoints = [], []
    for first in range(0, count, PER_SIM):
        n = min(PER_SIM, count - first)
        args = [sys.executable, "-m", "printer_sim", "--tcp", "127.0.0.1:0", "--count", str(n),
                "--speed", str(SIM_SPEED), "--boot-delay", "0.05"]
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert process.stdout is not None
        while len(endpoints) < first + n:
            line = process.stdout.readline()
            if not line:
                raise SystemExit("printer-sim did not start")
            endpoints.append(line.split()[2])
        processes.append(process)
    return processes, endpoints


def process_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class StateSubscriber:
    """An outside observer: records (receive time - document ts) for every printer state message."""

    def __init__(self, host: str, port: int) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.latencies_ms: list[float] = []
        self.messages = 0
        self.recording = False
        self._lock = threading.Lock()
        ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{uuid.uuid4().hex[:6]}",
                                  protocol=mqtt.MQTTv5)
        self.client.on_connect = lambda c, *a: c.subscribe(f"farm/{SITE}/#", qos=1)
        self.client.on_subscribe = lambda *a: ready.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()
        if not ready.wait(10):
            raise SystemExit("subscriber could not subscribe")

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        received = time.time()
        if not self.recording:
            return
        with self._lock:
            self.messages += 1
            if message.retain or not message.topic.endswith("/state") or "/printers/" not in message.topic:
                return
            try:
                ts = json.loads(message.payload)["ts"]
            except (ValueError, KeyError):
                return
            sent = datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
            self.latencies_ms.append((received - sent) * 1000.0)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def run_farm(count: int, seconds: float, broker_url: str | None) -> dict[str, Any]:
    from farmctl.drivers.serial.preflight import preflight_file

    from farmctl.files import FileStore
    from farmctl.store import FileInfo, JobStore, NewJob, PrinterSpec
    from farmctl.store.live import LiveStore

    scratch = Path(tempfile.mkdtemp(prefix="mqtt-daemon-bench-"))
    home = scratch / "home"
    home.mkdir()
    if broker_url is not None:
        (home / "farm.toml").write_text(
            f'[mqtt]\nurl = "{broker_url}"\nsite = "{SITE}"\ntelemetry_interval_s = 1.0\n'
        )
    sims, endpoints = start_sims(count)
    part = small_part(scratch / "part.gcode", moves=120)
    with JobStore.open(home, actor="bench") as store:
        for index, url in enumerate(endpoints):
            store.add_printer(PrinterSpec(id=f"p{index:03d}", kind="serial", port=url, material="PLA",
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
            subscriber = StateSubscriber(host, int(port))
        with JobStore.open(home, actor="bench") as store:
            live = LiveStore.attach(store)
            deadline = time.monotonic() + 60
            while sum(s.state == "printing" for s in live.live_statuses().values()) < count // 2:
                if time.monotonic() > deadline or daemon.poll() is not None:
                    raise SystemExit("the farm did not start printing")
                time.sleep(0.2)
            done_before = sum(r.state == "done" for r in store.list_runs(job_id=job, limit=1_000_000))
            if subscriber is not None:
                subscriber.recording = True
            cpu0, wall0 = process_cpu_s(daemon.pid), time.monotonic()
            time.sleep(seconds)
            cpu1, wall1 = process_cpu_s(daemon.pid), time.monotonic()
            if subscriber is not None:
                subscriber.recording = False
            done_after = sum(r.state == "done" for r in store.list_runs(job_id=job, limit=1_000_000))
        result: dict[str, Any] = {
            "cpu": (cpu1 - cpu0) / (wall1 - wall0),
            "copies": done_after - done_before,
        }
        if subscriber is not None:
            result["latencies"] = list(subscriber.latencies_ms)
            result["messages_per_s"] = subscriber.messages / (wall1 - wall0)
        return result
    finally:
        if subscriber is not None:
            subscriber.close()
        daemon.terminate()
        daemon.wait(60)
        for sim in sims:
            sim.terminate()
            sim.wait(10)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--printers", type=int, nargs="+", default=[10, 20])
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    from tests.support.mosquitto import MosquittoBroker

    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    with MosquittoBroker(Path(tempfile.mkdtemp(prefix="mqtt-daemon-broker-"))) as broker:
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
