"""Benchmark: how long edgewasm-check takes as the fleet grows, concurrent vs one at a time.

    python benchmarks/compliance.py               # as root: 1 and 16 amd64 hosts
    python benchmarks/compliance.py --sizes 1,4

For each size, on a fresh, converged test bed (one server, the rest agents): the wall
time, the operator's CPU time and the whole machine's busy CPU time of a check at the default concurrency, and with
--parallel 1 (hosts one after another; the drift dry run runs beside them either way).
Printed as figures and ratios, written to reports/bench-compliance.json. A measurement,
not a test: it asserts nothing. Target: 16 hosts in at most 2x the time of 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

from benchmarks.fleet_scale import timed, write_report  # noqa: E402
from edgewasm import testbed as tb  # noqa: E402
from edgewasm.compliance.cli import DEFAULT_PARALLEL  # noqa: E402
from tests.fixtures.testbed_bundle import ensure  # noqa: E402


def measure(size: int, reports: Path) -> dict:
    tb.down()
    tb.up(",".join(["server:amd64"] + ["agent:amd64"] * (size - 1)), light=True)
    timed([sys.executable, "-m", "pyinfra", "-y", "inventories/testbed.py", "deploys/full_stack.py"])
    check = [sys.executable, "-m", "edgewasm.compliance.cli", "inventories/testbed.py", "--reports", str(reports)]
    timed(check)  # warm: the first check after a converge reads files the page cache lacks
    figures = {"hosts": size,
               "concurrent": timed(check + ["--parallel", str(DEFAULT_PARALLEL)]),
               "one_at_a_time": timed(check + ["--parallel", "1"])}
    # The least wall time the machine's CPUs allow for the concurrent run's work (the
    # checker's and the test-bed hosts' together): what concurrency cannot go below here.
    figures["concurrent"]["cpu_floor_s"] = round(figures["concurrent"]["machine_cpu_s"] / os.cpu_count(), 1)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,16")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    ensure()
    with tempfile.TemporaryDirectory() as reports:
        figures = {str(n): measure(n, Path(reports)) for n in sizes}
    tb.down()
    small, large = figures[str(min(sizes))], figures[str(max(sizes))]
    write_report("compliance", {
        "parallel": DEFAULT_PARALLEL,
        "fleets": figures,
        "ratios": {
            f"concurrent_{max(sizes)}_vs_{min(sizes)}": round(large["concurrent"]["wall_s"] / small["concurrent"]["wall_s"], 2),
            f"one_at_a_time_vs_concurrent_{max(sizes)}": round(
                large["one_at_a_time"]["wall_s"] / large["concurrent"]["wall_s"], 2),
        },
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
