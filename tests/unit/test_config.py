"""Inventory validation: bad input stops the run before pyinfra connects to any host."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edgewasm import settings
from edgewasm.config import check_host_data

ROOT = Path(__file__).resolve().parents[2]


def run_pyinfra(inventory: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pyinfra", "-y", str(inventory), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
    )


def write_known_hosts(path: Path, names: list[str], hashed: bool = True) -> Path:
    """A real known_hosts file: a host key generated here (ssh-keygen) under each of
    ``names`` ("address", or "[address]:port"), hashed by ssh-keygen -H as OpenSSH's
    HashKnownHosts writes them."""
    key = path.parent / "ssh_host_ed25519_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    kind, blob = Path(f"{key}.pub").read_text().split()[:2]
    path.write_text("".join(f"{name} {kind} {blob}\n" for name in names))
    if hashed:
        subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(path)], check=True, capture_output=True)
        Path(f"{path}.old").unlink()
        assert all(line.startswith("|1|") for line in path.read_text().splitlines())
    return path


# TEST-NET-1 addresses (nothing answers there, and the run must not even try), each with
# a known_hosts entry: what every host of a valid inventory has.
ADDRESSES = [f"192.0.2.{i}" for i in range(1, 10)]


@pytest.fixture(scope="module")
def fleet_known_hosts(tmp_path_factory) -> Path:
    return write_known_hosts(tmp_path_factory.mktemp("ssh") / "known_hosts", ADDRESSES)


def write_inventory(tmp_path: Path, body: str, known_hosts: Path | None = None) -> Path:
    """An inventory of ``body`` whose hosts may use ``**_ssh``: root, strict host-key
    checking against ``known_hosts``."""
    ssh = {"ssh_user": "root", "ssh_strict_host_key_checking": "yes", "ssh_known_hosts_file": str(known_hosts)}
    path = tmp_path / "fleet.py"
    path.write_text("from edgewasm.config import check_inventory\n" + f"_ssh = {ssh!r}\n"
                    + textwrap.dedent(body) + "\ncheck_inventory(__file__)\n")
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


def test_example_fleet_is_valid(tmp_path):
    # Its hosts' keys, as the operator collects them once into ~/.ssh/edge_fleet_known_hosts.
    home = tmp_path / "home"
    write_known_hosts(home / ".ssh" / "edge_fleet_known_hosts",
                      ["192.0.2.10", "192.0.2.21", "192.0.2.22", "192.0.2.31", "192.0.2.32"])
    result = run_pyinfra(ROOT / "inventories/edge.py", "debug-inventory", env={"HOME": str(home)})
    assert result.returncode == 0, result.stderr
    assert "edge-pi-02" in result.stdout + result.stderr


R = "'policy_allowed_repos': ['registry.example']"
BROKEN = {
    "no_hosts": ("k3s_servers = []\n", ["has no hosts", "fix:"]),
    "unsupported_arch": (
        "k3s_servers = [('srv', {**_ssh, 'ssh_hostname': '192.0.2.1'})]\n"
        "k3s_agents = [('rv', {**_ssh, 'ssh_hostname': '192.0.2.2', 'edgewasm_arch': 'riscv64'})]\n",
        ["rv: edgewasm_arch = 'riscv64'", "fix:"],
    ),
    "malformed_value": (
        "k3s_servers = [('srv', {**_ssh, 'ssh_hostname': '192.0.2.1', 'preflight_min_disk_gb': '4GB'})]\n",
        ["srv: preflight_min_disk_gb = '4GB'", "number greater than 0", "fix:"],
    ),
    "agents_without_server": (
        "k3s_agents = [('a1', {**_ssh, 'ssh_hostname': '192.0.2.2'})]\n",
        ["no host is in k3s_servers"],
    ),
    # Trust on first use: pyinfra's default (accept-new), and "no", are refused.
    "host_keys_not_checked": (
        f"k3s_servers = [('srv', {{'ssh_hostname': '192.0.2.1', {R}}})]\n"
        "k3s_agents = [('a1', {**_ssh, 'ssh_hostname': '192.0.2.2', 'ssh_strict_host_key_checking': 'no'})]\n",
        ["srv: ssh_strict_host_key_checking is unset (pyinfra's default, 'accept-new')",
         "a1: ssh_strict_host_key_checking = 'no'", "fix: ssh_strict_host_key_checking = 'yes'"],
    ),
    "host_key_not_known": (
        f"k3s_servers = [('srv', {{**_ssh, 'ssh_hostname': '192.0.2.1', 'ssh_port': 2222, {R}}})]\n",
        ["srv: no host key for [192.0.2.1]:2222", "ssh-keyscan -p 2222 192.0.2.1"],
    ),
    "shell_in_a_host_name": (
        f"k3s_servers = [('srv', {{**_ssh, 'ssh_hostname': '192.0.2.1', {R}}})]\n"
        "k3s_agents = [(\"a1';touch /tmp/edgewasm-pwned;'\", {**_ssh, 'ssh_hostname': '192.0.2.2'})]\n",
        ["host name \"a1';touch /tmp/edgewasm-pwned;'\" is not a lowercase RFC 1123 name",
         "fix: rename the host, e.g. 'a1-touch-tmp-edgewasm-pwned'"],
    ),
    "reserved_node_label": (
        f"k3s_servers = [('srv', {{**_ssh, 'ssh_hostname': '192.0.2.1', {R},"
        " 'k3s_node_labels': {'node-role.kubernetes.io/control-plane': 'true'}})]\n",
        ["srv: k3s_node_labels = {'node-role.kubernetes.io/control-plane': 'true'}", "reserved", "fix:"],
    ),
    "cluster_name_as_a_path": (
        f"k3s_servers = [('srv', {{**_ssh, 'ssh_hostname': '192.0.2.1', {R}, 'k3s_cluster_name': '../../etc/x'}})]\n",
        ["srv: k3s_cluster_name = '../../etc/x' must be a lowercase name", "fix:"],
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_inventory_fails_before_connecting(tmp_path, fleet_known_hosts, case):
    body, words = BROKEN[case]
    result = run_pyinfra(write_inventory(tmp_path, body, fleet_known_hosts), "deploys/full_stack.py")
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


VALID = (f"k3s_servers = [('srv', {{**_ssh, 'ssh_hostname': '192.0.2.1', {R}}})]\n"
         "k3s_agents = [('a1', {**_ssh, 'ssh_hostname': '192.0.2.2'})]\n")


def test_a_valid_inventory_passes(tmp_path, fleet_known_hosts):
    result = run_pyinfra(write_inventory(tmp_path, VALID, fleet_known_hosts), "debug-inventory")
    assert result.returncode == 0, result.stderr


def test_command_line_data_is_checked_before_connecting(tmp_path, fleet_known_hosts):
    result = run_pyinfra(write_inventory(tmp_path, VALID, fleet_known_hosts), "--data", "k3s_ready_timeout=abc",
                         "deploys/full_stack.py")
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Connecting to hosts" not in output
    problems = [line for line in output.splitlines() if line.startswith("  ")]
    assert [p.split(":")[0].strip() for p in problems] == ["srv", "a1"]  # valid but for the override
    assert all("k3s_ready_timeout = 'abc' must be a whole number" in p for p in problems)


def test_command_line_data_cannot_turn_host_key_checks_off(tmp_path, fleet_known_hosts):
    result = run_pyinfra(write_inventory(tmp_path, VALID, fleet_known_hosts),
                         "--data", "ssh_strict_host_key_checking=accept-new", "deploys/full_stack.py")
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Connecting to hosts" not in output
    assert "srv: ssh_strict_host_key_checking = 'accept-new'" in output
    assert "a1: ssh_strict_host_key_checking = 'accept-new'" in output


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


# ------------------------------------------------------------------- host keys and names

STRICT = {"ssh_strict_host_key_checking": "yes"}


@pytest.mark.parametrize("policy", [None, "accept-new", "no", "off", "ask"])
def test_any_host_key_policy_but_strict_checking_is_refused(fleet_known_hosts, policy):
    from edgewasm.config import host_key_problems

    data = {"ssh_hostname": "192.0.2.1", "ssh_known_hosts_file": str(fleet_known_hosts)}
    if policy:
        data["ssh_strict_host_key_checking"] = policy
    (problem,) = host_key_problems("edge-1", data)
    assert problem.startswith("edge-1: ssh_strict_host_key_checking ")
    assert (repr(policy) if policy else "unset (pyinfra's default, 'accept-new')") in problem
    assert "fix: ssh_strict_host_key_checking = 'yes'" in problem


def test_hashed_known_hosts_entries_are_found_for_the_address_and_port(tmp_path):
    from edgewasm.config import host_key_problems

    known = write_known_hosts(tmp_path / "known_hosts", ["10.0.0.5", "[10.0.0.6]:2222"])
    assert "10.0.0.5" not in known.read_text()  # hashed: the names are not in the file
    found = {**STRICT, "ssh_known_hosts_file": str(known)}
    assert host_key_problems("edge-1", {**found, "ssh_hostname": "10.0.0.5"}) == []
    assert host_key_problems("edge-2", {**found, "ssh_hostname": "10.0.0.6", "ssh_port": 2222}) == []
    # An entry is for one port: 22's does not vouch for 2222, nor 2222's for 22.
    (other_port,) = host_key_problems("edge-1", {**found, "ssh_hostname": "10.0.0.5", "ssh_port": 2222})
    assert other_port.startswith("edge-1: no host key for [10.0.0.5]:2222 in ")
    assert f"ssh-keyscan -p 2222 10.0.0.5 > new.keys && ssh-keygen -lf new.keys" in other_port
    assert f"cat new.keys >> {known}" in other_port
    (default_port,) = host_key_problems("edge-2", {**found, "ssh_hostname": "10.0.0.6"})
    assert "no host key for 10.0.0.6 in" in default_port and "ssh-keyscan 10.0.0.6 " in default_port


def test_plain_entries_and_the_host_name_as_address_are_found(tmp_path):
    from edgewasm.config import host_key_problems

    known = write_known_hosts(tmp_path / "known_hosts", ["edge-1.site-a.example"], hashed=False)
    assert host_key_problems("edge-1.site-a.example", {**STRICT, "ssh_known_hosts_file": str(known)}) == []


def test_a_missing_known_hosts_file_is_named(tmp_path):
    from edgewasm.config import host_key_problems

    gone = tmp_path / "nowhere" / "known_hosts"
    (problem,) = host_key_problems("edge-1", {**STRICT, "ssh_hostname": "10.0.0.5", "ssh_known_hosts_file": str(gone)})
    assert f"({gone} does not exist)" in problem and "fix: ssh-keyscan 10.0.0.5" in problem


def test_the_default_known_hosts_is_the_users(tmp_path, monkeypatch):
    from edgewasm.config import host_key_problems

    monkeypatch.setenv("HOME", str(tmp_path))
    data = {**STRICT, "ssh_hostname": "10.0.0.5", "ssh_config_file": str(tmp_path / "no-config")}
    (problem,) = host_key_problems("edge-1", data)
    assert "no host key for 10.0.0.5 in ~/.ssh/known_hosts" in problem
    write_known_hosts(tmp_path / ".ssh" / "known_hosts", ["10.0.0.5"])
    assert host_key_problems("edge-1", data) == []


def test_ssh_config_hostname_port_and_known_hosts_are_followed_as_pyinfra_does(tmp_path):
    from edgewasm.config import host_key_problems
    from edgewasm.ssh import ssh_target

    known = write_known_hosts(tmp_path / "site_known_hosts", ["[10.0.0.7]:2200"])
    config = tmp_path / "ssh_config"
    config.write_text(f"Host edge-7\n  HostName 10.0.0.7\n  Port 2200\n  UserKnownHostsFile {known}\n")
    data = {**STRICT, "ssh_config_file": str(config)}
    target = ssh_target("edge-7", data)
    assert (target.address, target.port, target.known_hosts) == ("10.0.0.7", 2200, (str(known),))
    assert host_key_problems("edge-7", data) == []
    # The inventory's own port and known_hosts win over the config's, as in pyinfra.
    (problem,) = host_key_problems("edge-7", {**data, "ssh_port": 22, "ssh_known_hosts_file": str(known)})
    assert "no host key for 10.0.0.7 in" in problem


@pytest.mark.parametrize("port", ["ssh", "22; reboot", [22]])
def test_a_port_that_is_no_number_is_refused_not_a_crash(port):
    from edgewasm.config import host_key_problems

    (problem,) = host_key_problems("edge-1", {**STRICT, "ssh_hostname": "10.0.0.5", "ssh_port": port})
    assert problem == (f"edge-1: ssh_port = {port!r} is not a port number; fix: ssh_port = 22, or the port the "
                       "host's sshd listens on")


def test_other_connectors_are_refused_by_name_not_by_host_key():
    from edgewasm.config import host_key_problems, host_name_problem

    assert host_key_problems("@local", {}) == []
    assert "'@local' is not a lowercase RFC 1123 name" in host_name_problem("@local")


@pytest.mark.parametrize("name,suggestion", [
    ("a1;touch /tmp/x;#", "a1-touch-tmp-x"),
    ("a2';reboot;'", "a2-reboot"),
    ("a3$(reboot)", "a3-reboot"),
    ("Edge-1", "edge-1"),
    ("edge_1", "edge-1"),
    ("-edge", "edge"),
    ("edge-", "edge"),
    ("edge..site", "edge.site"),
    ("x" * 64, "x" * 63),
    (".".join(["x" * 63] * 4) + ".x", None),  # 257 characters
    ("fd00::1", "fd00-1"),
    ("edge 1", "edge-1"),
])
def test_host_names_that_are_not_lowercase_rfc_1123_names_are_refused(name, suggestion):
    from edgewasm.config import host_name_problem

    problem = host_name_problem(name)
    assert problem.startswith(f"{name}: host name {name!r} is not a lowercase RFC 1123 name")
    assert "fix: rename the host" in problem and "ssh_hostname" in problem
    if suggestion:
        assert f"e.g. {suggestion!r}" in problem


@pytest.mark.parametrize("name", ["edge-1", "edge-srv-01.site-a", "192.0.2.10", "a", "x" * 63,
                                  ".".join(["x" * 63] * 3) + "." + "x" * 61])
def test_lowercase_rfc_1123_names_pass(name):
    from edgewasm.config import host_name_problem

    assert host_name_problem(name) is None


def test_inventory_reads_leave_host_keys_to_the_tools_that_connect(tmp_path, monkeypatch):
    """edgewasm-check and edgewasm-bundle read an inventory without connecting through
    pyinfra (the check refuses unknown host keys itself, host by host); a deploy, and
    the check's dry run (which pyinfra connects for), check them."""
    from edgewasm import config
    from edgewasm.k3s import READ_ONLY_ENV

    inventory = write_inventory(tmp_path, "k3s_servers = [('srv', {'ssh_hostname': '192.0.2.1', "
                                          "'policy_allowed_repos': ['registry.example']})]\n")
    (host,) = config.inventory_hosts(str(inventory), cwd=str(ROOT))
    assert host.name == "srv"
    monkeypatch.delenv(config.INVENTORY_READ_ENV, raising=False)
    monkeypatch.delenv(READ_ONLY_ENV, raising=False)
    assert config._host_key_mode() == "entries"
    monkeypatch.setenv(READ_ONLY_ENV, "1")
    assert config._host_key_mode() == "policy"
    monkeypatch.setenv(config.INVENTORY_READ_ENV, "1")
    assert config._host_key_mode() == "none"
    assert config._host_key_mode(deploy_file=True) == "policy"  # the deploy's guard ignores it
    monkeypatch.delenv(READ_ONLY_ENV)
    assert config._host_key_mode(deploy_file=True) == "entries"


