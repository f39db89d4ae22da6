"""Gatekeeper and the image policies: the manifests on every server, and on the first
server a smoke test that an untrusted pod is denied and a trusted one admitted."""

import base64
import hashlib
import json
import time

import pytest
import yaml

from edgewasm.compliance import applies
from edgewasm.compliance.admission import (
    UNTRUSTED_IMAGE,
    WEBHOOK_POD_SELECTOR,
    dry_run_verdict,
    enforcement_problems,
    trusted_image,
)
from edgewasm.k3s import K3S_BIN
from edgewasm.policy import POLICY_TEMPLATES, REPOS_CONSTRAINT
from edgewasm.settings import value as setting
from edgewasm.wasm import MANIFESTS_DIR

ENFORCED_TIMEOUT = 300


@pytest.fixture
def server(host):
    """A server of a cluster with Gatekeeper on (checks using it are marked so)."""
    return host


def _manifest(host, name):
    file = host.file(f"{MANIFESTS_DIR}/{name}")
    assert file.exists and file.mode == 0o600 and file.user == "root", f"{file.path} missing or not 0600 root"
    return file.content_string


@applies.only(applies.gatekeeper)
def test_helmchart_carries_the_pinned_chart_and_edge_values(server, host_data, plan):
    """The Gatekeeper HelmChart carries the pinned chart and the edge values.

    Fix: run the deploy on the servers; check the gatekeeper_* settings."""
    from tests.fixtures.k8s_schema import validate_manifest

    (chart,) = validate_manifest(_manifest(server, "edgewasm-gatekeeper.yaml"))
    content = base64.b64decode(chart["spec"]["chartContent"])
    assert hashlib.sha256(content).hexdigest() == plan.placement("gatekeeper", "chart").sha256
    assert chart["spec"]["targetNamespace"] == setting(host_data, "gatekeeper_namespace")
    values = yaml.safe_load(chart["spec"]["valuesContent"])
    assert values["validatingWebhookFailurePolicy"] == setting(host_data, "gatekeeper_failure_policy")
    assert values["replicas"] == setting(host_data, "gatekeeper_replicas")
    assert values["image"]["pullPolicy"] == "IfNotPresent"
    assert values["image"]["release"] == "v" + plan.versions["gatekeeper"]


@applies.only(applies.gatekeeper)
def test_constraint_templates_are_the_tested_ones(server):
    """The ConstraintTemplates on the server are the tested ones, unchanged.

    Fix: run the deploy on the servers (a hand-edited template is drift)."""
    for template in POLICY_TEMPLATES:
        assert _manifest(server, f"edgewasm-policy-{template.stem}.yaml") == template.read_text()


@applies.only(applies.gatekeeper)
def test_constraints_follow_the_policy_settings(server, host_data):
    """The Constraints follow the policy_* settings.

    Fix: run the deploy on the servers; check the policy_* settings."""
    from tests.fixtures.k8s_schema import validate_manifest

    docs = {d["kind"]: d for d in validate_manifest(_manifest(server, "edgewasm-policy-constraints.yaml"))}
    assert docs["K8sAllowedRepos"]["spec"]["parameters"]["repos"] == host_data["policy_allowed_repos"]
    tags = host_data["policy_disallowed_tags"]
    assert ("K8sDisallowedTags" in docs) == bool(tags)
    for doc in docs.values():
        spec = doc["spec"]
        assert spec["enforcementAction"] == "deny"
        assert spec["match"].get("namespaces", []) == host_data["policy_namespaces"]
        assert spec["match"]["excludedNamespaces"] == host_data["gatekeeper_exempt_namespaces"]
        assert spec["match"]["kinds"] == [{"apiGroups": [""], "kinds": ["Pod"]}]
    if tags:
        assert docs["K8sDisallowedTags"]["spec"]["parameters"]["tags"] == tags


# ------------------------------------------------------------------- cluster smoke test

@pytest.fixture
def kubectl(server, cluster_host):
    return lambda args: cluster_host.run(f"{K3S_BIN} kubectl {args}")


def _pod(name: str, namespace: str, image: str) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
                       "spec": {"containers": [{"name": "smoke", "image": image}]}})


@applies.only(applies.gatekeeper, applies.first_server)
def test_untrusted_pod_is_denied_and_trusted_pod_admitted(kubectl, host_data):
    """An untrusted pod is denied by our constraint, a trusted one admitted.

    Fix: check the Gatekeeper pods in gatekeeper_namespace and the webhook's failurePolicy, then run the deploy."""
    namespace = (setting(host_data, "policy_namespaces") or ["default"])[0]
    gk_namespace = setting(host_data, "gatekeeper_namespace")
    deadline, problems = time.monotonic() + ENFORCED_TIMEOUT, ["not checked yet"]
    while problems and time.monotonic() < deadline:
        pods = kubectl(f"get pods -n {gk_namespace} -l {WEBHOOK_POD_SELECTOR} "
                       "--field-selector=status.phase=Running -o jsonpath='{.items[*].metadata.name}'").stdout.split()
        got = kubectl(f"get k8sallowedrepos {REPOS_CONSTRAINT} -o json")
        problems = enforcement_problems(json.loads(got.stdout), pods) if got.rc == 0 else [got.stderr.strip()]
        if problems:
            time.sleep(3)
    assert problems == [], f"constraint not enforced after {ENFORCED_TIMEOUT}s"

    def dry_run(name, image):
        result = kubectl(f"apply --dry-run=server -f - <<'EOF'\n{_pod(name, namespace, image)}\nEOF")
        return dry_run_verdict(result.rc, result.stdout, result.stderr, REPOS_CONSTRAINT)

    verdict, detail = dry_run("edgewasm-smoke-untrusted", UNTRUSTED_IMAGE)
    assert verdict == "denied", f"an untrusted image was not denied ({verdict}): {detail}"
    assert "untrusted repository" in detail
    repo = setting(host_data, "policy_allowed_repos")[0]
    verdict, detail = dry_run("edgewasm-smoke-trusted", trusted_image(repo))
    assert verdict == "admitted", f"a trusted image was not admitted ({verdict}): {detail}"
