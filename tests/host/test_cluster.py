"""Cluster-level checks, run on the first server through K3s's kubectl."""

import json

import pytest

from edgewasm.bundle import wanted_versions
from edgewasm.cluster import node_problems
from edgewasm.k3s import K3S_BIN


@pytest.fixture
def kubectl(host, inventory_host, first_server):
    if first_server is None or inventory_host.name != first_server.name:
        pytest.skip("cluster checks run on the first server only")
    if "FIXTURE" in host.check_output(f"{K3S_BIN} --version"):
        pytest.skip("test bed: the K3s stand-in has no Kubernetes API; the verdicts are unit-tested "
                    "against kubectl output (tests/unit/test_cluster.py)")
    return lambda args: json.loads(host.check_output(f"{K3S_BIN} kubectl {args} -o json"))


def test_every_inventory_node_joined_and_is_ready(kubectl, fleet, host_data):
    expected = [h.name for h in fleet if {"k3s_servers", "k3s_agents"} & set(h.groups)]
    assert node_problems(kubectl("get nodes"), expected, wanted_versions(host_data)["k3s"]) == []
