"""Cluster-level verdicts from `kubectl ... -o json` output (pure, unit-tested)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def k3s_release(node: Mapping) -> str | None:
    """The K3s release a node runs: its kubelet's version (K3s reports v1.36.4+k3s1)."""
    return node.get("status", {}).get("nodeInfo", {}).get("kubeletVersion")


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
            problems.append(f"node {name} runs {release}, pinned {version}")
    return problems
