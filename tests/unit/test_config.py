"""Inventory validation: bad input stops the run before pyinfra connects to any host."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edgewasm.config import check_host_data

ROOT = Path(__file__).resolve().parents[2]


def run_pyinfra(inventory: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pyinfra", "-y", str(inventory), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )


def write_inventory(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "fleet.py"
    path.write_text("from edgewasm.config import check_inventory\n" + textwrap.dedent(body)
                    + "\ncheck_inventory(__file__)\n")
    return path


@pytest.mark.parametrize("key,value,words", [
    ("edgewasm_arch", "riscv64", ["amd64, arm64, arm"]),
    ("preflight_min_kernel", 5.4, ["version string"]),
    ("preflight_min_disk_gb", "lots", ["number greater than 0"]),
    ("preflight_packages", "iptables", ["list of non-empty strings"]),
    ("preflight_sysctls", {"net ipv4": 1}, ["malformed sysctl key"]),
    ("preflight_swap", "off", ["'keep', 'disable'"]),
    ("preflight_supported_os", {"debian": "twelve"}, ["bad entry"]),
    ("preflight_reboot_timeout", -1, ["whole number"]),
    ("preflight_swapp", "keep", ["unknown setting", "spelling"]),
    ("edgewasm_crun", "yes", ["True or False"]),
    ("edgewasm_crun_binary", "crun", ["absolute path"]),
    ("edgewasm_crun_min_version", "new", ["version string"]),
    ("edgewasm_containerd_runtimes", {"crun": {"runtime_type": "io.containerd.runc.v2", "binary": "/usr/bin/crun"}},
     ["redefines 'crun'", "K3s writes"]),
    ("edgewasm_containerd_runtimes", {"gpu": {"runtime_type": "io.containerd.runc.v2"}}, ["absolute binary path"]),
])
def test_bad_value_names_host_key_value_and_fix(key, value, words):
    problems = check_host_data("edge-7", {key: value})
    assert len(problems) == 1
    assert problems[0].startswith("edge-7: ")
    assert repr(value) in problems[0] or "unknown setting" in problems[0]
    assert "fix:" in problems[0]
    for word in words:
        assert word in problems[0]


def test_foreign_keys_are_left_alone():
    assert check_host_data("h", {"ssh_hostname": "x", "wasm_whatever": 1, "_sudo": True}) == []


def test_example_fleet_is_valid():
    result = run_pyinfra(ROOT / "inventories/edge.py", "debug-inventory")
    assert result.returncode == 0, result.stderr
    assert "edge-pi-02" in result.stdout + result.stderr


# TEST-NET-1 addresses: nothing answers there, and the run must not even try.
BROKEN = {
    "no_hosts": ("k3s_servers = []\n", ["has no hosts", "fix:"]),
    "unsupported_arch": (
        "k3s_servers = [('srv', {'ssh_hostname': '192.0.2.1'})]\n"
        "k3s_agents = [('rv', {'ssh_hostname': '192.0.2.2', 'edgewasm_arch': 'riscv64'})]\n",
        ["rv: edgewasm_arch = 'riscv64'", "fix:"],
    ),
    "malformed_value": (
        "k3s_servers = [('srv', {'ssh_hostname': '192.0.2.1', 'preflight_min_disk_gb': '4GB'})]\n",
        ["srv: preflight_min_disk_gb = '4GB'", "number greater than 0", "fix:"],
    ),
    "agents_without_server": (
        "k3s_agents = [('a1', {'ssh_hostname': '192.0.2.2'})]\n",
        ["no host is in k3s_servers"],
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_inventory_fails_before_connecting(tmp_path, case):
    body, words = BROKEN[case]
    result = run_pyinfra(write_inventory(tmp_path, body), "deploys/full_stack.py")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Connecting to hosts" not in output
    assert "no host was contacted" in output or "has no hosts" in output
    for word in words:
        assert word in output, output


@pytest.mark.parametrize("key,value,words", [
    ("policy_allowed_repos", [], ["non-empty list"]),
    ("policy_allowed_repos", ["https://registry.example"], ["not image prefixes"]),
    ("policy_allowed_repos", ["docker.io/*"], ["not image prefixes"]),
    ("policy_disallowed_tags", ["la test"], ["image tags"]),
    ("policy_namespaces", ["Apps"], ["namespace names"]),
    ("gatekeeper_failure_policy", "Closed", ["'Fail', 'Ignore'"]),
    ("gatekeeper_memory_limit", "1 gig", ["quantity"]),
    ("gatekeeper_replicas", 0, ["whole number"]),
    ("gatekeeper_enabeld", True, ["unknown setting"]),
])
def test_bad_policy_setting_names_host_key_value_and_fix(key, value, words):
    (problem,) = check_host_data("edge-1", {key: value})
    assert problem.startswith("edge-1: ") and key in problem and "fix:" in problem
    for word in words:
        assert word in problem
