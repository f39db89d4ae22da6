"""The admission smoke tests' decisions, apart from the cluster: is a Gatekeeper constraint
enforced by every webhook pod, and what did a server-side dry run say (Gatekeeper's, and
Pod Security's for a privileged pod)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping

# kubectl ARGS [with STDIN] -> (exit status, stdout, stderr): on a host through K3s's
# kubectl (edgewasm/compliance/checks), or a local kubectl against an API server (tests/tools).
Kubectl = Callable[[list[str], "str | None"], "tuple[int, str, str]"]

WEBHOOK = "validation.gatekeeper.sh"
WEBHOOK_POD_SELECTOR = "control-plane=controller-manager"


def enforcement_problems(constraint: Mapping, webhook_pods: Iterable[str]) -> list[str]:
    """Why ``constraint`` is not yet enforced by each of ``webhook_pods`` (empty: it is).

    Gatekeeper lists each pod in ``status.byPod`` once that pod has the constraint;
    ``enforced`` with an ``observedGeneration`` equal to the constraint's generation
    means the current version is in force there.
    """
    name = constraint.get("metadata", {}).get("name", "?")
    generation = constraint.get("metadata", {}).get("generation")
    # A constraint Gatekeeper has not reported on yet carries "status": null or
    # "byPod": null (seen on real K3s right after the helm install).
    by_pod = {entry.get("id"): entry for entry in (constraint.get("status") or {}).get("byPod") or []}
    pods = list(webhook_pods)
    if not pods:
        return [f"{name}: no Gatekeeper webhook pod is running"]
    problems = []
    for pod in pods:
        entry = by_pod.get(pod)
        if entry is None:
            problems.append(f"{name}: webhook pod {pod} has not reported it yet")
        elif not entry.get("enforced"):
            problems.append(f"{name}: not enforced on {pod}")
        elif entry.get("observedGeneration") != generation:
            problems.append(f"{name}: {pod} enforces generation {entry.get('observedGeneration')}, not {generation}")
    return problems


def dry_run_verdict(returncode: int, stdout: str, stderr: str, constraint: str) -> tuple[str, str]:
    """("denied" | "admitted" | "error", detail) for ``kubectl apply --dry-run=server``.

    Denied only when Gatekeeper's webhook refused it naming ``constraint``; any other
    failure (webhook unreachable, bad manifest, no namespace) is an error, not a denial.
    """
    if returncode == 0:
        if "(server dry run)" in stdout:
            return "admitted", stdout.strip()
        return "error", f"kubectl succeeded without a server dry run: {stdout.strip()}"
    if f'admission webhook "{WEBHOOK}" denied the request' in stderr:
        if f"[{constraint}]" in stderr:
            return "denied", stderr.strip()
        return "error", f"denied by another constraint, not {constraint}: {stderr.strip()}"
    return "error", stderr.strip()


def trusted_image(repo: str) -> str:
    """An image name inside ``repo`` (dry runs pull nothing, so it need not exist)."""
    return f"{repo}edgewasm-smoke:1" if repo.endswith("/") else f"{repo}/edgewasm-smoke:1"


UNTRUSTED_IMAGE = "untrusted.invalid/edgewasm-smoke:1"


def running_webhook_pods(kubectl: Kubectl, gatekeeper_namespace: str) -> list[str]:
    _, out, _ = kubectl(["get", "pods", "-n", gatekeeper_namespace, "-l", WEBHOOK_POD_SELECTOR,
                         "--field-selector=status.phase=Running", "-o", "jsonpath={.items[*].metadata.name}"], None)
    return out.split()


def wait_enforced(kubectl: Kubectl, constraint: str, webhook_pods: Callable[[], list[str]],
                  timeout: float, kind: str = "k8sallowedrepos") -> list[str]:
    """Poll until ``constraint`` is enforced by every webhook pod; the problems left when
    ``timeout`` runs out (empty: enforced)."""
    deadline, problems = time.monotonic() + timeout, ["not checked yet"]
    while True:
        code, out, err = kubectl(["get", kind, constraint, "-o", "json"], None)
        problems = enforcement_problems(json.loads(out), webhook_pods()) if code == 0 else [err.strip()]
        if not problems or time.monotonic() >= deadline:
            return problems
        time.sleep(2)


def pod_manifest(name: str, namespace: str, image: str) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
                       "spec": {"containers": [{"name": "smoke", "image": image}]}})


def smoke_verdicts(kubectl: Kubectl, namespace: str, trusted_repo: str, constraint: str) -> dict[str, tuple[str, str]]:
    """Server-side dry runs of an untrusted and a trusted pod in ``namespace``: each one's
    (verdict, detail), as dry_run_verdict gives them. Nothing is created."""
    verdicts = {}
    for which, image in (("untrusted", UNTRUSTED_IMAGE), ("trusted", trusted_image(trusted_repo))):
        code, out, err = kubectl(["apply", "--dry-run=server", "-f", "-"],
                                 pod_manifest(f"edgewasm-smoke-{which}", namespace, image))
        verdicts[which] = dry_run_verdict(code, out, err, constraint)
    return verdicts


def smoke_problems(verdicts: Mapping[str, tuple[str, str]]) -> list[str]:
    """What is wrong with the smoke test's verdicts (empty: the policy works): the
    untrusted pod must be denied by our constraint, the trusted one admitted. A webhook
    that fails open admits the untrusted pod, so it is caught here."""
    problems = []
    verdict, detail = verdicts["untrusted"]
    if verdict != "denied":
        problems.append(f"an untrusted image was not denied ({verdict}): {detail}")
    elif "untrusted repository" not in detail:
        problems.append(f"denied, but not for its repository: {detail}")
    verdict, detail = verdicts["trusted"]
    if verdict != "admitted":
        problems.append(f"a trusted image was not admitted ({verdict}): {detail}")
    return problems


# The node's containerd socket (K3s's containerRuntimeEndpoint): a pod that mounts it can
# run, pull and retag any image on the node, under any trusted name.
CONTAINERD_SOCKET = "/run/k3s/containerd/containerd.sock"
POD_SECURITY_DENIAL = "violates PodSecurity"


def privileged_pod_manifest(name: str, namespace: str, image: str) -> str:
    """A pod Pod Security's baseline level refuses twice over: a privileged container, and
    a hostPath volume of the node's containerd socket."""
    return json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
        "spec": {"containers": [{"name": "smoke", "image": image, "securityContext": {"privileged": True},
                                 "volumeMounts": [{"name": "containerd", "mountPath": CONTAINERD_SOCKET}]}],
                 "volumes": [{"name": "containerd", "hostPath": {"path": CONTAINERD_SOCKET, "type": "Socket"}}]}})


def pod_security_verdict(returncode: int, stdout: str, stderr: str) -> tuple[str, str]:
    """("denied" | "admitted" | "error", detail) for ``kubectl apply --dry-run=server`` of
    privileged_pod_manifest: denied only when Pod Security refused it; a refusal by anything
    else (a webhook, a missing namespace) is an error, not Pod Security at work."""
    if returncode == 0:
        return ("admitted", stdout.strip()) if "(server dry run)" in stdout else \
            ("error", f"kubectl succeeded without a server dry run: {stdout.strip()}")
    if POD_SECURITY_DENIAL in stderr:
        return "denied", stderr.strip()
    return "error", stderr.strip()
