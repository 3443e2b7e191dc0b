"""Run by the Printrun venv's Python (not by pytest): print a G-code file with Printrun's printcore.

    python printcore_job.py PORT FILE TIMEOUT_S   -> prints {"finished": bool} as JSON
"""

import json
import sys
import time

from printrun import gcoder
from printrun.printcore import printcore


def main() -> int:
    port, path, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
    with open(path, encoding="utf-8", errors="replace") as handle:
        gcode = gcoder.LightGCode([line.rstrip("\n") for line in handle])
    core = printcore(port, 115200)
    deadline = time.monotonic() + timeout
    while not core.online and time.monotonic() < deadline:
        time.sleep(0.05)
    if not core.online:
        print(json.dumps({"finished": False, "error": "printcore never came online"}))
        return 1
    core.startprint(gcode)
    while core.printing and time.monotonic() < deadline:
        time.sleep(0.05)
    finished = not core.printing
    core.disconnect()
    print(json.dumps({"finished": finished}))
    return 0 if finished else 1


if __name__ == "__main__":
    raise SystemExit(main())
