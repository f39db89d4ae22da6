"""Benchmark: SSH round trips per host, and what they cost behind a slow link.

    python benchmarks/ssh_round_trips.py                # as root: counts on the 3-host test bed
    python benchmarks/ssh_round_trips.py --first-run    # also a first run on fresh hosts
    python benchmarks/ssh_round_trips.py --latency 50   # wall times with +50 ms per round trip, 3 and 16 hosts
    python benchmarks/ssh_round_trips.py --tree /tmp/old  # the same, deploying from another checkout

Counts, per host, the SSH commands (exec requests) and SFTP sessions that edgewasm's
connections open (``EDGEWASM_SSH_AUDIT``, installed in every Python process of the run),
for: a converged re-run of ``deploys/full_stack.py``, a changing run (three hand edits:
a K3s config line, a shim link removed, a token opened to 0644, each on another host),
the first run on fresh hosts (``--first-run``), and ``edgewasm-check``. The re-run's and
the changing run's commands are broken down by fact and operation from pyinfra's
``--debug`` log. ``--latency MS`` runs the converged re-run of the 3-host bed and of 16
hosts through a relay adding MS per round trip (benchmarks/site_latency.py: this kernel
has no netem). ``--tree DIR`` deploys and checks from another checkout of edgewasm (a
``git worktree`` of an older commit; its ``bundles`` linked to this one's), for before/after
figures measured the same way. Writes reports/bench-ssh-round-trips.json. A measurement,
not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

from benchmarks.fleet_scale import write_report  # noqa: E402
from benchmarks.site_latency import RELAY_ADDRESS, SiteLatency, known_hosts_for  # noqa: E402
from edgewasm import testbed as tb  # noqa: E402
from edgewasm.ssh import AUDIT_ENV  # noqa: E402
from tests.fixtures.testbed_bundle import ensure  # noqa: E402
from tests.testbed.helpers import write_inventory  # noqa: E402

COMMAND = re.compile(r"Running command on (\S+?):")
LOADED = re.compile(r"\[pyinfra\.api\.facts\] \[(\S+?)\]\s+Loaded fact (\S+)")
OPERATION = re.compile(r"^--> Starting (?:serial )?operation: (.*?)\s*$")
SITECUSTOMIZE = f"""
import importlib.util
_spec = importlib.util.spec_from_file_location("edgewasm_ssh_audit", {str(ROOT / "edgewasm" / "ssh.py")!r})
_audit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_audit)
_audit.audit_from_env()
"""


def breakdown(log: str) -> dict[str, Counter]:
    """Per host, its commands by what sent them: ``fact: NAME`` (pyinfra logs "Loaded
    fact" right after the fact's command; ``[in OPERATION]`` when read while operations
    execute) or ``operation: NAME`` (a command no fact claimed)."""
    counts: dict[str, Counter] = defaultdict(Counter)
    pending: dict[str, str | None] = {}  # host -> the operation executing when its last command ran
    operation = None

    def settle(name: str) -> None:
        if name in pending:
            counts[name][f"operation: {pending.pop(name)}"] += 1

    for line in log.splitlines():
        if m := OPERATION.match(line):
            operation = m.group(1)
        elif m := COMMAND.search(line):
            settle(m.group(1))  # a host runs one command at a time: the last one was no fact's
            pending[m.group(1)] = operation
        elif (m := LOADED.search(line)) and m.group(1) in pending:
            during = pending.pop(m.group(1))
            counts[m.group(1)][f"fact: {m.group(2)}" + (f" [in {during}]" if during else "")] += 1
    for name in list(pending):
        settle(name)
    return counts


class Audited:
    """Runs commands with every SSH exec and SFTP session counted by host address."""

    def __init__(self, tree: Path, work: Path):
        self.tree, self.work = tree, work
        (work / "site").mkdir()
        (work / "site" / "sitecustomize.py").write_text(SITECUSTOMIZE)

    def run(self, argv: list[str], name: str, ok=(0,)) -> dict:
        audit = self.work / f"{name}.audit"
        env = {**os.environ, "PYINFRA_PROGRESS": "off", AUDIT_ENV: str(audit),
               "PYTHONPATH": os.pathsep.join([str(self.work / "site"), os.environ.get("PYTHONPATH", "")])}
        started = time.monotonic()
        done = subprocess.run([sys.executable, *argv], cwd=self.tree, capture_output=True, text=True, env=env)
        wall = time.monotonic() - started
        if done.returncode not in ok:
            sys.exit(f"{name} failed ({done.returncode}):\n{(done.stdout + done.stderr)[-4000:]}")
        by_address = Counter(tuple(line.split()) for line in (audit.read_text().splitlines() if audit.exists() else []))
        return {"wall_s": round(wall, 1), "log": done.stdout + done.stderr, "counts": by_address}


def per_host(result: dict, hosts) -> dict:
    return {h.name: {kind: result["counts"].get((h.address, kind), 0) for kind in ("exec", "sftp")} for h in hosts}


def deploy(audited: Audited, name: str, inventory: str = "inventories/testbed.py", debug: bool = False) -> dict:
    return audited.run(["-m", "pyinfra", "-y", *(["--debug"] if debug else []), inventory, "deploys/full_stack.py"],
                       name)


def hand_edits(hosts) -> list[str]:
    """Three edits a converge must undo, each on another host."""
    server = next(h for h in hosts if h.role == "server")
    agents = [h for h in hosts if h.role == "agent"]
    edits = [(agents[0], "echo '# edited by hand' >> /etc/rancher/k3s/config.yaml"),
             (server, "rm -f /usr/local/bin/containerd-shim-wasmtime-v1"),
             (agents[-1], "chmod 644 /etc/rancher/k3s/agent-token")]
    for h, command in edits:
        tb.ssh(h.address, command)
    return [f"{h.name}: {command}" for h, command in edits]


def counts_mode(audited: Audited, first_run: bool) -> dict:
    report: dict = {}
    if first_run:
        tb.down()
        hosts = tb.up()
        first = deploy(audited, "first-run", debug=True)
        report["first_run"] = {"wall_s": first["wall_s"], "per_host": per_host(first, hosts),
                               "breakdown": {k: dict(v.most_common()) for k, v in breakdown(first["log"]).items()}}
    else:
        hosts = tb.up(reuse=True)
        deploy(audited, "converge")
    rerun = deploy(audited, "re-run", debug=True)
    report["rerun"] = {"wall_s": rerun["wall_s"], "per_host": per_host(rerun, hosts),
                       "breakdown": {k: dict(v.most_common()) for k, v in breakdown(rerun["log"]).items()}}
    report["changing_run"] = {"edits": hand_edits(hosts)}
    changing = deploy(audited, "changing-run", debug=True)
    report["changing_run"].update(wall_s=changing["wall_s"], per_host=per_host(changing, hosts),
                                  breakdown={k: dict(v.most_common()) for k, v in breakdown(changing["log"]).items()})
    with tempfile.TemporaryDirectory() as reports:
        check = audited.run(["-m", "edgewasm.compliance.cli", "inventories/testbed.py", "--reports", reports], "check")
    report["check"] = {"wall_s": check["wall_s"], "per_host": per_host(check, hosts)}
    return report


def command_round_trip_ms(address: str, port: int, known_hosts: Path, n: int = 10) -> float:
    """Mean time of ``true`` over one SSH connection: what one command costs."""
    import paramiko

    client = paramiko.SSHClient()
    client.load_host_keys(str(known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(address, port=port, username="root", key_filename=str(tb.ssh_key()), allow_agent=False,
                   look_for_keys=False)
    client.get_transport().sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    started = time.monotonic()
    for _ in range(n):
        _, out, _ = client.exec_command("true")
        out.channel.recv_exit_status()
    client.close()
    return round((time.monotonic() - started) / n * 1000, 1)


def latency_mode(audited: Audited, delay_ms: int, sizes: list[int]) -> dict:
    figures = {}
    for size in sizes:
        tb.down()
        if size == 3:
            hosts = tb.up()
        else:
            hosts = tb.up(",".join(["server:amd64"] + ["agent:amd64"] * (size - 1)), light=True)
        deploy(audited, f"converge-{size}")
        plain = deploy(audited, f"re-run-{size}")
        with SiteLatency(hosts, delay_ms) as relayed:
            known = known_hosts_for(relayed, hosts, tb.known_hosts(), audited.work / f"known_hosts-{size}")
            overrides = {h.name: {"ssh_hostname": relayed[h.name][0], "ssh_port": relayed[h.name][1],
                                  "ssh_known_hosts_file": str(known)} for h in hosts}
            inventory = write_inventory(audited.work / f"relayed-{size}.py", overrides)
            slow = deploy(audited, f"re-run-{size}-latency", inventory=str(inventory))
            probe = {"direct": command_round_trip_ms(hosts[0].address, 22, tb.known_hosts()),
                     "relayed": command_round_trip_ms(*relayed[hosts[0].name], known)}
        figures[str(size)] = {"rerun_wall_s": plain["wall_s"], f"rerun_wall_s_plus_{delay_ms}ms": slow["wall_s"],
                              "one_command_ms": probe,
                              "rerun_commands": slow["counts"].get((RELAY_ADDRESS, "exec"), 0)}
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first-run", action="store_true")
    parser.add_argument("--latency", type=int, metavar="MS")
    parser.add_argument("--sizes", default="3,16", help="fleets for --latency (3 = the usual bed)")
    parser.add_argument("--tree", type=Path, default=ROOT)
    args = parser.parse_args()
    ensure()
    tree = args.tree.resolve()
    if tree != ROOT and not (tree / "bundles").exists():
        (tree / "bundles").symlink_to(ROOT / "bundles")
    commit = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as work:
        audited = Audited(tree, Path(work))
        if args.latency:
            report = {"deployed_from": commit, "latency_ms": args.latency,
                      "fleets": latency_mode(audited, args.latency, [int(s) for s in args.sizes.split(",")])}
            tb.down()
            tb.up(reuse=False)
        else:
            report = {"deployed_from": commit, **counts_mode(audited, args.first_run)}
    write_report("ssh-round-trips" + ("-latency" if args.latency else ""), report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
