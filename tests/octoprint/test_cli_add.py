"""`farmctl printers add --octoprint` verifies the URL and key against a real OctoPrint before storing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.octoprint import OctoPrintServer, free_port


def farmctl(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FARMCTL_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "farmctl", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )


def test_add_verifies_and_stores_a_good_key(octoprint: OctoPrintServer, tmp_path: Path) -> None:
    key_file = tmp_path / "octo.key"
    key_file.write_text(octoprint.api_key + "\n")
    added = farmctl(
        tmp_path, "printers", "add", "octo-1", "--octoprint", octoprint.url, "--api-key-file", str(key_file)
    )
    assert added.returncode == 0, added.stderr
    assert "accepted the key" in added.stderr
    shown = json.loads(farmctl(tmp_path, "printers", "show", "octo-1", "--json").stdout)
    assert shown["api_key"] == "********"
    assert octoprint.api_key not in added.stdout + added.stderr


def test_add_refuses_a_wrong_key_and_stores_nothing(octoprint: OctoPrintServer, tmp_path: Path) -> None:
    wrong = "WRONGKEY" + "0" * 24
    refused = farmctl(tmp_path, "printers", "add", "octo-1", "--octoprint", octoprint.url, "--api-key", wrong)
    assert refused.returncode != 0
    assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr
    assert wrong not in refused.stderr
    listed = farmctl(tmp_path, "printers", "list", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []


def test_add_refuses_a_url_with_nothing_listening(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    refused = farmctl(tmp_path, "printers", "add", "octo-1", "--octoprint", url, "--api-key", "K" * 32)
    assert refused.returncode != 0
    assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr
    # --no-verify registers it anyway (an OctoPrint that is off right now, e.g. on the truck)
    kept = farmctl(
        tmp_path, "printers", "add", "octo-1", "--octoprint", url, "--api-key", "K" * 32, "--no-verify"
    )
    assert kept.returncode == 0, kept.stderr


def test_set_verifies_a_new_key(octoprint: OctoPrintServer, tmp_path: Path) -> None:
    assert (
        farmctl(
            tmp_path,
            "printers",
            "add",
            "octo-1",
            "--octoprint",
            octoprint.url,
            "--api-key",
            octoprint.api_key,
        ).returncode
        == 0
    )
    refused = farmctl(tmp_path, "printers", "set", "octo-1", "--api-key", "BAD" + "1" * 29)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
