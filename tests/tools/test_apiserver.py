"""The policy smoke test, RuntimeClasses and the K3s drain against a real Kubernetes API
server with real Gatekeeper as its validating webhook (tests/fixtures/apiserver.py:
kube-apiserver, etcd, kubectl and Gatekeeper's manager, all built from their Go modules).
No kubelet runs: objects are stored, validated and admitted for real; nothing executes
them. Skipped where the programs are not built, except under ./run test, which builds
them and fails instead."""

import json

import pytest
import yaml

from edgewasm import hello_wasm, wasm
from edgewasm.compliance.admission import smoke_problems, smoke_verdicts, wait_enforced
from edgewasm.k3s import drain_args
from edgewasm.policy import REPOS_CONSTRAINT
from tests.fixtures import manifests
from tests.fixtures.apiserver import APIServer, Gatekeeper

DATA = {"policy_allowed_repos": ["docker.io/edgewasm/", "registry.site-a.example"]}
NAMESPACE = "apps"


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    with APIServer(tmp_path_factory.mktemp("apiserver")) as server:
        yield server


@pytest.fixture(scope="module")
def gatekeeper(api):
    """Gatekeeper enforcing the project's templates and the Constraints rendered from DATA."""
    with Gatekeeper(api) as gk:
        gk.enforce(DATA)
        api.check("create", "namespace", NAMESPACE)
        yield gk


def _smoke(api):
    return smoke_verdicts(api.as_kubectl(), NAMESPACE, DATA["policy_allowed_repos"][0], REPOS_CONSTRAINT)


def test_untrusted_pod_denied_by_gatekeeper_naming_our_constraint_trusted_admitted(api, gatekeeper):
    verdicts = _smoke(api)
    assert smoke_problems(verdicts) == []
    assert f"[{REPOS_CONSTRAINT}] container <smoke> uses image <untrusted.invalid/" in verdicts["untrusted"][1]


def test_smoke_test_fails_when_the_constraint_is_removed(api, gatekeeper):
    removed = next(d for d in yaml.safe_load_all(manifests.constraints(DATA)) if d["kind"] == "K8sAllowedRepos")
    api.check("delete", "k8sallowedrepos", REPOS_CONSTRAINT)
    try:
        api.until(lambda: _smoke(api)["untrusted"][0] != "denied", "the deleted constraint still denies", 60)
        problems = smoke_problems(_smoke(api))
        assert problems and problems[0].startswith("an untrusted image was not denied (admitted)"), problems
    finally:
        api.apply(removed)
        assert wait_enforced(api.as_kubectl(), REPOS_CONSTRAINT, lambda: [gatekeeper.POD], 120) == []


def test_a_stopped_webhook_is_caught_fail_open_and_fail_closed(api, gatekeeper):
    """failurePolicy Ignore with the webhook down lets the untrusted pod in: the smoke
    test must fail on it. Under Fail the dry run errors (not a denial by our constraint)."""
    gatekeeper.stop()
    try:
        gatekeeper.set_failure_policy("Ignore")
        verdicts = _smoke(api)
        assert verdicts["untrusted"][0] == "admitted", verdicts
        assert any("untrusted image was not denied (admitted)" in p for p in smoke_problems(verdicts))
        gatekeeper.set_failure_policy("Fail")
        verdicts = _smoke(api)
        assert verdicts["untrusted"][0] == "error" and "failed calling webhook" in verdicts["untrusted"][1], verdicts
        assert smoke_problems(verdicts)
    finally:
        gatekeeper.set_failure_policy("Fail")
        gatekeeper.start()
    api.until(lambda: smoke_problems(_smoke(api)) == [], "the restarted webhook does not deny")


def test_runtime_classes_and_hello_pods_are_accepted_by_the_api_server(api, gatekeeper):
    handlers = ["crun-wasm", "wasmedge", "wasmtime"]
    api.check("apply", "-f", "-", stdin=manifests.runtime_classes(handlers))
    stored = json.loads(api.check("get", "runtimeclasses", "-o", "json"))["items"]
    assert sorted((rc["metadata"]["name"], rc["handler"]) for rc in stored) == [
        ("crun-wasm", "crun-wasm"), ("edgewasm-wasmedge", "wasmedge"), ("edgewasm-wasmtime", "wasmtime")]
    for runtime_class, crun in (("crun-wasm", True), ("edgewasm-wasmedge", False), ("edgewasm-wasmtime", False)):
        pod = wasm.hello_pod(runtime_class, "edge-pi-1", hello_wasm.image_ref("0.1.0"), crun)
        out = api.check("apply", "--dry-run=server", "-f", "-", stdin=pod)
        assert "(server dry run)" in out
    broken = manifests.runtime_classes(["wasmedge"]).replace('"edgewasm-wasmedge"', '"edgewasm-broken"')
    refused = api.kubectl("apply", "--dry-run=server", "-f", "-", stdin=broken.replace('handler: "wasmedge"', 'handler: "Not_A_DNS_Label"'))
    assert refused.returncode != 0 and "handler" in refused.stderr, refused


