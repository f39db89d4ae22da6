"""Benchmark: how a run's cost grows with the fleet, on the test bed.

    python benchmarks/fleet_scale.py               # as root: 1, 16 and 48 amd64 hosts
    python benchmarks/fleet_scale.py --sizes 1,16  # a quicker look

For each fleet size (one server, the rest agents) on a fresh test bed: the first run and a
converged re-run (wall time, and the operator's CPU time: pyinfra's user + system), the K3s
start phase of the first run, and the memory the hosts take on this machine. On the
largest fleet, a forced rolling restart of every node (a node label every node's config
carries) at k3s_rollout_batch 1 and 25 %. Printed as figures and ratios, written to
reports/bench-fleet-scale.json. A measurement, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

from edgewasm import testbed as tb  # noqa: E402
from tests.fixtures.testbed_bundle import ensure  # noqa: E402
from tests.testbed.helpers import write_inventory  # noqa: E402

# K3s's start phase of a first install: the first server, then every agent.
START_PHASE = ("Start the first K3s server and wait until it is ready", "Start new K3s agents, all at once")
ROLLING_PHASE = ("Restart K3s agents in batches",)


def available_mib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def machine_busy_s() -> float:
    """CPU seconds this machine has spent busy since boot, all CPUs (/proc/stat): the
    test bed's hosts are containers on these CPUs, so their work shows here too."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def timed(argv: list[str], env: dict | None = None, ok=(0,), cwd: Path | None = None) -> dict:
    """Run ``argv`` (exiting when its status is not in ``ok``): its wall time, CPU time
    (of the processes it waited for: user + system), and the whole machine's busy CPU
    time meanwhile (operator and test-bed hosts)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy = machine_busy_s()
    started = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True, cwd=cwd,
                            env={**os.environ, "PYINFRA_PROGRESS": "off", **(env or {})})
    wall = time.monotonic() - started
    busy = machine_busy_s() - busy
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode not in ok:
        sys.exit(f"{' '.join(argv[:4])} failed ({result.returncode}):\n{(result.stdout + result.stderr)[-4000:]}")
    return {"wall_s": round(wall, 1),
            "operator_cpu_s": round(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 1),
            "machine_cpu_s": round(busy, 1)}


def write_report(name: str, report: dict) -> None:
    """``reports/bench-NAME.json`` with the commit and the machine's CPUs, and print it."""
    report = {"commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                       text=True).stdout.strip(),
              "cpus": os.cpu_count(), **report}
    Path("reports").mkdir(mode=0o700, exist_ok=True)
    Path(f"reports/bench-{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


def deploy(inventory: str = "inventories/testbed.py") -> dict:
    """One run: its wall time, the operator's CPU time, and each operation's seconds."""
    with tempfile.NamedTemporaryFile(suffix=".json") as times:
        figures = timed([sys.executable, "-m", "pyinfra", "-y", inventory, "benchmarks/timed_deploy.py"],
                        {"EDGEWASM_OP_TIMES": times.name})
        figures["ops"] = json.loads(Path(times.name).read_text() or "{}")
    return figures


def phase(run: dict, names: tuple[str, ...]) -> float | None:
    found = [s for op, s in run["ops"].items() if op.endswith(names)]
    return round(sum(found), 1) if found else None


def agent_start_spread(hosts) -> dict:
    """How close together the agents' K3s started and became active (one kernel, so one
    monotonic clock for every test-bed host): a serial chain shows as a spread that grows
    with the fleet."""
    started, active = [], []
    for h in hosts:
        if h.role != "agent":
            continue
        out = tb.ssh(h.address, "systemctl show -p ExecMainStartTimestampMonotonic -p ActiveEnterTimestampMonotonic "
                                "--value k3s-agent").stdout.split()
        started.append(int(out[0]) / 1e6)
        active.append(int(out[1]) / 1e6)
    if not started:
        return {}
    return {"agents_started_within_s": round(max(started) - min(started), 1),
            "agents_active_within_s": round(max(active) - min(started), 1)}


def measure(size: int, rolling: bool) -> dict:
    tb.down()
    idle = available_mib()
    hosts = tb.up(",".join(["server:amd64"] + ["agent:amd64"] * (size - 1)), light=True)
    first = deploy()
    spread = agent_start_spread(hosts)  # before the re-run; it restarts nothing anyway
    converged_mib = available_mib()
    rerun = deploy()
    figures = {
        "hosts": len(hosts),
        "first_run": {k: first[k] for k in ("wall_s", "operator_cpu_s")},
        "k3s_start_phase_s": phase(first, START_PHASE),
        **spread,
        "rerun": {k: rerun[k] for k in ("wall_s", "operator_cpu_s")},
        "rerun_operator_cpu_per_host_s": round(rerun["operator_cpu_s"] / len(hosts), 2),
        "memory_per_host_mib": round((idle - converged_mib) / len(hosts), 1),
    }
    if rolling:
        figures["rolling_restart_s"] = {}
        with tempfile.TemporaryDirectory() as tmp:
            for batch in (1, "25%"):
                label = f"batch-{str(batch).rstrip('%')}"  # a change every node's config carries
                inventory = write_inventory(Path(tmp) / f"{label}.py", common={
                    "k3s_rollout_batch": batch, "k3s_node_labels": {"edge.example/rollout": label}})
                run = deploy(str(inventory))
                figures["rolling_restart_s"][str(batch)] = {"wall_s": run["wall_s"],
                                                           "agents_phase_s": phase(run, ROLLING_PHASE)}
    return figures


def ratio(a, b):
    return round(a / b, 2) if a is not None and b else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,16,48")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    ensure()
    figures = {str(n): measure(n, rolling=n == max(sizes)) for n in sizes}
    tb.down()
    small, large = figures[str(min(sizes))], figures[str(max(sizes))]
    write_report("fleet-scale", {
        "fleets": figures,
        "ratios": {
            f"first_run_wall_{n}_vs_{min(sizes)}": ratio(figures[str(n)]["first_run"]["wall_s"],
                                                         small["first_run"]["wall_s"]) for n in sizes[1:]
        } | {
            f"rerun_wall_{n}_vs_{min(sizes)}": ratio(figures[str(n)]["rerun"]["wall_s"], small["rerun"]["wall_s"])
            for n in sizes[1:]
        } | {
            f"k3s_start_phase_{max(sizes)}_vs_{min(sizes)}": ratio(large["k3s_start_phase_s"],
                                                                   small["k3s_start_phase_s"]),
            "rerun_cpu_per_host_largest_vs_16": ratio(large["rerun_operator_cpu_per_host_s"],
                                                      figures.get("16", {}).get("rerun_operator_cpu_per_host_s")),
            "rolling_restart_batch_1_vs_25%": ratio(large.get("rolling_restart_s", {}).get("1", {}).get("agents_phase_s"),
                                                    large.get("rolling_restart_s", {}).get("25%", {})
                                                    .get("agents_phase_s")),
        },
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
