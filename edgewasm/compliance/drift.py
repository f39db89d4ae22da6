"""Drift: what a converge would change on each host right now, by operation name.

pyinfra's dry run of deploys/full_stack.py reads every fact a real run reads and stops
before any operation executes (``--dry``), so it never changes a host. Its JSON plan names,
per operation, the hosts where it would change something. A host that failed during the
dry run (unreachable, refused by preflight, an error while planning) has no known drift:
``edgewasm/compliance/drift_deploy.py`` writes those hosts and their reasons at exit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from edgewasm.k3s import READ_ONLY_ENV

DRIFT_DEPLOY = Path(__file__).with_name("drift_deploy.py")


def operation_name(name: str) -> str:
    """``deploys/full_stack.py | Write the K3s config`` -> ``Write the K3s config`` (the
    include prefix pyinfra adds says nothing to an operator)."""
    return name.rsplit(" | ", 1)[-1]


def drift_by_host(plan: list[dict], hosts: list[str], failed: dict[str, str]) -> dict[str, dict]:
    """Per host: ``{"known": bool, "reason": str | None, "operations": [names]}`` from a
    dry run's JSON plan and the hosts that failed in it (name -> reason)."""
    result = {name: {"known": name not in failed, "reason": failed.get(name), "operations": []} for name in hosts}
    for op in plan:
        for name in op.get("hosts_with_change", []) + op.get("hosts_with_conditional_change", []):
            if name in result and result[name]["known"]:
                op_name = operation_name(op["name"])
                if op_name not in result[name]["operations"]:
                    result[name]["operations"].append(op_name)
    return result


def dry_run(inventory: str, hosts: list[str], timeout: int) -> dict[str, dict]:
    """Run the dry run (in the caller's directory, as a deploy would run) and return
    ``drift_by_host``; when the dry run itself breaks, every host's drift is unknown with
    the reason."""
    with tempfile.TemporaryDirectory(prefix="edgewasm-drift-") as tmp:
        failed_file = Path(tmp) / "failed.json"
        env = {**os.environ, "PYINFRA_PROGRESS": "off", "EDGEWASM_DRIFT_FAILED": str(failed_file),
               READ_ONLY_ENV: "1"}
        argv = [sys.executable, "-m", "pyinfra", "--dry", "--json", "-y", inventory, str(DRIFT_DEPLOY)]
        try:
            done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return drift_by_host([], hosts, {h: f"the dry run took over {timeout}s" for h in hosts})
        start = done.stdout.find("{")
        if start < 0 or not failed_file.exists():
            tail = " ".join(done.stderr.strip().splitlines()[-2:])[-300:]
            return drift_by_host([], hosts, {h: f"the dry run failed (exit {done.returncode}): {tail}" for h in hosts})
        failed = json.loads(failed_file.read_text())
        return drift_by_host(json.loads(done.stdout[start:])["plan"], hosts, failed)