def test_the_dry_run_checks_the_policy_but_leaves_missing_entries_to_each_host():
    from edgewasm.config import InventoryError, validate

    hosts = _hosts(("s1", S, {"ssh_hostname": "10.0.0.1", "ssh_known_hosts_file": "/nowhere", **STRICT, **REPOS}))
    validate(hosts, "fleet.py", host_keys="policy")
    with pytest.raises(InventoryError, match="no host key for 10.0.0.1"):
        validate(hosts, "fleet.py")
    loose = _hosts(("s1", S, {"ssh_hostname": "10.0.0.1", **REPOS}))
    with pytest.raises(InventoryError, match="ssh_strict_host_key_checking is unset"):
        validate(loose, "fleet.py", host_keys="policy")
    validate(loose, "fleet.py", host_keys="none")


# ----------------------------------------------------------------------- token files

def _token_hosts(tmp_path, **data):
    base = {"ssh_hostname": "10.0.0.1", "k3s_cluster_name": "site",
            "k3s_token_file": str(tmp_path / "{k3s_cluster_name}.token"),
            "k3s_agent_token_file": str(tmp_path / "{k3s_cluster_name}.agent-token")}
    return _hosts(("s1", S, {**base, **data}), ("a1", A, {**base, "ssh_hostname": "10.0.0.2", **data}))


