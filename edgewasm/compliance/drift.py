"""Drift: what a converge would change on each host right now, by operation name.

pyinfra's dry run of deploys/full_stack.py reads every fact a real run reads and stops
before any operation executes (``--dry``), so it never changes a host. Its JSON plan names,
per operation, the hosts where it would change something. A host that failed during the
dry run (unreachable, refused by preflight, an error while planning it, its cluster's
first server unreachable while the cluster's tokens are only there) has no known drift:
``edgewasm/compliance/drift_deploy.py`` writes those hosts and their reasons at exit, and
keeps one host's failure from ending the dry run of the others.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from edgewasm import settings
from edgewasm.check_access import check_user
from edgewasm.k3s import READ_ONLY_ENV, TOKEN_SETTINGS, cluster_token, token_path

DRIFT_DEPLOY = Path(__file__).with_name("drift_deploy.py")

# Dry runs running now: a run that is stopped stops them (``stop_all``).
_LIVE: set[subprocess.Popen] = set()
_LIVE_LOCK = threading.Lock()


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


def read_dry_run(stdout: str, stderr: str, returncode: int, failed_text: str | None, hosts: list[str]
                 ) -> dict[str, dict]:
    """``drift_by_host`` from what a dry run left: its stdout (the JSON plan), its stderr,
    exit status and the failed hosts drift_deploy.py wrote (None: it wrote nothing). A
    dry run that broke as a whole leaves each host its own reason when drift_deploy.py
    gave one, else the dry run's."""
    try:
        failed = json.loads(failed_text) if failed_text is not None else None
    except ValueError:
        failed = None
    start = stdout.find("{")
    try:
        plan = json.loads(stdout[start:])["plan"] if start >= 0 else None
    except (ValueError, KeyError, TypeError):
        plan = None
    if plan is not None and isinstance(failed, dict):
        return drift_by_host(plan, hosts, failed)
    tail = " ".join(stderr.strip().splitlines()[-2:])[-300:]
    broke = f"the dry run failed (exit {returncode}): {tail}"
    own = failed if isinstance(failed, dict) else {}
    return drift_by_host([], hosts, {h: own.get(h) or broke for h in hosts})


def cluster_of(data) -> str:
    return settings.value(data, "k3s_cluster_name")


def first_server(servers: list, data):
    """The first of ``servers`` (pyinfra hosts, inventory order) in the cluster of a host
    with ``data`` (k3s_cluster_name): the one it joins, and that deploys/k3s.py reads the
    cluster's tokens from when this machine has none. (An inventory is one cluster today:
    edgewasm.config refuses nodes that disagree on k3s_cluster_name.)"""
    same = [s for s in servers if cluster_of(s.data.dict()) == cluster_of(data)]
    return (same or servers or [None])[0]


def tokens_missing(data, role: str | None) -> list[str]:
    """The tokens (``agent``, ``server``) a deploy of ``role`` needs that neither ``data``
    nor a token file on this machine holds (read-only: nothing is generated or written)."""
    kinds = ["agent", "server"] if role == "server" else ["agent"]
    return [kind for kind in kinds if not cluster_token(data, None, kind=kind, read_only=True)]


def unplannable(name: str, data, role: str | None, first, first_connected: bool) -> str | None:
    """Why host ``name``'s dry run cannot be planned (None: plan it): its cluster's first
    server ``first`` did not connect and the tokens its deploy needs are only there."""
    if role is None or first is None or first.name == name or first_connected:
        return None
    if check_user(data):
        return None  # the check user's dry run reads no token (deploys/k3s.py): none is needed
    missing = tokens_missing(data, role)
    if not missing:
        return None
    where = " or ".join(f"{TOKEN_SETTINGS[k][0]} / {token_path(data, k)}" for k in missing)
    return (f"the first server {first.name} of cluster {cluster_of(data)} is unreachable, and the cluster's tokens "
            f"are read from it (this machine has no {where}); drift is known again once {first.name} answers")


def dry_run(inventory: str, hosts: list[str], timeout: int) -> dict[str, dict]:
    """Run the dry run (in the caller's directory, as a deploy would run) and return
    ``drift_by_host``; when the dry run itself breaks, every host's drift is unknown with
    the reason."""
    with tempfile.TemporaryDirectory(prefix="edgewasm-drift-") as tmp:
        failed_file = Path(tmp) / "failed.json"
        env = {**os.environ, "PYINFRA_PROGRESS": "off", "EDGEWASM_DRIFT_FAILED": str(failed_file),
               READ_ONLY_ENV: "1"}
        argv = [sys.executable, "-m", "pyinfra", "--dry", "--json", "-y", inventory, str(DRIFT_DEPLOY)]
        with subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
            with _LIVE_LOCK:
                _LIVE.add(proc)
            try:
                stdout, stderr = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                return drift_by_host([], hosts, {h: f"the dry run took over {timeout}s" for h in hosts})
            finally:
                with _LIVE_LOCK:
                    _LIVE.discard(proc)
        return read_dry_run(stdout, stderr, proc.returncode,
                            failed_file.read_text() if failed_file.exists() else None, hosts)


def stop_all() -> None:
    """Kill every dry run running now."""
    with _LIVE_LOCK:
        for proc in list(_LIVE):
            proc.kill()
