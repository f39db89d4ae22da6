"""K3s on each host: binary, unit, config, secrets' modes, service, join token and URL."""

import pytest

from edgewasm.k3s import K3S_BIN, KUBECONFIG, SERVER_TOKEN, TOKEN_FILE, join_url, unit_name

pytestmark = pytest.mark.usefixtures("needs_k3s")


@pytest.fixture
def needs_k3s(role):
    if role not in ("server", "agent"):
        pytest.skip("not in k3s_servers or k3s_agents")


def test_binary_is_the_pinned_release(host, host_data, plan):
    binary = host.file(K3S_BIN)
    assert binary.mode == 0o755 and binary.user == "root"
    if host_data.get("edgewasm_bundle"):
        assert binary.sha256sum == plan.placement("k3s", "binary").sha256
    version = plan.versions["k3s"]
    assert host.check_output(f"{K3S_BIN} --version").splitlines()[0].startswith(f"k3s version {version} ")


def test_unit_and_env_file(host, role):
    unit = unit_name(role)
    unit_file = host.file(f"/etc/systemd/system/{unit}.service")
    assert "Type=notify" in unit_file.content_string
    assert f"ExecStart={K3S_BIN} {'server' if unit == 'k3s' else 'agent'}" in unit_file.content_string
    env = host.file(f"/etc/systemd/system/{unit}.service.env")
    assert env.mode == 0o600 and "K3S_TOKEN" not in env.content_string
    service = host.service(unit)
    assert service.is_enabled and service.is_running


def test_secrets_are_root_only(host, role):
    for path in (TOKEN_FILE, "/etc/rancher/k3s/config.yaml"):
        f = host.file(path)
        assert f.mode == 0o600 and f.user == "root", path
    if role == "server":
        assert host.file(KUBECONFIG).mode == 0o600
        assert host.file(SERVER_TOKEN).mode == 0o600


def test_config_names_the_right_server_and_token_file(host, host_data, inventory_host, first_server):
    config = host.file("/etc/rancher/k3s/config.yaml").content_string
    assert f'token-file: "{TOKEN_FILE}"' in config
    assert "token:" not in config.replace("token-file:", "")
    if inventory_host.name == first_server.name:
        assert "server:" not in config
        assert ("cluster-init: true" in config) == bool(host_data.get("k3s_ha"))
    else:
        assert f'server: "{join_url(first_server.name, first_server.data)}"' in config
    if host_data.get("k3s_node_ip"):
        assert f'node-ip: "{host_data["k3s_node_ip"]}"' in config


def test_token_matches_the_cluster(host, role, first_server_host):
    """Every host holds the first server's token; a server's own token file carries its secret."""
    token = host.file(TOKEN_FILE).content_string.strip()
    assert token and token == first_server_host.file(TOKEN_FILE).content_string.strip()
    if role == "server":
        server_token = host.file(SERVER_TOKEN).content_string.strip()
        assert server_token.startswith("K10") and server_token.endswith(":" + token.rsplit(":", 1)[-1])
