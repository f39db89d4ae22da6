"""Benchmark: SSH round trips per host on a re-run of the main job over a converged fleet.

    python benchmarks/ssh_round_trips.py          # as root; reuses or starts the test bed

Converges the test bed once, then re-runs ``deploys/full_stack.py`` with pyinfra's
``--debug`` log and counts, per host, the commands pyinfra ran over SSH (every fact and
every operation command is one exec round trip) and the file uploads. Writes
reports/bench-ssh-round-trips.json. A measurement, not a test: it asserts nothing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

from edgewasm import testbed as tb  # noqa: E402
from tests.fixtures.testbed_bundle import ensure  # noqa: E402

COMMAND = re.compile(r"Running command on (\S+?):")


def run(*extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pyinfra", "-y", *extra, "inventories/testbed.py",
                           "deploys/full_stack.py"], capture_output=True, text=True,
                          env={**os.environ, "PYINFRA_PROGRESS": "off"})


def main() -> int:
    ensure()
    hosts = tb.up(reuse=True)
    first = run()
    if first.returncode != 0:
        sys.exit(f"converging run failed:\n{first.stderr[-3000:]}")
    started = time.monotonic()
    rerun = run("--debug")
    wall = time.monotonic() - started
    if rerun.returncode != 0:
        sys.exit(f"re-run failed:\n{rerun.stderr[-3000:]}")
    log = rerun.stdout + rerun.stderr
    commands = Counter(COMMAND.findall(log))
    report = {
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
        "rerun_wall_seconds": round(wall, 1),
        "commands_per_host": {h.name: commands.get(h.name, 0) for h in hosts},
        "uploads": len(re.findall(r"Attempting upload", log)),
    }
    Path("reports").mkdir(exist_ok=True)
    Path("reports/bench-ssh-round-trips.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
