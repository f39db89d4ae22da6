"""The Gatekeeper smoke test's verdicts, on kubectl output recorded from a real API server
with real Gatekeeper (tests/fixtures/record_gatekeeper.py; Gatekeeper runs there outside a
pod and reports itself as "no-pod")."""

import json
from pathlib import Path

from edgewasm.compliance.admission import (CONTAINERD_SOCKET, UNTRUSTED_IMAGE, dry_run_verdict, enforcement_problems,
                                           pod_security_verdict, privileged_pod_manifest, trusted_image)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kubectl" / "gatekeeper"
PODS = ["no-pod"]
NAME = "edgewasm-trusted-repos"


def load(name):
    return json.loads((FIXTURES / name).read_text())


def text(name):
    return (FIXTURES / name).read_text()


def test_enforced_on_every_webhook_pod():
    assert enforcement_problems(load("constraint-enforced.json"), PODS) == []


def test_not_enforced_while_a_webhook_pod_has_not_reported():
    assert enforcement_problems(load("constraint-webhook-not-reported.json"), PODS) == [
        f"{NAME}: webhook pod {PODS[0]} has not reported it yet"]


def test_a_constraint_without_status_yet_is_not_enforced():
    """Real Gatekeeper's first write of a new constraint may carry null status fields."""
    for status in (None, {"byPod": None}):
        constraint = {**load("constraint-enforced.json"), "status": status}
        assert enforcement_problems(constraint, PODS) == [f"{NAME}: webhook pod {PODS[0]} has not reported it yet"]


def test_not_enforced_while_a_pod_holds_an_older_generation():
    assert enforcement_problems(load("constraint-stale-generation.json"), PODS) == [
        f"{NAME}: {PODS[0]} enforces generation 1, not 2"]


def test_a_second_webhook_pod_must_report_too():
    assert enforcement_problems(load("constraint-enforced.json"), PODS + ["gatekeeper-controller-manager-other"]) != []
    assert enforcement_problems(load("constraint-enforced.json"), []) == [f"{NAME}: no Gatekeeper webhook pod is running"]


def test_denial_by_the_constraint():
    verdict, detail = dry_run_verdict(1, "", text("dry-run-denied.txt"), NAME)
    assert verdict == "denied" and "untrusted repository" in detail


def test_denial_by_another_constraint_is_not_ours():
    assert dry_run_verdict(1, "", text("dry-run-denied.txt"), "edgewasm-disallowed-tags")[0] == "error"


def test_admitted():
    assert dry_run_verdict(0, text("dry-run-admitted.txt"), "", NAME)[0] == "admitted"


def test_webhook_unavailable_is_an_error_not_a_denial():
    verdict, detail = dry_run_verdict(1, "", text("dry-run-webhook-unavailable.txt"), NAME)
    assert verdict == "error" and "failed calling webhook" in detail


def test_fail_open_lets_the_untrusted_pod_through_and_is_seen_as_admitted():
    """failurePolicy Ignore with a dead webhook: kubectl succeeds; the check wants 'denied'."""
    stdout = text("dry-run-admitted.txt").replace("trusted", "untrusted")
    assert dry_run_verdict(0, stdout, "", NAME)[0] == "admitted"


def test_smoke_images():
    assert trusted_image("docker.io/edgewasm/") == "docker.io/edgewasm/edgewasm-smoke:1"
    assert trusted_image("registry.site-a.example") == "registry.site-a.example/edgewasm-smoke:1"
    assert not UNTRUSTED_IMAGE.startswith(("docker.io/edgewasm", "registry."))


def test_the_privileged_pod_mounts_the_containerd_socket():
    pod = json.loads(privileged_pod_manifest("p", "default", "registry.example/app:1"))
    (container,) = pod["spec"]["containers"]
    assert container["securityContext"] == {"privileged": True}
    assert pod["spec"]["volumes"] == [{"name": "containerd", "hostPath": {"path": CONTAINERD_SOCKET, "type": "Socket"}}]
    assert CONTAINERD_SOCKET == "/run/k3s/containerd/containerd.sock"


def test_pod_security_verdicts():
    # The API server's wording (k8s.io/pod-security-admission, admission.go).
    refused = ('Error from server (Forbidden): error when creating "STDIN": pods "p" is forbidden: violates PodSecurity '
               '"baseline:latest": privileged (container "smoke" must not set securityContext.privileged=true), '
               'hostPath volumes (volume "containerd")')
    assert pod_security_verdict(1, "", refused)[0] == "denied"
    assert pod_security_verdict(0, "pod/p created (server dry run)\n", "")[0] == "admitted"
    assert pod_security_verdict(0, "pod/p created\n", "")[0] == "error"
    webhook = 'admission webhook "validation.gatekeeper.sh" denied the request: [edgewasm-trusted-repos] ...'
    assert pod_security_verdict(1, "", webhook) == ("error", webhook)