def test_token_files_others_can_read_are_refused_with_the_chmod(tmp_path):
    from edgewasm.config import token_file_problems

    server, agent = tmp_path / "site.token", tmp_path / "site.agent-token"
    for path, mode in ((server, 0o644), (agent, 0o640)):
        path.write_text("K10secret\n")
        path.chmod(mode)
    problems = token_file_problems(_token_hosts(tmp_path))
    assert problems == [
        f"s1, a1: k3s_agent_token_file {agent} holds the cluster's agent join token but is open to group or "
        f"others (mode 640); fix: chmod 600 {agent}",
        f"s1: k3s_token_file {server} holds the cluster's server join token but is open to group or others "
        f"(mode 644); fix: chmod 600 {server}",
    ]
    assert not any("K10secret" in p for p in problems)
    server.chmod(0o600)
    agent.chmod(0o400)
    assert token_file_problems(_token_hosts(tmp_path)) == []


def test_missing_token_files_are_fine_and_a_directory_is_not(tmp_path):
    from edgewasm.config import token_file_problems

    assert token_file_problems(_token_hosts(tmp_path)) == []  # the deploy writes them, 0600
    (tmp_path / "site.token").mkdir()
    (problem,) = token_file_problems(_token_hosts(tmp_path))
    assert problem.startswith(f"s1: k3s_token_file {tmp_path / 'site.token'} is not a file; fix:")


