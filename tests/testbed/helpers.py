"""Running the main job on the test bed and reading what it did."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from edgewasm import testbed as tb

ROOT = Path(__file__).resolve().parents[2]


def deploy(inventory="inventories/testbed.py", *args: str, deploy_file="deploys/full_stack.py"):
    """Run a deploy; return pyinfra's exit code, its JSON results and its log (stderr)."""
    result = subprocess.run(
        [sys.executable, "-m", "pyinfra", "-y", "--json", str(inventory), deploy_file, *args],
        cwd=ROOT, capture_output=True, text=True, timeout=1800,
        env={**os.environ, "PYINFRA_PROGRESS": "off"},
    )
    start = result.stdout.find("{")
    results = json.loads(result.stdout[start:])["results"] if start >= 0 else {}
    return result.returncode, results, result.stderr + result.stdout[:start if start >= 0 else None]


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


def compliance(junit: Path, inventory="inventories/testbed.py") -> subprocess.CompletedProcess:
    # Reports are the operator's alone (./run keeps reports/ 0700 too).
    junit.parent.mkdir(mode=0o700, exist_ok=True)
    junit.parent.chmod(0o700)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "tests/host", "--inventory", str(inventory),
         f"--junit-xml={junit}", "-p", "no:cacheprovider", "-q"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )


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
