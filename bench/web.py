"""The HTTP server under load: slicer-sized uploads over loopback, and the server's memory.

    .venv/bin/python -m bench.web                  # 100 MB generated file, 3 runs each
    .venv/bin/python -m bench.web --mb 20 --repeat 1

A real `farmctl serve` process on a free port; the client streams a generated G-code file from disk
as a multipart upload in 1 MB chunks over a plain HTTP/1.1 connection (as curl does for PrusaSlicer),
so neither side holds the file. Two measurements:

* **receive**: the upload as the server receives it: parse the multipart stream, hash and write the
  file part to the spool in the farm home. Sent to the Moonraker endpoint with a wrong `checksum`, so
  the server refuses it (422) right after the last byte, before any analysis: client time = transfer.
* **queue**: a plain OctoPrint upload, answered once the job exists: receive, then the same validation
  and analysis as `farmctl jobs add` (G-code analyser, one core) and the copy into the file store.

Server memory: its peak RSS (VmHWM) after uploads of a small and of the large file, and the growth of
its RSS across the large uploads; constant in the file size means the two peaks are close.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import secrets
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.gcode import generate
from bench.harness import machine_line, peak_rss_mb, rss_mb

_CHUNK = 1 << 20


@dataclass
class Server:
    url: str
    home: Path
    process: subprocess.Popen[str]


@contextmanager
def served_farm(home: Path, log: Path | None = None) -> Iterator[Server]:
    """`farmctl serve --port 0` on the farm home `home` (a fresh one has no keys: loopback is open);
    its stderr goes to `log` when given."""
    env = {**os.environ, "FARMCTL_HOME": str(home)}
    with contextlib.ExitStack() as stack:
        stderr = stack.enter_context(log.open("ab")) if log is not None else subprocess.DEVNULL
        process = subprocess.Popen(
            [sys.executable, "-m", "farmctl", "serve", "--port", "0"],
            stdout=subprocess.PIPE, stderr=stderr, text=True, env=env,
        )
        assert process.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(process.stdout, selectors.EVENT_READ)
        try:
            url = process.stdout.readline().strip() if selector.select(timeout=60) else ""
            if not url.startswith("http://"):
                where = f" (its log: {log})" if log is not None else ""
                raise SystemExit(f"farmctl serve did not print its URL within 60 s{where}")
            yield Server(url, home, process)
        finally:
            process.terminate()
            process.wait(15)


def stream_upload(url: str, path: str, fields: dict[str, str], source: Path, name: str) -> tuple[int, float]:
    """POST a multipart form whose file part is streamed from `source`; returns (status, seconds)."""
    boundary = "-" * 24 + secrets.token_hex(8)
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    )
    head += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
             "Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    host, port = url.split("//", 1)[1].rstrip("/").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=600)
    started = time.perf_counter()
    connection.putrequest("POST", path)
    connection.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    connection.putheader("Content-Length", str(len(head) + source.stat().st_size + len(tail)))
    connection.endheaders()
    connection.send(head)
    with source.open("rb") as data:
        while chunk := data.read(_CHUNK):
            connection.send(chunk)
    connection.send(tail)
    response = connection.getresponse()
    response.read()
    elapsed = time.perf_counter() - started
    connection.close()
    return response.status, elapsed


def measure(server: Server, source: Path, repeat: int) -> tuple[list[float], list[float]]:
    receive, queue = [], []
    for _ in range(repeat):
        status, seconds = stream_upload(server.url, "/server/files/upload",
                                        {"root": "gcodes", "checksum": "0" * 64}, source, source.name)
        assert status == 422, status
        receive.append(seconds)
    for _ in range(repeat):
        status, seconds = stream_upload(server.url, "/api/files/local", {"print": "false"}, source,
                                        source.name)
        assert status == 201, status
        queue.append(seconds)
    return receive, queue


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=100.0, help="size of the generated file")
    parser.add_argument("--small-mb", type=float, default=5.0, help="the small file, for the memory check")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(machine_line())
    with tempfile.TemporaryDirectory() as scratch:
        small, big = Path(scratch) / "small.gcode", Path(scratch) / "big.gcode"
        generate(small, args.small_mb)
        generate(big, args.mb)
        home = Path(scratch) / "farm"
        home.mkdir()
        with served_farm(home) as server:
            pid = server.process.pid
            measure(server, small, 1)
            peak_small, rss_small = peak_rss_mb(pid), rss_mb(pid)
            receive, queue = measure(server, big, args.repeat)
            peak_big, rss_big = peak_rss_mb(pid), rss_mb(pid)
            spool_left = list((home / "spool").iterdir())
        megabytes = big.stat().st_size / 1e6
        figures = {
            "file_mb": round(megabytes, 1),
            "receive_s": [round(s, 3) for s in receive],
            "receive_mb_per_s_best": round(megabytes / min(receive), 1),
            "receive_mb_per_s_median": round(megabytes / sorted(receive)[len(receive) // 2], 1),
            "queue_s": [round(s, 3) for s in queue],
            "queue_mb_per_s_best": round(megabytes / min(queue), 1),
            "server_peak_rss_mb_after_small": round(peak_small, 1),
            "server_peak_rss_mb_after_big": round(peak_big, 1),
            "server_rss_mb_small_then_big": [round(rss_small, 1), round(rss_big, 1)],
            "spool_files_left": len(spool_left),
        }
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
