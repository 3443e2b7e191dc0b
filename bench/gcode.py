"""Benchmark of farmctl's G-code analyser: accuracy, speed (next to OctoPrint's), memory.

    .venv/bin/python -m bench.gcode                # corpus in ../shared/corpus, 100 MB synthetic file
    .venv/bin/python -m bench.gcode --no-octoprint  # skip OctoPrint (no network needed)
    .venv/bin/python -m bench.gcode --big-mb 20     # a smaller generated file

Prints three tables:
- accuracy: farmctl's motion estimate (moves + dwells: the part slicers estimate) against the estimate
  the slicer embedded, with the plain distance/feedrate estimate beside it, per corpus file, using the
  profile of the printer each file was sliced for;
- speed: MB/s of farmctl's analyser and of OctoPrint's `octoprint.util.gcodeInterpreter` (run in its
  own virtualenv, created on first use under ~/.cache/farmctl-bench) on the same files, in the same
  run, both pinned to one CPU core, best of --repeat runs, measured in CPU seconds of the analysing
  process (so other work on a shared machine disturbs the ratio less than wall-clock time would);
- memory: peak RSS of a fresh process analysing a small file and a generated large file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

from bench.harness import CORPUS, ROOT

OCTOPRINT_VENV = Path.home() / ".cache" / "farmctl-bench" / "octoprint-venv"
# The profile of the printer each corpus file was sliced for (see the corpus MANIFEST.md).
PROFILES = {"ps25_": "prusa-mk3s", "cura413_": "creality-ender3", "slic3r13_": "generic-220"}

_OCTOPRINT_RUNNER = r"""
import json, sys, time
from octoprint.util.gcodeInterpreter import gcode
repeat = int(sys.argv[1])
results = {}
for path in sys.argv[2:]:
    best = None
    for _ in range(repeat):
        started = time.process_time()
        g = gcode()
        g.load(path)
        elapsed = time.process_time() - started
        best = elapsed if best is None else min(best, elapsed)
    results[path] = {"seconds": best, "total_time_s": g.get_result()["total_time"] * 60.0}