def test_a_token_file_is_not_read_when_the_token_is_in_data(tmp_path):
    from edgewasm.config import token_file_problems

    (tmp_path / "site.token").write_text("x\n")
    (tmp_path / "site.token").chmod(0o644)
    assert token_file_problems(_token_hosts(tmp_path, k3s_token="in-data")) == []


def test_the_token_file_check_runs_with_the_rest(tmp_path, monkeypatch):
    """The default token file (secrets/<cluster>.token, under the directory pyinfra runs in)."""
    from edgewasm.config import InventoryError, validate

    monkeypatch.chdir(tmp_path)
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "k3s.token").write_text("x\n")
    (tmp_path / "secrets" / "k3s.token").chmod(0o664)
    hosts = _hosts(("s1", S, {"ssh_hostname": "10.0.0.1", **REPOS}))
    with pytest.raises(InventoryError, match=r"s1: k3s_token_file secrets/k3s.token .* \(mode 664\); "
                                             r"fix: chmod 600 secrets/k3s.token"):
        validate(hosts, "fleet.py", host_keys="none")


def test_a_deploy_to_hosts_that_are_not_nodes_can_require_host_keys_alone(tmp_path, monkeypatch):
    """check_running_host_keys: for the nightly check's management hosts, which get the
    fleet's SSH key but are no K3s nodes."""
    import types

    from edgewasm import config

    known = write_known_hosts(tmp_path / "known_hosts", ["10.0.0.5"])

    def running(*hosts):
        return types.SimpleNamespace(inventory=[
            types.SimpleNamespace(name=name, groups=["check_hosts"], data=types.SimpleNamespace(dict=lambda d=data: d))
            for name, data in hosts])

    monkeypatch.delenv(config.INVENTORY_READ_ENV, raising=False)
    good = {**STRICT, "ssh_hostname": "10.0.0.5", "ssh_known_hosts_file": str(known)}
    monkeypatch.setattr(config, "state", running(("mgmt-1", good)))
    config.check_running_host_keys()
    monkeypatch.setattr(config, "state", running(("mgmt-1", {**good, "ssh_strict_host_key_checking": "accept-new"}),
                                                 ("Mgmt_2", {**good, "ssh_hostname": "10.0.0.6"})))
    with pytest.raises(config.InventoryError) as refused:
        config.check_running_host_keys()
    text = str(refused.value)
    assert "no host was changed" in text and "is in neither" not in text
    assert "mgmt-1: ssh_strict_host_key_checking = 'accept-new'" in text
    assert "Mgmt_2: host name 'Mgmt_2'" in text and "Mgmt_2: no host key for 10.0.0.6" in text


