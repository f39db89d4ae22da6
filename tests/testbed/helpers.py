"""Running the main job on the test bed and reading what it did."""

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgewasm import testbed as tb
from edgewasm.compliance import history

ROOT = Path(__file__).resolve().parents[2]


def _pyinfra(inventory, args, deploy_file, fault):
    env = {**os.environ, "PYINFRA_PROGRESS": "off"}
    if fault:  # ACTION:HOST:OPERATION, see faults.py
        env["EDGEWASM_FAULT"], deploy_file = fault, "tests/testbed/fault_deploy.py"
    return [sys.executable, "-m", "pyinfra", "-y", "--json", str(inventory), deploy_file, *args], env


def deploy(inventory="inventories/testbed.py", *args: str, deploy_file="deploys/full_stack.py", fault=None):
    """Run a deploy (with ``fault`` injected, if given); return pyinfra's exit code, its
    JSON results and its log (stderr)."""
    argv, env = _pyinfra(inventory, args, deploy_file, fault)
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=1800, env=env)
    return _results(result.returncode, result.stdout, result.stderr)


def start_deploy(inventory="inventories/testbed.py", *args: str) -> subprocess.Popen:
    """A deploy running in the background (its output in files, no pipe to fill); ``finish`` it."""
    argv, env = _pyinfra(inventory, args, "deploys/full_stack.py", None)
    out, err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
    process = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=err, text=True, env=env)
    process.outputs = (out, err)
    return process


def finish(process: subprocess.Popen):
    process.wait(timeout=1800)
    out, err = process.outputs
    out.seek(0), err.seek(0)
    return _results(process.returncode, out.read(), err.read())


def _results(code, stdout, stderr):
    start = stdout.find("{")
    results = json.loads(stdout[start:])["results"] if start >= 0 else {}
    return code, results, stderr + stdout[:start if start >= 0 else None]


def write_inventory(path: Path, overrides=None, common=None) -> Path:
    path.write_text(
        "from edgewasm.config import check_inventory\n"
        "from edgewasm.testbed import inventory_groups\n"
        f"_groups = inventory_groups({overrides!r}, {common!r})\n"
        "k3s_servers = _groups['k3s_servers']\n"
        "k3s_agents = _groups['k3s_agents']\n"
        "raspberry_pi = _groups['raspberry_pi']\n"
        "check_inventory(__file__)\n"
    )
    return path


def main_pids(hosts) -> dict[str, str]:
    """The K3s service's main PID on each host: it changes when, and only when, K3s restarts."""
    pids = {}
    for h in hosts:
        unit = "k3s" if h.role == "server" else "k3s-agent"
        pids[h.name] = tb.ssh(h.address, f"systemctl show -p MainPID --value {unit}").stdout.strip()
    return pids


REPORTS = ROOT / "reports"


def pis(hosts):
    return [h for h in hosts if h.board == "rpi4b"]


@dataclass
class CheckRun:
    code: int
    output: str
    run_dir: Path | None
    report: dict | None


def compliance(reports: Path, inventory="inventories/testbed.py", *args: str) -> CheckRun:
    """``edgewasm-check INVENTORY --reports REPORTS``: its exit status, output, newest run
    directory and JSON report."""
    result = subprocess.run([sys.executable, "-m", "edgewasm.compliance.cli", str(inventory),
                             "--reports", str(reports), *args],
                            cwd=ROOT, capture_output=True, text=True, timeout=1800)
    runs = history.runs(reports / history.inventory_name(str(inventory)))
    run_dir = runs[-1] if runs else None
    report = json.loads((run_dir / "report.json").read_text()) if run_dir and (run_dir / "report.json").is_file() \
        else None
    return CheckRun(result.returncode, result.stdout + result.stderr, run_dir, report)


def copy_to(address: str, local: Path, remote: str) -> None:
    """scp a file to a test-bed host, host key checked."""
    subprocess.run(
        ["scp", "-q", "-i", str(tb.ssh_key()), "-o", f"UserKnownHostsFile={tb.known_hosts()}",
         "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", str(local), f"root@{address}:{remote}"],
        check=True, capture_output=True,
    )


def changed_hosts(results) -> set[str]:
    return {name for op in results["operations"] for name in op["success"]}


def sha256(data: str | bytes) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def file_digest(address: str, path: str) -> str:
    """sha256 of a file on a test-bed host, "" when there is none: secrets are compared by
    digest, so a failing assertion never prints one into a report."""
    out = tb.ssh(address, f"sha256sum {path}", check=False)
    return out.stdout.split()[0] if out.returncode == 0 else ""


def host_mount(name: str, command: str) -> subprocess.CompletedProcess:
    """Run ``command`` (mount, umount) in a test-bed host's mount namespace, from the
    machine: the container itself may not mount."""
    init = tb.init_pid(name)
    return subprocess.run(["nsenter", "-t", str(init), "-m", "--", "sh", "-c", command],
                          check=True, capture_output=True, text=True)
