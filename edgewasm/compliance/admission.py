"""The Gatekeeper smoke test's decisions, apart from the cluster: is a constraint
enforced by every webhook pod, and what did a server-side dry run say."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

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
    by_pod = {entry.get("id"): entry for entry in constraint.get("status", {}).get("byPod", [])}
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
