"""K3s on each host: binary, unit, config, secrets' modes, service, join token and URL.

PYTEST_DONT_REWRITE: these checks read token files, the unit's environment file and
config.yaml, which hold secrets. pytest's rewritten assertions print both sides of a
failed comparison, and the report would carry them. Here an assertion prints only its
message, and every message names the file and what is wrong, never what it holds;
secrets are compared by salted digests computed on the host (edgewasm/compliance/reads.py).
tests/unit/test_compliance_secrets.py keeps it so.
"""

import pytest

from edgewasm.compliance import applies, reads
from edgewasm.compliance.checks.standin import LIGHT_STANDIN, light_standin
from edgewasm.compliance.reads import K3S_CONFIG
from edgewasm.k3s import AGENT_TOKEN_FILE, K3S_BIN, KUBECONFIG, SERVER_TOKEN, TOKEN_FILE, join_url, unit_name

pytestmark = applies.only(applies.k3s_node)


def test_binary_is_the_pinned_release(host, host_data, plan, pinned_version):
    """The K3s binary is the pinned release (and, from a bundle, the bundle's file).

    Fix: run the deploy: it places the pinned K3s binary (a hand-replaced binary is drift)."""
    binary = host.file(K3S_BIN)
    assert binary.mode == 0o755 and binary.user == "root", \
        f"{K3S_BIN}: mode {binary.mode:o} owner {binary.user}, not 755 root"
    if host_data.get("edgewasm_bundle"):
        assert binary.sha256sum == plan.placement("k3s", "binary").sha256, f"{K3S_BIN} is not the bundle's file"
    version, output = pinned_version("k3s", f"{K3S_BIN} --version")
    first_line = (output.splitlines() or [""])[0]
    assert first_line.startswith(f"k3s version {version} "), f"{K3S_BIN} reports {first_line!r}, pinned {version}"


def test_node_runs_a_kubelet(host, host_data):
    """The node runs K3s itself, not the test bed's light stand-in (no kubelet: its pods
    and cluster checks cannot run there; docs/testbed.md, "The cluster").

    Fix: on the test bed, start the machine as amd64 without --light (real K3s)."""
    light = LIGHT_STANDIN in host.run(f"{K3S_BIN} --version").stdout
    assert light == light_standin(host_data), "the test bed's word on this machine's stand-in is wrong"
    if light:
        pytest.skip("test bed: this machine runs the light K3s stand-in (no kubelet, so no pod runs here and "
                    "the cluster checks leave it out; docs/testbed.md, \"The cluster\")")


def test_unit_and_env_file(host, role, access):
    """The K3s unit and its environment file are edgewasm's, the service enabled and running.

    Fix: run the deploy; if K3s still does not run, read journalctl -u k3s (servers) or -u k3s-agent."""
    unit = unit_name(role)
    unit_path, env_path = f"/etc/systemd/system/{unit}.service", f"/etc/systemd/system/{unit}.service.env"
    unit_text = host.file(unit_path).content_string
    command = "server" if unit == "k3s" else "agent"
    assert "Type=notify" in unit_text, f"{unit_path}: not edgewasm's unit (no Type=notify)"
    assert f"ExecStart={K3S_BIN} {command}" in unit_text, f"{unit_path}: does not run {K3S_BIN} {command}"
    # The environment file holds proxy credentials: only its mode and a count leave the host.
    env_mode = access.file(host, env_path).mode
    assert env_mode == 0o600, f"{env_path}: mode {env_mode:o}, not 600"
    setting_lines = host.run(access.env_token_lines(env_path)).stdout.strip()
    assert setting_lines == "0", (f"{env_path}: {setting_lines} line(s) set K3S_TOKEN or K3S_AGENT_TOKEN (K3s reads "
                                "it from token-file; rotate it, as the file may have been read)")
    service = host.service(unit)
    assert service.is_enabled, f"{unit}.service is not enabled"
    assert service.is_running, f"{unit}.service is not running"


def test_secrets_are_root_only(host, role, access):
    """Token files, config and kubeconfig are root's, mode 0600.

    Fix: run the deploy (it resets owner and mode); find who changed the mode, and rotate the token if others could read it."""
    paths = [AGENT_TOKEN_FILE, K3S_CONFIG]
    if role == "server":
        paths += [TOKEN_FILE, KUBECONFIG, SERVER_TOKEN]
    wrong = []
    for path in paths:
        f = access.file(host, path)
        if f.mode != 0o600 or f.user != "root":
            wrong.append(f"{path} ({f.mode:o} {f.user})")
    assert not wrong, f"not mode 600 and root's: {', '.join(wrong)}"


