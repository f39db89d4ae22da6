"""One compliance run as data: the JSON report every other format is rendered from.

The schema (``edgewasm.compliance/v1``) is documented in docs/compliance.md; fields are
only ever added to it. A host's items (a failed check, a drifted operation or version, an
unreachable host) are what "new since last run" and "fixed since last run" compare.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

SCHEMA = "edgewasm.compliance/v1"
REACHABLE = ("host", "reachable")
BAD = ("failed", "error")


def host_entry(name: str, role: str | None, reason: str | None, checks: list[dict], drift: Mapping,
               duration_s: float) -> dict:
    """One host's part of the report. ``reason``: why it could not be reached (None: it
    was); ``checks``: the plugin's results; ``drift``: drift.drift_by_host's entry."""
    reachable = {"host": name, "component": REACHABLE[0], "check": REACHABLE[1],
                 "summary": "The host answers over SSH with the known host key and the inventory's credentials.",
                 "fix": "power the host on, fix its network, or its ssh_* inventory data and known_hosts entry.",
                 "outcome": "failed" if reason else "passed", "message": reason or "", "duration_s": 0.0,
                 "versions": []}
    checks = [reachable, *checks]
    versions = [v for c in checks for v in c.get("versions", [])]
    drifted_versions = [v for v in versions if v["pinned"] != v["running"]]
    known = bool(drift.get("known")) and reason is None
    drift_entry = {
        "known": known,
        "reason": None if known else (reason or drift.get("reason")),
        "operations": list(drift.get("operations", [])) if known else [],
        "versions": drifted_versions,
    }
    failed = [c for c in checks if c["outcome"] in BAD]
    return {
        "name": name,
        "role": role,
        "reachable": reason is None,
        "compliant": not failed and known and not drift_entry["operations"] and not drifted_versions,
        "duration_s": round(duration_s, 3),
        "checks": checks,
        "drift": drift_entry,
        "drift_count": len(drift_entry["operations"]) + len(drifted_versions),
    }


def items(host: Mapping) -> dict[str, str]:
    """What is wrong with one host, keyed stably across runs -> a line for people."""
    found = {}
    for c in host["checks"]:
        if c["outcome"] in BAD:
            found[f"check:{c['component']}/{c['check']}"] = f"{c['component']}: {c['check']} {c['outcome']}"
    for op in host["drift"]["operations"]:
        found[f"drift:{op}"] = f"drift: {op}"
    for v in host["drift"]["versions"]:
        found[f"version:{v['component']}"] = f"version: {v['component']} runs {v['running'] or '?'}, pinned {v['pinned']}"
    if not host["drift"]["known"] and host["reachable"]:
        found["drift:unknown"] = f"drift unknown: {host['drift']['reason']}"
    return found


def changes(hosts: Iterable[Mapping], previous: Mapping | None) -> dict:
    """New and fixed items against the previous run of the same inventory."""
    if previous is None:
        return {"previous": None, "new": [], "fixed": []}
    now = {h["name"]: items(h) for h in hosts}
    before = {h["name"]: items(h) for h in previous.get("hosts", [])}
    new = [{"host": n, "item": k, "text": t} for n, found in now.items() for k, t in found.items()
           if k not in before.get(n, {})]
    # A host missing from this run (left the inventory) fixes nothing.
    fixed = [{"host": n, "item": k, "text": t} for n, found in before.items() if n in now
             for k, t in found.items() if k not in now[n]]
    return {"previous": previous.get("run"), "new": new, "fixed": fixed}


def baseline_problem(previous: object) -> str | None:
    """Why an earlier run's report cannot be compared with (None: it can): not this
    schema, or a host entry ``items`` cannot read."""
    if not isinstance(previous, Mapping):
        return f"a JSON {type(previous).__name__}, not a report"
    if previous.get("schema") != SCHEMA:
        return f"schema {str(previous.get('schema'))[:40]!r}, not {SCHEMA}"
    hosts = previous.get("hosts")
    if not isinstance(hosts, list):
        return "no list of hosts"
    for number, h in enumerate(hosts, 1):
        try:
            if not isinstance(h["name"], str):
                return f"host {number}: its name is not a string"
            items(h)
        except (KeyError, TypeError, AttributeError, IndexError) as exc:
            return f"host {number}: {type(exc).__name__} {str(exc)[:60]}"
    return None


def footprint(pod_namespaces: Iterable[str], check_user: str | None) -> dict:
    """What the run itself changed, said in every report: the cluster checks' pods (the
    one change the nightly check's user is allowed: edgewasm/check_access.py), the
    hello-wasm copy each Wasm host runs from /var/tmp; and who read the hosts."""
    namespaces = sorted(set(pod_namespaces))
    pods = (f"pods created and deleted in namespace(s) {', '.join(namespaces)}" if namespaces
            else "no pod (no cluster checked)")
    text = (f"Changes made by this check: {pods}; hello-wasm copied to /var/tmp on each Wasm host and removed "
            "after its run. Nothing else on any host.")
    if check_user:
        text += (f" Read as {check_user}: root-only files through its read helper (secrets as salted digests), the "
                 "cluster through its ServiceAccount; it cannot change a host. Tokens are compared by the checks "
                 "(by digest), not by the drift dry run, which reads none.")
    return {"pod_namespaces": namespaces, "check_user": check_user, "text": text}


def build(inventory: str, inventory_name: str, run: str, started: datetime, duration_s: float, hosts: list[dict],
          previous: Mapping | None, warnings: Iterable[str] = (), made: Mapping | None = None) -> dict:
    checks = [c for h in hosts for c in h["checks"]]
    totals = {
        "hosts": len(hosts),
        "compliant_hosts": sum(h["compliant"] for h in hosts),
        "unreachable_hosts": sum(not h["reachable"] for h in hosts),
        "checks": len(checks),
        **{o: sum(c["outcome"] == o for c in checks) for o in ("passed", "failed", "error", "skipped")},
        "drift": sum(h["drift_count"] for h in hosts),
    }
    compliant = totals["compliant_hosts"] == totals["hosts"] > 0
    return {
        "schema": SCHEMA,
        "inventory": inventory,
        "inventory_name": inventory_name,
        "run": run,
        "started": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "started_unix": round(started.timestamp(), 3),
        "duration_s": round(duration_s, 3),
        "compliant": compliant,
        "exit_status": 0 if compliant else 1,
        "totals": totals,
        "hosts": hosts,
        "changes": changes(hosts, previous),
        # What the run could not do as usual, and did instead (a baseline passed over).
        "warnings": list(warnings),
        # What the run itself changed (footprint()), and who read the hosts.
        "changes_made": dict(made) if made is not None else footprint([], None),
    }


def failures(report: Mapping) -> list[dict]:
    """Every failed check, hosts in report order."""
    return [c for h in report["hosts"] for c in h["checks"] if c["outcome"] in BAD]


def skipped(report: Mapping) -> list[dict]:
    """Every skipped check with its reason, hosts in report order: a compliant run with
    skips says so, and why each was skipped."""
    return [c for h in report["hosts"] for c in h["checks"] if c["outcome"] == "skipped"]


def matrix(report: Mapping) -> tuple[list[str], list[dict]]:
    """(components, rows): per host and component, the worst outcome of its checks
    (absent: no check of that component applies to the host)."""
    rank = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}
    components = sorted({c["component"] for h in report["hosts"] for c in h["checks"]},
                        key=lambda c: (c != REACHABLE[0], c))
    rows = []
    for h in report["hosts"]:
        cells = {}
        for c in h["checks"]:
            cell = cells.setdefault(c["component"], {"outcome": "passed", "count": 0, "bad": 0})
            cell["count"] += 1
            cell["bad"] += c["outcome"] in BAD
            if rank[c["outcome"]] > rank[cell["outcome"]]:
                cell["outcome"] = c["outcome"]
        rows.append({"host": h, "cells": cells})
    return components, rows
