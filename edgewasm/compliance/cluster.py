"""Cluster-level verdicts from `kubectl ... -o json` output (pure, unit-tested)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# On the test bed's K3s stand-in the kubelet reports its own upstream version; the node
# carries the K3s release the stand-in stands in for here, and that is compared.
STANDS_IN_FOR = "fixture.edgewasm.io/stands-in-for-k3s"


def k3s_release(node: Mapping) -> str | None:
    """The K3s release a node runs: its kubelet's version (K3s reports v1.36.4+k3s1), or on
    the test bed's stand-in the release it says it stands in for."""
    stands_in = node.get("metadata", {}).get("annotations", {}).get(STANDS_IN_FOR)
    return stands_in or node.get("status", {}).get("nodeInfo", {}).get("kubeletVersion")


def node_problems(nodes: Mapping, expected: Iterable[str], version: str | None = None) -> list[str]:
    """What is wrong with the cluster's nodes: missing, not Ready, or on another K3s version.

    ``nodes`` is ``kubectl get nodes -o json``; ``expected`` the inventory's node names.
    """
    by_name = {item["metadata"]["name"]: item for item in nodes.get("items", [])}
    problems = [f"node {name} has not joined the cluster" for name in expected if name not in by_name]
    for name, node in sorted(by_name.items()):
        ready = next((c for c in node.get("status", {}).get("conditions", []) if c.get("type") == "Ready"), None)
        if not ready or ready.get("status") != "True":
            why = f"{ready.get('reason')}: {ready.get('message')}" if ready else "no Ready condition"
            problems.append(f"node {name} is not Ready ({why})")
        release = k3s_release(node)
        if version and release != version:
            kubelet = node.get("status", {}).get("nodeInfo", {}).get("kubeletVersion")
            what = release if release == kubelet else f"{release} (a stand-in, kubelet {kubelet})"
            problems.append(f"node {name} runs {what}, pinned {version}")
    return problems
