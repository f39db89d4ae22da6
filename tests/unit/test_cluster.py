import json
from pathlib import Path

from edgewasm.compliance.cluster import node_problems

KUBECTL = Path(__file__).resolve().parents[1] / "fixtures" / "kubectl"


def nodes(name):
    return json.loads((KUBECTL / name).read_text())


def test_all_nodes_ready_on_the_pinned_version():
    assert node_problems(nodes("nodes-all-ready.json"), ["edge-srv-01", "edge-x86-01", "edge-pi-01"],
                         "v1.32.2+k3s1") == []


def test_missing_lost_and_stale_nodes_are_named():
    problems = node_problems(nodes("nodes-one-lost.json"), ["edge-srv-01", "edge-x86-01", "edge-pi-01"],
                             "v1.32.2+k3s1")
    assert "node edge-x86-01 has not joined the cluster" in problems
    assert "node edge-pi-01 is not Ready (NodeStatusUnknown: Kubelet stopped posting node status.)" in problems
    assert "node edge-pi-01 runs v1.31.6+k3s1, pinned v1.32.2+k3s1" in problems
    assert len(problems) == 3
