import os
import stat

import pytest

from edgewasm import templates
from edgewasm.k3s import cluster_token, config_values, join_url, rewrite_kubeconfig, unit_name


def render(**values):
    """templates/k3s/config.yaml.j2 as deploys/k3s.py writes it (operations/host_files.py)."""
    return templates.render("k3s/config.yaml.j2", **values)


def test_units_and_join_url():
    assert unit_name("server") == "k3s" and unit_name("agent") == "k3s-agent"
    assert join_url("srv", {"ssh_hostname": "10.0.0.5"}) == "https://10.0.0.5:6443"
    assert join_url("srv", {"ssh_hostname": "x", "k3s_node_ip": "10.0.0.6"}) == "https://10.0.0.6:6443"
    assert join_url("srv", {"k3s_api_address": "k3s.example"}) == "https://k3s.example:6443"


def test_lone_server_config():
    text = render(**config_values("srv", {"k3s_tls_san": ["k3s.example"], "k3s_disable": ["traefik"]},
                                  "server", True, "https://10.0.0.5:6443"))
    assert "server:" not in text and "cluster-init" not in text
    assert 'token-file: "/etc/rancher/k3s/cluster-token"' in text
    assert 'tls-san:\n  - "k3s.example"' in text and 'disable:\n  - "traefik"' in text
    assert 'write-kubeconfig-mode: "0600"' in text


def test_ha_first_server_inits_and_others_join():
    data = {"k3s_ha": True}
    first = render(**config_values("s1", data, "server", True, "https://10.0.0.5:6443"))
    second = render(**config_values("s2", data, "server", False, "https://10.0.0.5:6443"))
    assert "cluster-init: true" in first and "server:" not in first
    assert "cluster-init" not in second and 'server: "https://10.0.0.5:6443"' in second


def test_agent_config_with_labels_taints_runtime_kubelet_args():
    data = {"k3s_node_labels": {"edge.example/site": "a"}, "k3s_node_taints": ["dedicated=edge:NoSchedule"],
            "k3s_default_runtime": "crun", "k3s_kubelet_args": ["max-pods=50"], "k3s_node_ip": "10.0.0.9"}
    text = render(**config_values("a1", data, "agent", False, "https://10.0.0.5:6443"))
    assert 'server: "https://10.0.0.5:6443"' in text and 'node-ip: "10.0.0.9"' in text
    assert 'node-label:\n  - "edge.example/site=a"' in text
    assert 'node-taint:\n  - "dedicated=edge:NoSchedule"' in text
    assert 'default-runtime: "crun"' in text and 'kubelet-arg:\n  - "max-pods=50"' in text
    assert "tls-san" not in text and "write-kubeconfig-mode" not in text
    import yaml

    assert yaml.safe_load(text)["node-label"] == ["edge.example/site=a"]


def test_token_from_data_then_file_then_server_then_new(tmp_path):
    assert cluster_token({"k3s_token": "abc"}) == b"abc"
    path = tmp_path / "site.token"
    data = {"k3s_token_file": str(path)}
    assert cluster_token(data, lambda: "K10aa::server:fromserver") == b"K10aa::server:fromserver"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert cluster_token(data, lambda: pytest.fail("the file answers now")) == b"K10aa::server:fromserver"
    fresh = tmp_path / "fresh.token"
    token = cluster_token({"k3s_token_file": str(fresh)}, lambda: "")
    assert len(token) == 48 and fresh.read_bytes().strip() == token


def test_a_read_only_token_lookup_writes_and_generates_nothing(tmp_path):
    data = {"k3s_token_file": str(tmp_path / "site.token")}
    assert cluster_token(data, lambda: "K10aa::server:s", read_only=True) == b"K10aa::server:s"
    assert cluster_token(data, lambda: "", read_only=True) == b""
    assert not list(tmp_path.iterdir()), "a drift check leaves no token file behind"
    (tmp_path / "site.token").write_text("fromfile\n")
    assert cluster_token(data, lambda: pytest.fail("the file answers"), read_only=True) == b"fromfile"


def test_kubeconfig_names_the_server():
    assert "server: https://10.0.0.5:6443" in rewrite_kubeconfig("server: https://127.0.0.1:6443\n",
                                                                "https://10.0.0.5:6443")


def test_agents_join_with_the_agent_token_and_servers_accept_it():
    server = render(**config_values("s1", {}, "server", True, "https://10.0.0.5:6443"))
    agent = render(**config_values("a1", {}, "agent", False, "https://10.0.0.5:6443"))
    assert 'token-file: "/etc/rancher/k3s/cluster-token"' in server
    assert 'agent-token-file: "/etc/rancher/k3s/agent-token"' in server
    assert 'token-file: "/etc/rancher/k3s/agent-token"' in agent and "cluster-token" not in agent
    import yaml

    assert set(yaml.safe_load(agent)) >= {"server", "token-file", "node-name"}


def test_agent_token_is_kept_apart_from_the_server_token(tmp_path):
    data = {"k3s_cluster_name": "site", "k3s_token_file": str(tmp_path / "{k3s_cluster_name}.token"),
            "k3s_agent_token_file": str(tmp_path / "{k3s_cluster_name}.agent-token")}
    server = cluster_token(data, lambda: "")
    agent = cluster_token(data, lambda: "", kind="agent")
    assert server != agent and len(agent) == 48
    assert (tmp_path / "site.agent-token").read_bytes().strip() == agent
    assert stat.S_IMODE(os.stat(tmp_path / "site.agent-token").st_mode) == 0o600
    assert cluster_token({**data, "k3s_agent_token": "from-data"}, kind="agent") == b"from-data"


def test_node_settings_on_every_role_cluster_settings_on_servers_only():
    """snapshotter and pause-image are per node; flannel-backend and helm-job-image are
    the cluster's, which K3s takes from servers (an agent given them would refuse to start)."""
    import yaml

    data = {"k3s_snapshotter": "native", "k3s_pause_image": "registry.example/pause:3.6", "k3s_flannel_iface": "eth1",
            "k3s_flannel_backend": "host-gw", "k3s_helm_job_image": "registry.example/klipper-helm:v1"}
    server = yaml.safe_load(render(**config_values("s1", data, "server", True, "https://10.0.0.5:6443")))
    agent = yaml.safe_load(render(**config_values("a1", data, "agent", False, "https://10.0.0.5:6443")))
    node = {"snapshotter": "native", "pause-image": "registry.example/pause:3.6", "flannel-iface": "eth1"}
    assert {k: server[k] for k in node} == node == {k: agent[k] for k in node}
    assert server["flannel-backend"] == "host-gw" and server["helm-job-image"] == "registry.example/klipper-helm:v1"
    assert "flannel-backend" not in agent and "helm-job-image" not in agent