def _node(api, name):
    api.apply({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}})


def _owned_pod(api, name, node, owner, labels=None, empty_dir=False):
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels or {},
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": owner["kind"], "name": owner["metadata"]["name"],
                                             "uid": owner["metadata"]["uid"], "controller": True}]},
           "spec": {"nodeName": node, "containers": [{"name": "app", "image": "docker.io/edgewasm/app:1"}]}}
    if empty_dir:
        pod["spec"]["volumes"] = [{"name": "scratch", "emptyDir": {}}]
    api.apply(pod)


def _created(api, doc):
    api.apply(doc)
    return json.loads(api.check("get", doc["kind"].lower(), doc["metadata"]["name"], "-n", NAMESPACE, "-o", "json"))


def _unschedulable(api, node):
    return json.loads(api.check("get", "node", node, "-o", "json"))["spec"].get("unschedulable", False)


def test_k3s_drain_cordons_skips_daemonset_pods_and_uncordons(api, gatekeeper):
    """deploys/k3s.py's drain and uncordon, with edgewasm.k3s.drain_args, as kubectl runs
    them on the first server: a node whose only pod belongs to a DaemonSet drains."""
    _node(api, "edge-agent-1")
    selector = {"matchLabels": {"app": "agent-ds"}}
    ds = _created(api, {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent-ds", "namespace": NAMESPACE},
                        "spec": {"selector": selector, "template": {"metadata": {"labels": {"app": "agent-ds"}}, "spec": {
                            "containers": [{"name": "app", "image": "docker.io/edgewasm/app:1"}]}}}})
    _owned_pod(api, "agent-ds-1", "edge-agent-1", ds, {"app": "agent-ds"})
    done = api.kubectl(*drain_args("edge-agent-1", 30))
    assert done.returncode == 0, done.stderr
    assert "node/edge-agent-1 cordoned" in done.stdout and "node/edge-agent-1 drained" in done.stdout
    assert f"ignoring DaemonSet-managed Pods: {NAMESPACE}/agent-ds-1" in done.stderr
    assert _unschedulable(api, "edge-agent-1") is True
    api.check("uncordon", "edge-agent-1")
    assert _unschedulable(api, "edge-agent-1") is False


def test_k3s_drain_fails_on_a_pod_disruption_budget(api, gatekeeper):
    """A PodDisruptionBudget that allows no disruption: the drain fails (and the rollout
    stops there, deploys/k3s.py), and the node stays cordoned for the operator to see."""
    _node(api, "edge-agent-2")
    rs = _created(api, {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "db", "namespace": NAMESPACE},
                        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "db"}}, "template": {
                            "metadata": {"labels": {"app": "db"}},
                            "spec": {"containers": [{"name": "app", "image": "docker.io/edgewasm/app:1"}]}}}})
    _owned_pod(api, "db-1", "edge-agent-2", rs, {"app": "db"}, empty_dir=True)
    # No kubelet and no disruption controller run here: the pod's status and the budget's
    # are written as they would report them (a Pending pod may be evicted whatever its
    # budget says; a budget whose status no controller has observed stalls each eviction
    # ~100 s in the API server before it answers 429).
    api.check("patch", "pod", "db-1", "-n", NAMESPACE, "--subresource=status", "--type=merge",
              "-p", json.dumps({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}))
    api.apply({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "db", "namespace": NAMESPACE},
               "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "db"}}}})
    api.check("patch", "pdb", "db", "-n", NAMESPACE, "--subresource=status", "--type=merge", "-p", json.dumps({"status": {
        "observedGeneration": 1, "disruptionsAllowed": 0, "currentHealthy": 1, "desiredHealthy": 1, "expectedPods": 1}}))
    done = api.kubectl(*drain_args("edge-agent-2", 5))
    assert done.returncode != 0
    assert "Cannot evict pod as it would violate the pod's disruption budget" in done.stderr, done.stderr
    assert _unschedulable(api, "edge-agent-2") is True