print(json.dumps(results))
"""

# VmHWM (peak RSS of this process image), not ru_maxrss: Linux carries ru_maxrss across fork+exec,
# so a child of a big bench process would report the parent's peak.
_RSS_RUNNER = r"""
import sys
from pathlib import Path
from farmctl.gcode import analyse_file, load_profile
def peak_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
before = peak_kib()
analysis = analyse_file(Path(sys.argv[1]), load_profile("prusa-mk3s"))
print(before, peak_kib(), analysis.estimated_time_s)
"""


def _pin_to_one_core() -> str:
    """Both analysers run on the same single core, so the speed ratio is fair."""
    try:
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to core {core}"
    except (AttributeError, OSError):
        return "not pinned (no sched_setaffinity)"


def _profile_for(path: Path) -> str:
    return next(
        (profile for prefix, profile in PROFILES.items() if path.name.startswith(prefix)), "generic-220"
    )


def accuracy(files: list[Path]) -> None:
    from farmctl.gcode import analyse_file, load_profile

    print("\n## Accuracy (farmctl motion estimate vs the slicer's embedded estimate)\n")
    print("| file | profile | slicer s | farmctl s | error | distance/feedrate s | error | + heat, home s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for path in files:
        profile = _profile_for(path)
        result = analyse_file(path, load_profile(profile))
        slicer = result.slicer_time_s
        if slicer:
            error = f"{(result.motion_time_s - slicer) / slicer * 100:+.1f}%"
            simple_error = f"{(result.simple_time_s - slicer) / slicer * 100:+.1f}%"
            slicer_text = f"{slicer:.0f}"
        else:
            error = simple_error = "n/a"
            slicer_text = "none"
        print(
            f"| {path.name} | {profile} | {slicer_text} | {result.motion_time_s:.0f} | {error} | "
            f"{result.simple_time_s:.0f} | {simple_error} | {result.estimated_time_s:.0f} |"
        )


def equivalence(files: list[Path]) -> None:
    """The vectorised path must give exactly what the line-by-line reference interpreter gives."""
    from dataclasses import asdict

    from farmctl.gcode import analyse_file, load_profile

    print("\n## Vectorised path vs line-by-line reference\n")
    for path in files:
        profile = load_profile(_profile_for(path))
        fast = asdict(analyse_file(path, profile))
        reference = asdict(analyse_file(path, profile, vectorised=False))
        differing = [key for key in fast if not _close(fast[key], reference[key])]
        print(f"- {path.name}: {'identical' if not differing else 'DIFFERENT: ' + ', '.join(differing)}")


def _close(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-6 * max(1.0, abs(b))
    return a == b


def _farmctl_speed(files: list[Path], repeat: int) -> dict[Path, float]:
    from farmctl.gcode import analyse_file, load_profile

    seconds: dict[Path, float] = {}
    for path in files:
        profile = load_profile(_profile_for(path))
        analyse_file(path, profile)  # warm the page cache and numpy
        runs = []
        for _ in range(repeat):
            started = time.process_time()
            analyse_file(path, profile)
            runs.append(time.process_time() - started)
        seconds[path] = min(runs)
    return seconds


def _ensure_octoprint() -> Path | None:
    python = OCTOPRINT_VENV / "bin" / "python"
    probe = [str(python), "-c", "import octoprint.util.gcodeInterpreter"]
    if python.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return python
    print(f"(creating {OCTOPRINT_VENV} with OctoPrint; this takes a few minutes once)", file=sys.stderr)
    venv.EnvBuilder(with_pip=True, clear=True).create(OCTOPRINT_VENV)
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "OctoPrint"], check=False)
    if install.returncode != 0:
        print("(could not install OctoPrint: speed comparison skipped)", file=sys.stderr)
        return None
    return python


def _octoprint_speed(python: Path, files: list[Path], repeat: int) -> dict[Path, float]:
    result = subprocess.run(
        [str(python), "-c", _OCTOPRINT_RUNNER, str(repeat), *map(str, files)],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return {Path(name): float(entry["seconds"]) for name, entry in data.items()}


def speed(files: list[Path], repeat: int, with_octoprint: bool) -> None:
    print(f"\n## Speed (best of {repeat}, one core, CPU time)\n")
    ours = _farmctl_speed(files, repeat)
    theirs: dict[Path, float] = {}
    if with_octoprint:
        python = _ensure_octoprint()
        if python is not None:
            theirs = _octoprint_speed(python, files, repeat)
    print("| file | MB | farmctl MB/s | OctoPrint MB/s | farmctl / OctoPrint |")
    print("|---|---:|---:|---:|---:|")
    total_bytes = sum(p.stat().st_size for p in files)
    for path in files:
        megabytes = path.stat().st_size / 1e6
        ratio = f"{theirs[path] / ours[path]:.1f}x" if path in theirs else "n/a"
        octo = f"{megabytes / theirs[path]:.1f}" if path in theirs else "n/a"
        print(f"| {path.name} | {megabytes:.1f} | {megabytes / ours[path]:.1f} | {octo} | {ratio} |")
    ours_total = total_bytes / 1e6 / sum(ours.values())
    line = f"| all | {total_bytes / 1e6:.1f} | {ours_total:.1f} | "
    if theirs:
        theirs_total = total_bytes / 1e6 / sum(theirs.values())
        line += f"{theirs_total:.1f} | {ours_total / theirs_total:.1f}x |"
    else:
        line += "n/a | n/a |"
    print(line)


def generate(path: Path, megabytes: float) -> None:
    """A synthetic PrusaSlicer-like file: zigzag infill layers with M204, G92 E0, layer markers."""
    target = int(megabytes * 1e6)
    with path.open("w") as out:
        out.write("; generated by farmctl bench\nM201 X1000 Y1000 Z200 E5000\nM204 P1250 R1250 T1250\n")
        out.write("G90\nM83\nM104 S215\nM140 S60\nM190 S60\nM109 S215\nG28\n")
        written, layer = 0, 0
        while written < target:
            layer += 1
            z = 0.2 * layer
            lines = [f";LAYER_CHANGE\n;Z:{z:.1f}\nG92 E0\nG1 Z{z:.3f} F720\nM204 S800\n"]
            for row in range(400):
                y = 20 + row * 0.45
                x0, x1 = (20.0, 180.0) if row % 2 == 0 else (180.0, 20.0)
                lines.append(f"G1 X{x0:.3f} Y{y:.3f} F10800\nG1 X{x1:.3f} Y{y:.3f} E{5.3:.5f} F2400\n")
                if row % 50 == 0:
                    lines.append("G1 E-.8 F2100\nG1 E.8 F2100\nM204 S1000\n")
            block = "".join(lines)
            out.write(block)
            written += len(block)


def memory(small: Path, big_mb: float) -> None:
    print("\n## Memory (peak RSS of a fresh process)\n")
    print("| file | MB | RSS after imports MB | peak RSS MB | peak - imports MB |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as scratch:
        big = Path(scratch) / f"synthetic_{big_mb:.0f}mb.gcode"
        generate(big, big_mb)
        for path in (small, big):
            result = subprocess.run(
                [sys.executable, "-c", _RSS_RUNNER, str(path)],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            )
            before, after, _ = result.stdout.split()
            size = path.stat().st_size / 1e6
            print(
                f"| {path.name} | {size:.1f} | {int(before) / 1024:.0f} | {int(after) / 1024:.0f} | "
                f"{(int(after) - int(before)) / 1024:.0f} |"
            )
        from farmctl.gcode import analyse_file, load_profile

        started, cpu_started = time.perf_counter(), time.process_time()
        analyse_file(big, load_profile("prusa-mk3s"))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        megabytes = big.stat().st_size / 1e6
        print(
            f"\nlarge file: {megabytes:.0f} MB in {cpu:.2f} s CPU ({megabytes / cpu:.1f} MB/s), "
            f"{elapsed:.2f} s wall ({megabytes / elapsed:.1f} MB/s)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--big-mb", type=float, default=100.0)
    parser.add_argument("--no-octoprint", action="store_true")
    args = parser.parse_args()
    pinned = _pin_to_one_core()
    files = sorted(args.corpus.glob("*.gcode")) if args.corpus.is_dir() else []
    print(
        f"# farmctl G-code analyser benchmark ({time.strftime('%Y-%m-%d')}, Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs, {pinned}, load average {os.getloadavg()[0]:.1f})"
    )
    if files:
        accuracy(files)
        speed(files, args.repeat, not args.no_octoprint)
        equivalence(files)
    else:
        print(f"\n(no corpus at {args.corpus}: accuracy and speed tables skipped)")
    small = ROOT / "tests" / "gcode" / "data" / "cura413_ender3_cube25_0.20std.gcode"
    memory(small, args.big_mb)


if __name__ == "__main__":
    main()
