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


# ------------------------------------------------------------------------------ hardening

def _config(name="s1", data=None, role="server", first=True):
    import yaml

    return yaml.safe_load(render(**config_values(name, data or {}, role, first, "https://10.0.0.5:6443")))


def test_hardening_is_on_by_default_servers_get_the_api_servers_and_every_node_the_kubelets():
    server, agent = _config(), _config("a1", role="agent", first=False)
    assert server["secrets-encryption"] is True
    assert server["kube-apiserver-arg"] == [
        "admission-control-config-file=/etc/rancher/k3s/psa.yaml",
        "audit-policy-file=/etc/rancher/k3s/audit-policy.yaml",
        "audit-log-path=/var/lib/rancher/k3s/server/logs/audit.log",
        "audit-log-maxage=30", "audit-log-maxbackup=10", "audit-log-maxsize=100"]
    assert server["protect-kernel-defaults"] is True and agent["protect-kernel-defaults"] is True
    # An agent given a server's key refuses to start (docs/k3s.md): none reaches it.
    assert not {"secrets-encryption", "kube-apiserver-arg", "kube-controller-manager-arg"} & set(agent)


def test_each_hardening_setting_turns_its_own_part_off():
    off = _config(data={"k3s_secrets_encryption": False, "k3s_audit_log": False, "k3s_protect_kernel_defaults": False,
                        "k3s_pod_security": "privileged"})
    assert not {"secrets-encryption", "protect-kernel-defaults"} & set(off)
    # 'privileged' enforces nothing, but audit and warn still apply: the configuration stays.
    assert off["kube-apiserver-arg"] == ["admission-control-config-file=/etc/rancher/k3s/psa.yaml"]


def test_the_audit_logs_rotation_and_the_operators_args_follow_the_settings():
    data = {"k3s_audit_log_maxage": 7, "k3s_audit_log_maxbackup": 3, "k3s_audit_log_maxsize": 20,
            "k3s_kube_apiserver_args": ["request-timeout=300s", "enable-admission-plugins+=EventRateLimit"],
            "k3s_kube_controller_manager_args": ["terminated-pod-gc-threshold=10"]}
    server = _config(data=data)
    assert server["kube-apiserver-arg"][3:] == ["audit-log-maxage=7", "audit-log-maxbackup=3", "audit-log-maxsize=20",
                                                "request-timeout=300s", "enable-admission-plugins+=EventRateLimit"]
    assert server["kube-controller-manager-arg"] == ["terminated-pod-gc-threshold=10"]
    agent = _config("a1", data, "agent", False)
    assert "kube-apiserver-arg" not in agent and "kube-controller-manager-arg" not in agent


def test_pod_security_configuration_levels_and_exemptions():
    import yaml

    from edgewasm.k3s import pod_security_values

    def psa(data):
        (plugin,) = yaml.safe_load(templates.render("k3s/psa.yaml.j2", **pod_security_values(data)))["plugins"]
        assert plugin["name"] == "PodSecurity"
        config = plugin["configuration"]
        assert (config["apiVersion"], config["kind"]) == ("pod-security.admission.config.k8s.io/v1",
                                                          "PodSecurityConfiguration")
        return config

    default = psa({})
    assert default["defaults"] == {"enforce": "baseline", "enforce-version": "latest", "audit": "restricted",
                                   "audit-version": "latest", "warn": "restricted", "warn-version": "latest"}
    assert default["exemptions"] == {"usernames": [], "runtimeClasses": [],
                                     "namespaces": ["kube-system", "gatekeeper-system"]}
    custom = psa({"k3s_pod_security": "restricted", "k3s_pod_security_exempt_namespaces": ["kube-system", "gk"],
                  "gatekeeper_namespace": "gk"})
    assert custom["defaults"]["enforce"] == "restricted" and custom["exemptions"]["namespaces"] == ["kube-system", "gk"]
    # Gatekeeper off: its namespace is nobody's, and is not exempt.
    assert psa({"gatekeeper_enabled": False})["exemptions"]["namespaces"] == ["kube-system"]


def test_the_audit_policy_never_records_a_body():
    import yaml

    policy = yaml.safe_load(templates.render("k3s/audit-policy.yaml.j2"))
    assert (policy["apiVersion"], policy["kind"]) == ("audit.k8s.io/v1", "Policy")
    levels = [rule["level"] for rule in policy["rules"]]
    assert set(levels) <= {"None", "Metadata"}, "Request and RequestResponse would record Secrets' data"
    # Everything the earlier rules leave is recorded: the last rule matches any request.
    assert policy["rules"][-1] == {"level": "Metadata"}
    for rule in policy["rules"][:-1]:
        assert rule["level"] == "None"
        # Only probes, and only reads and renewals of leases by their own holders.
        assert rule.get("nonResourceURLs") or (
            rule["resources"] == [{"group": "coordination.k8s.io", "resources": ["leases"]}]
            and set(rule["verbs"]) <= {"get", "update"} and (rule.get("users") or rule.get("userGroups"))), rule


def test_preflight_sets_the_kernel_values_the_kubelet_protects_unless_turned_off():
    from edgewasm.k3s import PROTECTED_KERNEL_DEFAULTS, kernel_sysctls

    assert PROTECTED_KERNEL_DEFAULTS == {"vm.overcommit_memory": 1, "vm.panic_on_oom": 0, "kernel.panic": 10,
                                         "kernel.panic_on_oops": 1, "kernel.keys.root_maxkeys": 1000000,
                                         "kernel.keys.root_maxbytes": 25000000}
    wanted = kernel_sysctls({})
    assert wanted == {"net.ipv4.ip_forward": 1, "net.bridge.bridge-nf-call-iptables": 1,
                      "net.bridge.bridge-nf-call-ip6tables": 1, **PROTECTED_KERNEL_DEFAULTS}
    assert kernel_sysctls({"k3s_protect_kernel_defaults": False, "preflight_sysctls": {"vm.swappiness": 10}}) == \
        {"vm.swappiness": 10}
    text = templates.render("preflight/sysctl-k3s.conf.j2", sysctls=wanted)
    assert "vm.overcommit_memory = 1" in text.splitlines() and "kernel.panic = 10" in text.splitlines()


def test_a_preflight_sysctl_the_kubelet_would_refuse_is_refused_naming_host_key_value_and_fix():
    from edgewasm.k3s import kernel_defaults_problems

    data = {"preflight_sysctls": {"vm.overcommit_memory": 0, "kernel.panic": "10", "vm.swappiness": 1}}
    (problem,) = kernel_defaults_problems("edge-1", data)
    assert problem.startswith("edge-1: preflight_sysctls sets vm.overcommit_memory = 0,")
    assert "refuses to start unless it is 1" in problem and "fix: remove vm.overcommit_memory" in problem
    assert kernel_defaults_problems("edge-1", {**data, "k3s_protect_kernel_defaults": False}) == []


def test_the_hardening_files_are_inputs_whose_change_restarts_a_server_only():
    from deploys.k3s import _inputs

    server, agent = _inputs("k3s", ()), _inputs("k3s-agent", ())
    assert {"/etc/rancher/k3s/psa.yaml", "/etc/rancher/k3s/audit-policy.yaml"} <= set(server)
    assert not {"/etc/rancher/k3s/psa.yaml", "/etc/rancher/k3s/audit-policy.yaml"} & set(agent)
