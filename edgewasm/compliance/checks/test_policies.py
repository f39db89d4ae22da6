"""Gatekeeper and the image policies: the manifests on every server, and on the first
server a smoke test that an untrusted pod is denied and a trusted one admitted."""

import base64
import hashlib
import shlex

import pytest
import yaml

from edgewasm.compliance import applies
from edgewasm.compliance.admission import running_webhook_pods, smoke_problems, smoke_verdicts, wait_enforced
from edgewasm.compliance.schema import validate_manifest
from edgewasm.policy import POLICY_TEMPLATES, REPOS_CONSTRAINT
from edgewasm.settings import value as setting
from edgewasm.wasm import MANIFESTS_DIR

ENFORCED_TIMEOUT = 300


@pytest.fixture
def server(host, access):
    """A server of a cluster with Gatekeeper on (checks using it are marked so), and how
    to read its root-only files."""
    return host, access


def _manifest(server, name):
    host, access = server
    file = access.file(host, f"{MANIFESTS_DIR}/{name}")
    assert file.exists and file.mode == 0o600 and file.user == "root", f"{file.path} missing or not 0600 root"
    return file.content_string


@applies.only(applies.gatekeeper)
def test_helmchart_carries_the_pinned_chart_and_edge_values(server, host_data, plan):
    """The Gatekeeper HelmChart carries the pinned chart and the edge values.

    Fix: run the deploy on the servers; check the gatekeeper_* settings."""

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
def kubectl(access, cluster_host):
    def run(args, stdin=None):
        command = f"{access.kubectl} {shlex.join(args)}"
        if stdin is not None:
            command += f" <<'EOF'\n{stdin}\nEOF"
        result = cluster_host.run(command)
        return result.rc, result.stdout, result.stderr
    return run


@applies.only(applies.gatekeeper, applies.first_server)
def test_untrusted_pod_is_denied_and_trusted_pod_admitted(kubectl, host_data):
    """An untrusted pod is denied by our constraint, a trusted one admitted.

    Fix: check the Gatekeeper pods in gatekeeper_namespace and the webhook's failurePolicy, then run the deploy."""
    namespace = (setting(host_data, "policy_namespaces") or ["default"])[0]
    gk_namespace = setting(host_data, "gatekeeper_namespace")
    problems = wait_enforced(kubectl, REPOS_CONSTRAINT, lambda: running_webhook_pods(kubectl, gk_namespace),
                             ENFORCED_TIMEOUT)
    assert problems == [], f"constraint not enforced after {ENFORCED_TIMEOUT}s: {problems}"
    repo = setting(host_data, "policy_allowed_repos")[0]
    assert smoke_problems(smoke_verdicts(kubectl, namespace, repo, REPOS_CONSTRAINT)) == []
