"""K3s on each host: binary, unit, config, secrets' modes, service, join token and URL."""

from pathlib import Path

import pytest

from edgewasm.arch import k3s_arch
from edgewasm.bundle import entries_for, load_manifest, wanted_versions
from edgewasm.k3s import K3S_BIN, KUBECONFIG, SERVER_TOKEN, TOKEN_FILE, join_url, unit_name

pytestmark = pytest.mark.usefixtures("needs_k3s")


@pytest.fixture
def needs_k3s(host_data):
    if host_data.get("edgewasm_role") not in ("server", "agent"):
        pytest.skip("not in k3s_servers or k3s_agents")


def test_binary_is_the_pinned_release(host, host_data):
    binary = host.file(K3S_BIN)
    assert binary.mode == 0o755 and binary.user == "root"
    if host_data.get("edgewasm_bundle"):
        arch = k3s_arch(host.system_info.arch)
        entries = entries_for(load_manifest(Path(host_data["edgewasm_bundle"])), arch,
                              host_data["edgewasm_role"], wanted_versions(host_data))
        expected = next(e for e in entries if (e["component"], e["name"]) == ("k3s", "binary"))
        assert binary.sha256sum == expected["sha256"]
    version = wanted_versions(host_data)["k3s"]
    assert host.check_output(f"{K3S_BIN} --version").splitlines()[0].startswith(f"k3s version {version} ")


def test_unit_and_env_file(host, host_data):
    unit = unit_name(host_data["edgewasm_role"])
    unit_file = host.file(f"/etc/systemd/system/{unit}.service")
    assert "Type=notify" in unit_file.content_string
    assert f"ExecStart={K3S_BIN} {'server' if unit == 'k3s' else 'agent'}" in unit_file.content_string
    env = host.file(f"/etc/systemd/system/{unit}.service.env")
    assert env.mode == 0o600 and "K3S_TOKEN" not in env.content_string
    service = host.service(unit)
    assert service.is_enabled and service.is_running


def test_secrets_are_root_only(host, host_data):
    for path in (TOKEN_FILE, "/etc/rancher/k3s/config.yaml"):
        f = host.file(path)
        assert f.mode == 0o600 and f.user == "root", path
    if host_data["edgewasm_role"] == "server":
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


def test_token_matches_the_cluster(host, host_data, first_server_host):
    """Every host holds the first server's token; a server's own token file carries its secret."""
    token = host.file(TOKEN_FILE).content_string.strip()
    assert token and token == first_server_host.file(TOKEN_FILE).content_string.strip()
    if host_data["edgewasm_role"] == "server":
        server_token = host.file(SERVER_TOKEN).content_string.strip()
        assert server_token.startswith("K10") and server_token.endswith(":" + token.rsplit(":", 1)[-1])
