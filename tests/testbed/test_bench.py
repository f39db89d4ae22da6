"""edgewasm-bench on the test bed's real K3s (issue 32): it measures every handler the bed's
nodes offer, judges handler conformance against runc, cleans up after itself, shows a
handler that cannot start pods as failed (never as fast), and refuses a cluster it cannot
reach. Small levels: this proves the tool, the figures of docs/performance.md come from
longer runs (docs/performance.md, "Method").

Runs on the shared default bed after test_check_user (conftest.SHARED_BED); every host
carries the bench images (edgewasm.testbed: edgewasm_bench_images).
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgewasm import testbed as tb
from edgewasm.bench.cluster import NAMESPACE
from edgewasm.k3s import K3S_BIN
from edgewasm.wasm import SHIM_DIR
from tests.testbed.helpers import REPORTS, deploy

pytestmark = pytest.mark.testbed

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = ROOT / "inventories" / "testbed.py"
EVIDENCE = REPORTS / "bench-evidence.txt"


def _record(title: str, text: str) -> None:
    EVIDENCE.parent.mkdir(parents=True, exist_ok=True)
    with EVIDENCE.open("a") as out:
        out.write(f"== {title}\n{text.rstrip()}\n\n")


def bench(*args: str, inventory: Path = INVENTORY, timeout: float = 1800) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgewasm.bench", str(inventory), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def result_of(out: Path) -> dict:
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return json.loads((run_dir / "result.json").read_text())


@pytest.fixture(scope="module")
def converged(testbed):
    EVIDENCE.unlink(missing_ok=True)
    code, _, log = deploy()
    assert code == 0, log[-5000:]
    return testbed


@pytest.fixture(scope="module")
def server(converged):
    (first,) = [h for h in converged if h.role == "server"]
    return first


def _bench_pods(server) -> str:
    return tb.ssh(server.address, f"{K3S_BIN} kubectl get pods -A -l app.kubernetes.io/managed-by=edgewasm-bench "
                                  "-o name", check=False).stdout.strip()


def test_every_handler_of_the_bed_is_measured_and_judged_against_runc(converged, server, tmp_path):
    ran = bench("--concurrency", "1,3", "--rounds", "1", "--density-max", "4", "--density-step", "2",
                "--phase-timeout", "300", "--out", str(tmp_path))
    _record("edgewasm-bench inventories/testbed.py --concurrency 1,3 --rounds 1 --density-max 4",
            f"exit {ran.returncode}\n{ran.stdout}\n--- stderr (last lines)\n" + "\n".join(ran.stderr.splitlines()[-15:]))
    assert ran.returncode in (0, 1), ran.stderr[-3000:]
    result = result_of(tmp_path)
    measured = {(r["node"], r["handler"]) for r in result["coldstart"]["summary"]}
    agent = next(h.name for h in converged if h.role == "agent" and h.kubernetes)
    assert measured == {(server.name, "wasmtime"), (server.name, "runc"), (agent, "wasmtime"), (agent, "wasmedge"),
                        (agent, "crun-wasm"), (agent, "runc")}
    # Every handler started its pods: the figures are samples of pods that completed.
    for row in result["coldstart"]["summary"]:
        assert row["status"] == "ok" and row["completed"] == row["pods"], row
        assert 0 < row["started_ms"]["p50"] <= row["completed_ms"]["p50"], row
    # The bed says per release why a handler is not measured, and leaves out its light node.
    pi = next(h.name for h in converged if not h.kubernetes)
    assert "glibc 2.38" in result["skipped"][f"{server.name}/wasmedge"]
    assert "light K3s stand-in" in result["skipped"][pi]
    assert {d["handler"] for d in result["density"] if d["node"] == agent} == {"wasmtime", "wasmedge", "crun-wasm",
                                                                              "runc"}
    for d in result["density"]:
        assert d["pods_ready"] == 4 and d["bounded_by"]["by"] == "density-max", d
        assert d["memory"]["at_rest"]["p50"] > 0, d
    # Conformance: runc, with the very cases, passes every one (the cases are sound); a Wasm
    # handler's failed case is a finding, and exactly those make the exit status 1.
    rows = result["conformance"]["rows"]
    assert {r["case"] for r in rows if r["handler"] == "runc" and r["ok"]} == \
        {r["case"] for r in rows if r["handler"] == "runc"}, [r for r in rows if not r["ok"]]
    findings = [r for r in rows if not r["ok"]]
    assert ran.returncode == (1 if findings else 0), findings
    _record("conformance (node/handler: ok, or what Kubernetes showed)",
            "\n".join(json.dumps(row, ensure_ascii=False) for row in result["conformance"]["table"]))
    run_dir = next(p for p in tmp_path.iterdir() if p.is_dir())
    html = (run_dir / "report.html").read_text()
    assert "Handler conformance" in html and "data:image/png;base64," in html
    # Nothing of the run is left on the cluster.
    assert _bench_pods(server) == ""


def test_a_handler_that_cannot_start_pods_is_failed_with_its_reason_never_fast(converged, server, tmp_path):
    """The agent's wasmtime shim taken away: its pods cannot get a sandbox, and the bench
    says so with the kubelet's reason instead of reporting a figure."""
    agent = next(h for h in converged if h.role == "agent" and h.kubernetes)
    shim = f"{SHIM_DIR}/containerd-shim-wasmtime-v1"
    tb.ssh(agent.address, f"mv {shim} {shim}.away")
    try:
        ran = bench("--nodes", agent.name, "--handlers", "wasmtime", "--concurrency", "1", "--rounds", "1",
                    "--density-max", "0", "--no-conformance", "--phase-timeout", "90", "--out", str(tmp_path))
    finally:
        tb.ssh(agent.address, f"mv {shim}.away {shim}")
    _record("the agent's wasmtime shim moved away", f"exit {ran.returncode}\n{ran.stdout}")
    assert ran.returncode == 1, ran.stderr[-3000:]
    (row,) = result_of(tmp_path)["coldstart"]["summary"]
    assert row["status"] == "failed" and row["completed"] == 0 and row["started_ms"] is None, row
    (why,) = row["failures"]
    assert "FailedCreatePodSandBox" in why or "not finished within" in why, why
    assert "FAILED" in ran.stdout
    assert _bench_pods(server) == ""


def test_a_cluster_it_cannot_reach_is_refused_before_any_pod(converged, server, tmp_path):
    inventory = tmp_path / "unreachable.py"
    inventory.write_text(
        "from edgewasm.testbed import inventory_groups\n"
        f"_g = inventory_groups(overrides={{{server.name!r}: {{'ssh_hostname': '10.231.0.99'}}}})\n"
        "k3s_servers, k3s_agents, raspberry_pi = _g['k3s_servers'], _g['k3s_agents'], _g['raspberry_pi']\n")
    ran = bench("--out", str(tmp_path / "out"), inventory=inventory, timeout=120)
    assert ran.returncode == 2, ran.stderr
    assert f"cannot reach the cluster: its first server {server.name}" in ran.stderr, ran.stderr
    assert "fix:" in ran.stderr
    assert not (tmp_path / "out").exists()
