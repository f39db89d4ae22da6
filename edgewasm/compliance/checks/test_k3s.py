"""K3s on each host: binary, unit, config, secrets' modes, service, join token and URL."""

import pytest
import yaml

from edgewasm.compliance import applies, reads
from edgewasm.compliance.checks.standin import LIGHT_STANDIN, light_standin
from edgewasm.k3s import AGENT_TOKEN_FILE, K3S_BIN, KUBECONFIG, SERVER_TOKEN, TOKEN_FILE, join_url, unit_name

pytestmark = applies.only(applies.k3s_node)


def test_binary_is_the_pinned_release(host, host_data, plan, pinned_version):
    """The K3s binary is the pinned release (and, from a bundle, the bundle's file).

    Fix: run the deploy: it places the pinned K3s binary (a hand-replaced binary is drift)."""
    binary = host.file(K3S_BIN)
    assert binary.mode == 0o755 and binary.user == "root"
    if host_data.get("edgewasm_bundle"):
        assert binary.sha256sum == plan.placement("k3s", "binary").sha256
    version, output = pinned_version("k3s", f"{K3S_BIN} --version")
    assert output.splitlines()[0].startswith(f"k3s version {version} ")


def test_node_runs_a_kubelet(host, host_data):
    """The node runs K3s itself, not the test bed's light stand-in (no kubelet: its pods
    and cluster checks cannot run there; docs/testbed.md, "The cluster").

    Fix: on the test bed, start the machine as amd64 without --light (real K3s)."""
    light = LIGHT_STANDIN in host.run(f"{K3S_BIN} --version").stdout
    assert light == light_standin(host_data), "the test bed's word on this machine's stand-in is wrong"
    if light:
        pytest.skip("test bed: this machine runs the light K3s stand-in (no kubelet, so no pod runs here and "
                    "the cluster checks leave it out; docs/testbed.md, \"The cluster\")")


def test_unit_and_env_file(host, role):
    """The K3s unit and its environment file are edgewasm's, the service enabled and running.

    Fix: run the deploy; if K3s still does not run, read journalctl -u k3s (servers) or -u k3s-agent."""
    unit = unit_name(role)
    unit_file = host.file(f"/etc/systemd/system/{unit}.service")
    assert "Type=notify" in unit_file.content_string
    assert f"ExecStart={K3S_BIN} {'server' if unit == 'k3s' else 'agent'}" in unit_file.content_string
    env = host.file(f"/etc/systemd/system/{unit}.service.env")
    assert env.mode == 0o600 and "K3S_TOKEN" not in env.content_string
    service = host.service(unit)
    assert service.is_enabled and service.is_running


def test_secrets_are_root_only(host, role):
    """Token files, config and kubeconfig are root's, mode 0600.

    Fix: run the deploy (it resets owner and mode); find who changed the mode, and rotate the token if others could read it."""
    paths = [AGENT_TOKEN_FILE, "/etc/rancher/k3s/config.yaml"]
    if role == "server":
        paths += [TOKEN_FILE, KUBECONFIG, SERVER_TOKEN]
    for path in paths:
        f = host.file(path)
        assert f.mode == 0o600 and f.user == "root", path


def test_config_names_the_right_server_and_token_files(host, host_data, role, inventory_host, first_server):
    """config.yaml joins the first server and names token files, never tokens.

    Fix: run the deploy; check the order of k3s_servers and k3s_node_ip in the inventory."""
    config = host.file("/etc/rancher/k3s/config.yaml").content_string
    keys = yaml.safe_load(config)
    # Paths of the token files (config.yaml never holds a token itself).
    expected = {"token-file": TOKEN_FILE, "agent-token-file": AGENT_TOKEN_FILE} if role == "server" \
        else {"token-file": AGENT_TOKEN_FILE}
    # Key names first: were a token inlined, a failing comparison of values would print it.
    assert sorted(k for k in keys if "token" in k) == sorted(expected)
    assert {k: keys[k] for k in expected} == expected
    assert "token" not in keys and "agent-token" not in keys
    if inventory_host.name == first_server.name:
        assert "server:" not in config
        assert ("cluster-init: true" in config) == bool(host_data.get("k3s_ha"))
    else:
        assert f'server: "{join_url(first_server.name, first_server.data)}"' in config
    if host_data.get("k3s_node_ip"):
        assert f'node-ip: "{host_data["k3s_node_ip"]}"' in config


def secret_digest(host, path: str) -> str:
    """sha256 of the secret part of a token file (after the last ':' of K10...::user:secret),
    computed on the host: checks compare digests, never token values."""
    return host.check_output(reads.secret_digest(path)).split()[0]


def test_tokens_match_the_cluster(host, role, first_server_host):
    """Every node holds the first server's agent token, every server its server token, and
    K3s's own token file on a server carries that secret.

    Fix: run the deploy from the operator whose secrets/ directory holds this cluster's tokens."""
    assert host.file(AGENT_TOKEN_FILE).sha256sum == first_server_host.file(AGENT_TOKEN_FILE).sha256sum
    if role == "server":
        assert host.file(TOKEN_FILE).sha256sum == first_server_host.file(TOKEN_FILE).sha256sum
        assert host.file(SERVER_TOKEN).content_string.startswith("K10")
        assert secret_digest(host, SERVER_TOKEN) == secret_digest(host, TOKEN_FILE)


@applies.only(applies.agent)
def test_no_agent_holds_the_server_token(host, role, first_server_host):
    """Least privilege: an agent (a Pi that can be stolen) cannot join as a server. Every
    line of every small file K3s or edgewasm configures is compared by digest.

    Fix: remove the server token from the agent, rotate it (k3s token rotate on a server), run the deploy."""
    assert not host.file(TOKEN_FILE).exists
    server_secret = secret_digest(first_server_host, TOKEN_FILE)
    assert secret_digest(host, AGENT_TOKEN_FILE) != server_secret
    lines = host.check_output(reads.SMALL_FILE_LINE_DIGESTS).split()
    assert server_secret not in lines
