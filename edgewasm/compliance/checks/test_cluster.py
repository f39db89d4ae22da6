"""Cluster-level checks, run on the first server through K3s's kubectl."""

import json
import time
from typing import NamedTuple

import pytest
import yaml

from edgewasm.compliance import applies
from edgewasm.compliance.checks.standin import light_standin
from edgewasm.compliance.cluster import node_problems
from edgewasm.bench_images import wasm_ref
from edgewasm.hello_wasm import greeting, image_ref
from edgewasm.plan import fleet_handlers, handlers, wanted_versions
from edgewasm.wasm import CRUN_WASM, failing_pod, hello_pod, runtime_class_name

# Cluster-level checks: once per cluster, on its first server.
pytestmark = applies.only(applies.first_server)


@pytest.fixture
def kubectl(cluster_host, access):
    return lambda args: json.loads(cluster_host.check_output(f"{access.kubectl} {args} -o json"))


def test_every_inventory_node_joined_and_is_ready(kubectl, fleet, plan):
    """Every inventory node joined the cluster, is Ready and runs the pinned K3s.

    Fix: run the deploy for the missing or not-ready nodes; read their journal (journalctl -u k3s-agent)."""
    expected = [h.name for h in fleet if h.role and not light_standin(h.data)]
    assert node_problems(kubectl("get nodes"), expected, plan.versions["k3s"]) == []


def test_wasm_runtime_classes_exist(kubectl, fleet):
    """Every handler of the fleet has its RuntimeClass in the cluster.

    Fix: run the deploy on the servers; check K3s's deploy controller (kubectl -n kube-system get addons)."""
    classes = {rc["metadata"]["name"]: rc["handler"] for rc in kubectl("get runtimeclass")["items"]}
    for handler in fleet_handlers([h.data for h in fleet]):
        name = handler if handler == "crun-wasm" else f"edgewasm-{handler}"
        assert classes.get(name) == handler, f"RuntimeClass {name} missing or wrong"


# A fresh install's admission webhook (Gatekeeper, installed by K3s's helm-controller after
# the deploy) may not answer yet; longer than this and its being down is the finding.
ADMISSION_WAIT = 240


class AdmissionWait:
    """Applies the checks' pods, waiting up to ADMISSION_WAIT for the webhook once per run:
    waited out, admission is down, and the run's later pods are refused at once instead of
    each waiting again (with Gatekeeper on a lost node, every check pod would)."""

    def __init__(self):
        self.down = False

    def apply(self, host, kubectl: str, manifest: str):
        deadline = time.monotonic() + (0 if self.down else ADMISSION_WAIT)
        while True:
            applied = host.run(f"{kubectl} apply -f - <<'EOF'\n{manifest}\nEOF")
            if applied.rc == 0 or "failed calling webhook" not in applied.stderr:
                return applied
            if time.monotonic() > deadline:
                self.down = True
                return applied
            time.sleep(5)


@pytest.fixture(scope="session")
def admission():
    return AdmissionWait()


def _refusal(stderr: str) -> str:
    """kubectl's error without its warnings: the cluster's PodSecurity level warns on every
    pod these checks create, and those lines would push the refusal itself out of the
    report's one-line message."""
    return " ".join(line for line in stderr.strip().splitlines() if not line.startswith("Warning:"))


def _ready(node: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in node["status"].get("conditions", []))


class HandlerNodes(NamedTuple):
    ready: list  # the inventory hosts a check runs its pod on
    not_ready: list[str]
    missing: list[str]  # inventory nodes the cluster does not have
    left_out: list[str]  # "node: why", the test bed's handlers_left_out


def _handler_nodes(fleet, node_list: dict, handler: str, wanted=lambda data: True) -> HandlerNodes:
    """The fleet's K3s nodes (``wanted`` by the check) that run ``handler``, by what a check
    can do on each. Light stand-ins are left out: their own check says why (test_k3s.py)."""
    nodes = {n["metadata"]["name"]: n for n in node_list["items"]}
    chosen = HandlerNodes([], [], [], [])
    for node in fleet:
        if not node.role or light_standin(node.data) or not wanted(node.data):
            continue
        if node.name not in nodes:
            chosen.missing.append(node.name)
        elif handler not in handlers(node.data, nodes[node.name]["status"]["nodeInfo"]["architecture"]):
            continue
        elif why := node.data.get("testbed_handlers_left_out", {}).get(handler):
            chosen.left_out.append(f"{node.name}: {why}")
        elif _ready(nodes[node.name]):
            chosen.ready.append(node)
        else:
            chosen.not_ready.append(node.name)
    return chosen


