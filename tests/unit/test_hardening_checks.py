"""The hardening checks (edgewasm/compliance/checks/test_hardening.py) run as edgewasm-check
runs them, on a hardened first server and on an agent that lost its hardening, each a tree
of files on this machine answering for SSH (tests/unit/test_compliance_secrets.py's plugin):
each check reports under component "hardening", passes where the deploy's files are, and
fails naming what is wrong where they are not. Once as root, once as the nightly check's
user (ssh_user = check_access_user), who reads through the production read helper."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from edgewasm import check_access, settings, templates
from edgewasm.compliance import runner
from edgewasm.config import InventoryHost
from edgewasm.k3s import (AUDIT_LOG, AUDIT_LOG_DIR, AUDIT_POLICY, K3S_BIN, PROTECTED_KERNEL_DEFAULTS, PSA_CONFIG,
                          config_values, kernel_sysctls, pod_security_values)
from tests.unit.test_compliance_secrets import FAKE_ROOT, HERE, K3S_CONFIG, ROOT, TREE_HELPER, in_tree

# K3s's answers on the fake server: a version, an encryption status, and Pod Security's
# refusal of the privileged pod's dry run (the API server's wording).
FAKE_K3S = """#!/bin/sh
case "$1" in
  --version) echo "k3s version v1.35.1+k3s1 (c5b15879)";;
  secrets-encrypt) printf 'Encryption Status: %s\\nCurrent Rotation Stage: start\\n' "{status}";;
  kubectl) cat >/dev/null
    echo 'Error from server (Forbidden): pods "edgewasm-smoke-privileged" is forbidden: violates PodSecurity' >&2
    echo '"baseline:latest": privileged (container "smoke" must not set securityContext.privileged=true)' >&2
    exit 1;;
esac
"""
EVENT = '{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","stage":"ResponseComplete"}\n'


def _write(root, path: str, text: str, mode: int = 0o600) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    target.chmod(mode)


@pytest.fixture(scope="module", params=["root", "edgewasm-check"])
def checked(tmp_path_factory, request):
    if os.geteuid() != 0:
        pytest.skip("the checks want the hosts' files root's: run as root (./run test does)")
    tree = tmp_path_factory.mktemp("hosts")
    url = "https://10.0.0.1:6443"
    server_data = settings.merged({"ssh_hostname": "10.0.0.1", "policy_allowed_repos": ["registry.example/"]})
    agent_data = settings.merged({})
    server = tree / "10.0.0.1"
    _write(server, K3S_CONFIG, templates.render("k3s/config.yaml.j2",
                                                **config_values("srv-1", server_data, "server", True, url)))
    _write(server, PSA_CONFIG, templates.render("k3s/psa.yaml.j2", **pod_security_values(server_data)))
    _write(server, AUDIT_POLICY, templates.render("k3s/audit-policy.yaml.j2"))
    _write(server, AUDIT_LOG, EVENT)
    (server / AUDIT_LOG_DIR.lstrip("/")).chmod(0o700)
    _write(server, K3S_BIN, FAKE_K3S.format(status="Enabled"), 0o755)
    sysctls = kernel_sysctls(server_data)
    _write(server, "/etc/sysctl.d/90-k3s.conf", templates.render("preflight/sysctl-k3s.conf.j2", sysctls=sysctls),
           0o644)
    for key, value in PROTECTED_KERNEL_DEFAULTS.items():
        _write(server, "/proc/sys/" + key.replace(".", "/"), f"{value}\n", 0o644)
    # agent-1: the kernel changed after preflight; agent-2: a hand edit took the key out.
    for address, name, drop in (("10.0.0.2", "agent-1", ""),
                                ("10.0.0.3", "agent-2", "protect-kernel-defaults: true\n")):
        agent = tree / address
        config = templates.render("k3s/config.yaml.j2", **config_values(name, agent_data, "agent", False, url))
        _write(agent, K3S_CONFIG, config.replace(drop, "") if drop else config)
        _write(agent, K3S_BIN, FAKE_K3S.format(status="Disabled"), 0o755)
        _write(agent, "/etc/sysctl.d/90-k3s.conf", "", 0o644)
        for key, value in PROTECTED_KERNEL_DEFAULTS.items():
            _write(agent, "/proc/sys/" + key.replace(".", "/"), "0\n" if key == "kernel.panic" else f"{value}\n",
                   0o644)

    known = {"ssh_known_hosts_file": str(tree / "known_hosts")}
    if request.param != "root":
        known["ssh_user"] = request.param
        for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
            host_root = tree / address
            (host_root / TREE_HELPER).write_text(in_tree(check_access.helper_script(), str(host_root)))
    hosts = [InventoryHost("srv-1", ["k3s_servers"], {**server_data, **known}),
             InventoryHost("agent-1", ["k3s_agents"], {**agent_data, "ssh_hostname": "10.0.0.2", **known}),
             InventoryHost("agent-2", ["k3s_agents"], {**agent_data, "ssh_hostname": "10.0.0.3", **known})]
    work = tmp_path_factory.mktemp("work")
    runner.write_inventory(hosts, work / "inventory.json")
    env = {**os.environ, FAKE_ROOT: str(tree), "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)])}
    out = {}
    for h in hosts:
        results = work / f"results-{h.name}.json"
        argv = runner.pytest_argv(h.name, results, work / "inventory.json", [f"{runner.CHECKS}/test_hardening.py"])
        done = subprocess.run([sys.executable, "-m", "pytest", *argv, "-p", "test_compliance_secrets"], env=env,
                              cwd=work, capture_output=True, text=True, timeout=300)
        assert results.is_file(), done.stdout[-3000:] + done.stderr[-3000:]
        out[h.name] = {c["check"]: c for c in json.loads(results.read_text())}
    return request.param, out


def test_a_hardened_server_passes_every_hardening_check(checked):
    user, checked = checked
    server = checked["srv-1"]
    assert {c["component"] for c in server.values()} == {"hardening"}
    assert {name: c["outcome"] for name, c in server.items()} == {
        # The encryption status needs root (k3s secrets-encrypt status): not asked as the check user.
        "test_secrets_are_encrypted_at_rest": "passed" if user == "root" else "skipped",
        "test_pod_security_admission_is_configured": "passed",
        "test_a_privileged_pod_is_refused_by_pod_security": "passed",
        "test_api_server_audit_log_is_written": "passed",
        "test_kernel_defaults_are_protected": "passed",
    }
    for check in server.values():
        assert check["summary"].startswith("CIS ") and check["fix"], check["check"]
    if user != "root":
        assert "needs root" in server["test_secrets_are_encrypted_at_rest"]["message"]


def test_an_agent_gets_the_kubelets_check_only_and_it_names_what_was_lost(checked):
    _, checked = checked
    for name in ("agent-1", "agent-2"):
        assert list(checked[name]) == ["test_kernel_defaults_are_protected"], "the API server's checks are for servers"
    changed = checked["agent-1"]["test_kernel_defaults_are_protected"]
    assert changed["outcome"] == "failed"
    assert changed["message"].endswith("kernel values the kubelet refuses to start with: kernel.panic = 0 (the "
                                       "kubelet needs 10)"), changed["message"]
    lost = checked["agent-2"]["test_kernel_defaults_are_protected"]
    assert lost["outcome"] == "failed"
    assert lost["message"].endswith("the K3s config does not set protect-kernel-defaults: true"), lost["message"]
