"""edgewasm.bench.conformance: each case's verdict from what Kubernetes shows, on pod
objects shaped as the API returns them (no cluster: the bed runs the cases for real,
tests/testbed/test_bench.py)."""

from __future__ import annotations

import pytest
import yaml

from edgewasm.bench import conformance
from edgewasm.bench.cluster import Session
from edgewasm.bench.pods import Workload, pod_manifest

CASES = {c.name: c for c in conformance.CASES}


def pod(phase: str, exit_code: int | None = None, reason: str = "") -> dict:
    state = {"terminated": {"exitCode": exit_code, "reason": reason}} if exit_code is not None else \
        {"waiting": {"reason": reason}}
    return {"status": {"phase": phase, "containerStatuses": [{"name": "probe", "state": state}]}}


def verdict(case: str, obj: dict | None, lines: list[str], name: str = "eb-x-cf0-wasmtime-0") -> str | None:
    return CASES[case].judge(conformance.observe(obj, lines), name)


def test_a_conforming_pod_passes_every_case():
    name = "eb-x-cf0-wasmtime-5"
    assert verdict("stdout", pod("Succeeded", 0, "Completed"), ["conformance: stdout"]) is None
    assert verdict("stderr", pod("Succeeded", 0, "Completed"), ["conformance: stderr"]) is None
    assert verdict("exit-status", pod("Failed", 3, "Error"), []) is None
    assert verdict("args", pod("Succeeded", 0, "Completed"), list(conformance.ARGS)) is None
    assert verdict("env", pod("Succeeded", 0, "Completed"), [conformance.ENV_VALUE]) is None
    assert verdict("volume", pod("Succeeded", 0, "Completed"), [name], name) is None
    assert verdict("memory-within", pod("Succeeded", 0, "Completed"), ["allocated 32 MiB"]) is None
    assert verdict("memory-limit", pod("Failed", 137, "OOMKilled"), []) is None


def test_a_handler_that_reports_a_failed_module_as_succeeded_is_a_finding():
    problem = verdict("exit-status", pod("Succeeded", 0, "Completed"), [])
    assert problem == "phase Succeeded, exit 0 (Completed); want Failed, exit 3"


@pytest.mark.parametrize("case,obj,lines,want", [
    ("stdout", pod("Succeeded", 0, "Completed"), [], "logs []"),  # output lost
    ("stderr", pod("Succeeded", 0, "Completed"), [], "logs []"),
    ("args", pod("Succeeded", 0, "Completed"), ["two words --flag=x"], "logs ['two words --flag=x']"),
    ("env", pod("Failed", 1, "Error"), [], "phase Failed, exit 1 (Error)"),  # variable not passed
    ("volume", pod("Failed", 1, "Error"), ["cat: cannot read /etc/podinfo/name"], "phase Failed"),
    ("memory-within", pod("Failed", 137, "OOMKilled"), [], "phase Failed, exit 137 (OOMKilled)"),
    ("exit-status", pod("Failed", 1, "Error"), [], "exit 1"),  # a status, but not the module's
    ("stdout", pod("Pending", None, "ErrImageNeverPull"), [], "phase Pending, exit None (ErrImageNeverPull)"),
    ("stdout", None, [], "phase ?, exit None (pod gone)"),
])
def test_what_a_case_shows_when_the_handler_does_not_conform(case, obj, lines, want):
    problem = verdict(case, obj, lines)
    assert problem is not None and want in problem


def test_a_memory_limit_not_enforced_is_a_finding():
    assert "512 MiB held under a 128Mi limit" in verdict("memory-limit", pod("Succeeded", 0, "Completed"),
                                                          ["allocated 512 MiB"])
    # Still running at the phase's end: not stopped.
    assert "want Failed" in verdict("memory-limit", pod("Running"), [])


def test_the_table_has_a_column_per_node_and_handler():
    rows = [{"node": "n1", "handler": h, "case": c.name, "what": c.what, "ok": h == "runc" or c.name != "env",
             "problem": None if h == "runc" or c.name != "env" else "logs []"} for h in ("wasmtime", "runc")
            for c in conformance.CASES]
    table = conformance.table(rows)
    assert [r["case"] for r in table] == list(CASES)
    env = next(r for r in table if r["case"] == "env")
    assert env == {"case": "env", "what": CASES["env"].what, "n1/wasmtime": "logs []", "n1/runc": "ok"}


def test_the_pods_carry_what_each_case_needs():
    session = Session(runner=None, run_id="abc123")
    load = Workload("docker.io/edgewasm/bench-wasm:0.1.0", "docker.io/edgewasm/bench-native:0.1.0", deadline=60)
    env_pod = yaml.safe_load(pod_manifest(session, load, "wasmtime", "n1", "cf0-wasmtime", 4, ["env", "X"],
                                          env={"X": "y"}))
    assert env_pod["spec"]["containers"][0]["env"] == [{"name": "X", "value": "y"}]
    assert "volumes" not in env_pod["spec"]
    vol = yaml.safe_load(pod_manifest(session, load, "runc", "n1", "cf0-runc", 5, ["cat", "/etc/podinfo/name"],
                                      podinfo="/etc/podinfo", memory_limit="64Mi"))
    container = vol["spec"]["containers"][0]
    assert container["volumeMounts"] == [{"name": "podinfo", "mountPath": "/etc/podinfo", "readOnly": True}]
    assert vol["spec"]["volumes"][0]["downwardAPI"]["items"] == [{"path": "name",
                                                                  "fieldRef": {"fieldPath": "metadata.name"}}]
    assert container["resources"]["limits"]["memory"] == "64Mi"
    assert "runtimeClassName" not in vol["spec"]