def test_servers_that_disagree_on_the_hardening_are_refused():
    problems, _ = _topology(("s1", S, {"ssh_hostname": "10.0.0.1", "k3s_ha": True, **REPOS}),
                            ("s2", S, {"ssh_hostname": "10.0.0.2", "k3s_ha": True, **REPOS,
                                       "k3s_secrets_encryption": False}),
                            ("s3", S, {"ssh_hostname": "10.0.0.3", "k3s_ha": True, **REPOS}),
                            ("a1", A, {"ssh_hostname": "10.0.0.4", "k3s_ha": True, "k3s_pod_security": "privileged"}))
    (problem,) = problems
    assert "every server must agree on k3s_secrets_encryption" in problem and "s2=False" in problem


def test_a_preflight_sysctl_protect_kernel_defaults_would_refuse_stops_the_run(tmp_path, fleet_known_hosts):
    inventory = write_inventory(tmp_path, """
        k3s_servers = [("edge-1", {"ssh_hostname": "192.0.2.1", **_ssh, "policy_allowed_repos": ["r.example"],
                                   "preflight_sysctls": {"kernel.panic": 0}})]
    """, fleet_known_hosts)
    result = run_pyinfra(inventory, "debug-inventory")
    assert result.returncode != 0
    assert "edge-1: preflight_sysctls sets kernel.panic = 0, but with k3s_protect_kernel_defaults" in result.stderr + \
        result.stdout