def test_config_names_the_right_server_and_token_files(k3s_config, host_data, role, inventory_host, first_server):
    """config.yaml joins the first server and names token files, never tokens.

    Fix: run the deploy; check the order of k3s_servers and k3s_node_ip in the inventory."""
    # Keys and the values the inventory decides are compared; a message names keys only,
    # never the value found (a hand edit may have put a secret anywhere in the file).
    expected = {"token-file": TOKEN_FILE, "agent-token-file": AGENT_TOKEN_FILE} if role == "server" \
        else {"token-file": AGENT_TOKEN_FILE}
    key_names = sorted(k for k in k3s_config if "token" in str(k))
    assert key_names == sorted(expected), \
        f"{K3S_CONFIG}: its token keys are {key_names}, not {sorted(expected)} (a token is never inlined)"
    wrong = [k for k, path in expected.items() if k3s_config[k] != path]
    assert not wrong, f"{K3S_CONFIG}: {', '.join(wrong)} should name {', '.join(expected[k] for k in wrong)}"
    if inventory_host.name == first_server.name:
        assert "server" not in k3s_config, f"{K3S_CONFIG}: the first server joins no server, but has server:"
        ha = bool(host_data.get("k3s_ha"))
        assert (k3s_config.get("cluster-init") is True) == ha, \
            f"{K3S_CONFIG}: cluster-init should be {'true' if ha else 'absent'} (k3s_ha is {ha})"
    else:
        url = join_url(first_server.name, first_server.data)
        assert k3s_config.get("server") == url, f"{K3S_CONFIG}: server: is not the first server's {url}"
    if host_data.get("k3s_node_ip"):
        assert k3s_config.get("node-ip") == host_data["k3s_node_ip"], \
            f"{K3S_CONFIG}: node-ip is not k3s_node_ip {host_data['k3s_node_ip']}"


def _digest(host, command: str) -> str:
    return reads.Access.digest(host.check_output(command))


def salted_digest(host, access, path: str) -> str:
    """Salted sha256 of a file, computed on the host (as root, or by the read helper)."""
    return _digest(host, access.salted_digest(path))


def secret_digest(host, access, path: str) -> str:
    """Salted sha256 of the secret part of a token file (after the last ':' of
    K10...::user:secret), computed on the host: checks compare digests, never token values."""
    return _digest(host, access.secret_digest(path))


def test_tokens_match_the_cluster(host, role, access, first_server_host, first_server_access):
    """Every node holds the first server's agent token, every server its server token, and
    K3s's own token file on a server carries that secret.

    Fix: run the deploy from the operator whose secrets/ directory holds this cluster's tokens."""
    compared = [AGENT_TOKEN_FILE, TOKEN_FILE] if role == "server" else [AGENT_TOKEN_FILE]
    for path in compared:
        mine = salted_digest(host, access, path)
        assert mine != reads.MISSING, f"{path} is missing"
        assert mine == salted_digest(first_server_host, first_server_access, path), \
            f"{path} is not the first server's (compared by salted digest)"
    if role == "server":
        assert host.check_output(access.holds_k3s_token(SERVER_TOKEN)) == "yes", \
            f"{SERVER_TOKEN} is not a K3s token (K10<CA hash>::server:<secret>)"
        assert secret_digest(host, access, SERVER_TOKEN) == secret_digest(host, access, TOKEN_FILE), \
            f"{SERVER_TOKEN} carries another secret than {TOKEN_FILE} (compared by salted digest)"


@applies.only(applies.agent)
def test_no_agent_holds_the_server_token(host, role, access, first_server_host, first_server_access):
    """Least privilege: an agent (a Pi that can be stolen) cannot join as a server. Every
    line of every small file K3s or edgewasm configures is compared by digest.

    Fix: remove the server token from the agent, rotate it (k3s token rotate on a server), run the deploy."""
    assert not access.file(host, TOKEN_FILE).exists, f"{TOKEN_FILE} (the server token) is on this agent"
    server_digest = secret_digest(first_server_host, first_server_access, TOKEN_FILE)
    assert server_digest != reads.MISSING, f"the first server has no {TOKEN_FILE} to compare with"
    assert secret_digest(host, access, AGENT_TOKEN_FILE) != server_digest, f"{AGENT_TOKEN_FILE} holds the server token"
    holding = sorted({line.split(" ", 1)[1] for line in host.check_output(access.line_digests()).splitlines()
                      if line.split(" ", 1)[0] == server_digest and " " in line})
    assert not holding, f"the server token's secret is in {', '.join(holding)}"