@pytest.mark.parametrize("handler", ["wasmtime", "wasmedge", "crun-wasm"])
def test_hello_wasm_pod_completes_on_every_wasm_node(host, kubectl, access, admission, fleet, plan, handler):
    """One pod per Wasm-capable node for this handler, pinned to that node; its log must be the greeting.

    Fix: check that node's shim and containerd template (k3s crictl info), then run the deploy."""

    image = image_ref(plan.versions["hello-wasm"])
    chosen = _handler_nodes(fleet, kubectl("get nodes"), handler)
    # A pod bound to a node that is not Ready would only wait out the timeout.
    failures = [f"{name}: not a node of the cluster" for name in chosen.missing]
    failures += [f"{name}/{handler}: node not Ready, no pod run" for name in chosen.not_ready]
    started, left_out = {}, chosen.left_out
    for node in chosen.ready:
        manifest = hello_pod(runtime_class_name(handler), node.name, image, crun=handler == CRUN_WASM)
        name = yaml.safe_load(manifest)["metadata"]["name"]
        host.run(f"{access.kubectl} delete pod {name} --ignore-not-found --wait=true")
        started[node.name] = (name, admission.apply(host, access.kubectl, manifest))
    # The pods run side by side; each is then waited for and read in turn.
    for node_name, (name, applied) in started.items():
        if applied.rc:
            failures.append(f"{node_name}/{handler}: {_refusal(applied.stderr)}")
            continue
        done = host.run(f"{access.kubectl} wait pod/{name} --for=jsonpath='{{.status.phase}}'=Succeeded "
                        "--timeout=180s")
        logs = host.run(f"{access.kubectl} logs {name}").stdout
        # containerd copies a container's output after it reports the exit: a pod can be
        # Succeeded with its log file not yet written (seen with real K3s).
        for _ in range(10):
            if logs or done.rc:
                break
            time.sleep(1)
            logs = host.run(f"{access.kubectl} logs {name}").stdout
        host.run(f"{access.kubectl} delete pod {name} --ignore-not-found --wait=false")
        if done.rc or logs != greeting():
            failures.append(f"{node_name}/{handler}: {_refusal(done.stderr)} log={logs!r}")
    assert not failures, "; ".join(failures)
    if left_out and not started:
        pytest.skip(f"test bed: no node runs Wasm through {handler} ({'; '.join(left_out)})")
    if not started:
        pytest.skip(f"no node of the fleet runs the {handler} handler")


# Handlers that report every module's end as exit 0, with the upstream defect behind it: a
# finding the report shows on every run (skipped with the finding, never passed) rather
# than a failure the operator cannot fix by deploying.
EXIT_STATUS_DEFECTS = {
    CRUN_WASM: "crun's wasmedge handler (libcrun/handlers/wasmedge.c) exits 0 after any module that ends by "
               "WASI proc_exit, whatever its status",
}
EXIT_CASE = 3


def _finished(host, kubectl: str, name: str, timeout: float = 180) -> dict | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = host.run(f"{kubectl} get pod {name} -o json")
        if got.rc == 0 and json.loads(got.stdout)["status"].get("phase") in ("Succeeded", "Failed"):
            return json.loads(got.stdout)
        time.sleep(2)
    return None


@pytest.mark.parametrize("handler", ["wasmtime", "wasmedge", "crun-wasm"])
def test_a_failing_wasm_module_fails_its_pod(host, kubectl, access, admission, fleet, handler):
    """A Wasm module that exits 3 leaves its pod Failed with exit code 3 (a handler that reports it Succeeded hides every failure: Jobs, restarts and alerts never see one).

    Runs on nodes that carry the bench images (edgewasm_bench_images), whose module exits
    with the status it is given. Fix: use a handler that reports the module's exit status
    (the runwasi shims) for workloads whose failure matters."""
    # Nodes missing from the cluster: test_every_inventory_node_joined_and_is_ready says why.
    chosen = _handler_nodes(fleet, kubectl("get nodes"), handler, lambda data: data.get("edgewasm_bench_images"))
    failures, findings, ran, not_ready = [], [], [], chosen.not_ready
    for node in chosen.ready:
        manifest = failing_pod(runtime_class_name(handler), node.name,
                               wasm_ref(wanted_versions(node.data)["bench-wasm"]), handler == CRUN_WASM, EXIT_CASE)
        name = yaml.safe_load(manifest)["metadata"]["name"]
        host.run(f"{access.kubectl} delete pod {name} --ignore-not-found --wait=true")
        applied = admission.apply(host, access.kubectl, manifest)
        if applied.rc:
            failures.append(f"{node.name}/{handler}: {_refusal(applied.stderr)}")
            continue
        pod = _finished(host, access.kubectl, name)
        host.run(f"{access.kubectl} delete pod {name} --ignore-not-found --wait=false")
        ran.append(node.name)
        if pod is None:
            failures.append(f"{node.name}/{handler}: the pod did not finish within 180s")
            continue
        state = (pod["status"].get("containerStatuses") or [{}])[0].get("state", {}).get("terminated") or {}
        shown = f"pod {pod['status']['phase']}, exit code {state.get('exitCode')}"
        if pod["status"]["phase"] != "Failed" or state.get("exitCode") != EXIT_CASE:
            finding = f"{node.name}/{handler}: a module that exits {EXIT_CASE} shows as {shown}"
            (findings if handler in EXIT_STATUS_DEFECTS else failures).append(finding)
    assert not failures, "; ".join(failures)
    if findings:
        pytest.skip(f"FINDING: {'; '.join(findings)} ({EXIT_STATUS_DEFECTS[handler]})")
    if not ran and not_ready:
        pytest.skip(f"{', '.join(not_ready)} not Ready, no pod run (test_every_inventory_node_joined_and_is_ready "
                    "says why)")
    if not ran:
        pytest.skip(f"no node with the bench images (edgewasm_bench_images) runs the {handler} handler")
