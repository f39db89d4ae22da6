"""Inventory validation: bad input stops the run before pyinfra connects to any host."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edgewasm import settings
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
    assert check_host_data("h", {"ssh_hostname": "x", "wasm_whatever": 1, "_sudo": False, "ssh_user": "root"}) == []


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
    ("policy_allowed_repos", "registry.example", ["list of registries"]),
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


@pytest.mark.parametrize("typo,meant", [("edgwasm_bundle", "edgewasm_bundle"),
                                        ("gatekeper_enabled", "gatekeeper_enabled"),
                                        ("k3s_readytimeout", "k3s_ready_timeout")])
def test_typos_name_the_closest_setting(typo, meant):
    (problem,) = check_host_data("edge-1", {typo: True})
    assert f"unknown setting {typo!r}" in problem and f"did you mean {meant!r}" in problem


PASSWORD = "pr0xy-s3cret"


def test_secrets_never_show_in_a_refusal():
    problems = check_host_data("edge-1", {"k3s_env": {"HTTPS_PROXY": f"http://u:{PASSWORD}@proxy:3128",
                                                      "BAD NAME": "x"},
                                          "k3s_token": ""})
    assert len(problems) == 2 and all("<redacted>" in p for p in problems)
    assert not any(PASSWORD in p for p in problems)
    assert "'HTTPS_PROXY'" in problems[0]  # the variable's name is no secret


@pytest.mark.parametrize("env,words", [
    ({"HTTPS_PROXY": "http://proxy:3128\nK3S_URL=https://evil:6443"}, ["line breaks", "HTTPS_PROXY"]),
    ({"NO_PROXY=x": "y"}, ["not environment variable names"]),
    ({"K3S_TOKEN": "abc"}, ["must not hold the token"]),
])
def test_k3s_env_that_would_break_the_environment_file_is_refused(env, words):
    (problem,) = check_host_data("edge-1", {"k3s_env": env})
    for word in words:
        assert word in problem


@pytest.mark.parametrize("key,value", [("_sudo", True), ("_su_user", "root"), ("ssh_user", "pi")])
def test_non_root_connections_are_refused_with_the_reason(key, value):
    (problem,) = check_host_data("pi-1", {key: value})
    assert problem.startswith(f"pi-1: {key} = {value!r}") and "root" in problem and "fix:" in problem


def _hosts(*specs):
    from edgewasm.config import InventoryHost

    return [InventoryHost(name, groups, data) for name, groups, data in specs]


def _topology(*specs):
    from edgewasm.config import topology_problems

    return topology_problems(_hosts(*specs), "fleet.py")


S, A = ["k3s_servers"], ["k3s_agents"]
REPOS = {"policy_allowed_repos": ["registry.site-a.example"]}


@pytest.mark.parametrize("specs,words", [
    ([("s1", S + A, {"ssh_hostname": "10.0.0.1"})], ["s1: is in both k3s_servers and k3s_agents"]),
    ([("s1", S, {"ssh_hostname": "10.0.0.1"}), ("x", ["raspberry_pi"], {"ssh_hostname": "10.0.0.2"})],
     ["x: is in neither k3s_servers nor k3s_agents"]),
    ([("s1", S, {"ssh_hostname": "10.0.0.1"}), ("a1", A, {"ssh_hostname": "10.0.0.1"})],
     ["s1, a1: share ssh_hostname 10.0.0.1:22"]),
    ([("s1", S, {"ssh_hostname": "10.0.0.1", "k3s_node_ip": "10.1.0.1"}),
      ("a1", A, {"ssh_hostname": "10.0.0.2", "k3s_node_ip": "10.1.0.1"})], ["s1, a1: share k3s_node_ip 10.1.0.1"]),
    ([("s1", S, {"ssh_hostname": "10.0.0.1"}), ("s2", S, {"ssh_hostname": "10.0.0.2"})],
     ["s1, s2: several servers without k3s_ha"]),
    ([("s1", S, {"ssh_hostname": "10.0.0.1", "k3s_ha": True}), ("s2", S, {"ssh_hostname": "10.0.0.2"}),
      ("s3", S, {"ssh_hostname": "10.0.0.3", "k3s_ha": True})], ["every K3s node must agree on k3s_ha"]),
    ([("s1", S, {"ssh_hostname": "10.0.0.1"}), ("a1", A, {"ssh_hostname": "10.0.0.2", "k3s_token_file": "t"})],
     ["every K3s node must agree on k3s_token_file", "a1='t'"]),
    ([("s1", S, {"ssh_hostname": "10.0.0.1", "policy_allowed_repos": ["a/"]}),
      ("s2", S, {"ssh_hostname": "10.0.0.2", "k3s_ha": True}), ("s3", S, {"ssh_hostname": "10.0.0.3"})],
     ["every server must agree on policy_allowed_repos"]),
])
def test_broken_topologies_are_refused(specs, words):
    problems, _ = _topology(*specs)
    text = "\n".join(problems)
    for word in words:
        assert word in text, text


def test_disagreeing_tokens_are_named_redacted():
    problems, _ = _topology(("s1", S, {"ssh_hostname": "10.0.0.1", "k3s_token": "tok-one", **REPOS}),
                            ("a1", A, {"ssh_hostname": "10.0.0.2", "k3s_token": "tok-two"}))
    (problem,) = problems
    assert "must agree on k3s_token" in problem and "s1=<redacted>" in problem
    assert "tok-one" not in problem and "tok-two" not in problem


def test_agents_may_differ_on_server_only_settings_and_an_even_ha_count_warns():
    problems, warnings = _topology(
        ("s1", S, {"ssh_hostname": "10.0.0.1", "k3s_ha": True, **REPOS}),
        ("s2", S, {"ssh_hostname": "10.0.0.2", "k3s_ha": True, **REPOS}),
        ("a1", A, {"ssh_hostname": "10.0.0.3", "k3s_ha": True, "policy_allowed_repos": ["other/"]}))
    assert problems == []
    assert warnings and "2 HA servers" in warnings[0] and "use 3 or 5" in warnings[0]


VALID = ("k3s_servers = [('srv', {'ssh_hostname': '192.0.2.1'})]\n"
         "k3s_agents = [('a1', {'ssh_hostname': '192.0.2.2'})]\n")


def test_command_line_data_is_checked_before_connecting(tmp_path):
    result = run_pyinfra(write_inventory(tmp_path, VALID), "--data", "k3s_ready_timeout=abc", "deploys/full_stack.py")
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Connecting to hosts" not in output
    assert "k3s_ready_timeout = 'abc' must be a whole number" in output


def test_an_inventory_that_forgot_the_check_is_refused_by_the_deploy(tmp_path):
    # The local machine as the "host": the deploy's guard must refuse before any
    # operation. preflight_min_kernel = "99.0" would refuse it too, had the guard not.
    inventory = tmp_path / "forgetful.py"
    inventory.write_text("k3s_servers = [('@local', {'preflight_min_kernel': '99.0'})]\n"
                         "k3s_agents = [('@local', {'preflight_min_kernel': '99.0'})]\n")
    result = run_pyinfra(inventory, "deploys/full_stack.py")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "is invalid" in output and "@local: is in both k3s_servers and k3s_agents" in output
    assert "Preflight" not in output.split("is invalid")[0]


def test_gatekeeper_without_trusted_registries_is_refused_until_named():
    problems, _ = _topology(("s1", S, {"ssh_hostname": "10.0.0.1"}))
    assert problems == [f"s1: Gatekeeper is on but policy_allowed_repos is empty, so no registry is trusted; "
                        f"fix: {settings.SETTINGS['policy_allowed_repos'].fix}, or gatekeeper_enabled = False"]
    assert _topology(("s1", S, {"ssh_hostname": "10.0.0.1", "gatekeeper_enabled": False}))[0] == []
    assert _topology(("s1", S, {"ssh_hostname": "10.0.0.1", **REPOS}))[0] == []


def test_the_deploys_defaults_are_not_taken_for_new_data():
    """Inside a deploy pyinfra merges the declared defaults (None for unset) into host data:
    the deploy's own check must accept that as the inventory check_inventory passed."""
    from edgewasm.config import _fingerprint

    plain = _hosts(("s1", S, {"ssh_hostname": "10.0.0.1", **REPOS}))
    with_defaults = _hosts(("s1", S, {**settings.defaults(), "ssh_hostname": "10.0.0.1", **REPOS}))
    assert _fingerprint(plain) == _fingerprint(with_defaults)
    assert check_host_data("s1", with_defaults[0].data) == []
