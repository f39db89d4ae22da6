import pytest

from edgewasm.testbed import DEFAULT_TOPOLOGY, TestbedError, parse_topology


def test_default_topology_has_server_agent_and_pi():
    hosts = parse_topology(DEFAULT_TOPOLOGY)
    assert [(h.name, h.role, h.arch, h.board, h.suite) for h in hosts] == [
        ("edge-server-1", "server", "amd64", None, "bookworm"),
        ("edge-agent-1", "agent", "amd64", None, "trixie"),
        ("edge-pi-1", "agent", "arm64", "rpi4b", "bookworm"),
    ]
    assert [h.address for h in hosts] == ["10.231.0.11", "10.231.0.12", "10.231.0.13"]


def test_ha_topology_numbers_hosts_per_kind():
    hosts = parse_topology("server:amd64,server:amd64,server:arm64,agent:arm64")
    assert [h.name for h in hosts] == ["edge-server-1", "edge-server-2", "edge-server-3", "edge-agent-1"]


@pytest.mark.parametrize("spec", ["", "server", "master:amd64", "agent:riscv64", "agent:arm64:rpi5", "a:b:c:d",
                                  "agent:amd64@sid"])
def test_bad_specs_are_refused(spec):
    with pytest.raises(TestbedError):
        parse_topology(spec)


def test_cgroup_root_is_the_nodes_own():
    from edgewasm.testbed import CGROUP_SCRIPT, cgroup_root

    assert cgroup_root("edge-server-1") == "/edgewasm-testbed/edge-server-1"
    assert 'mkdir -p "$c/edgewasm-testbed/edge-server-1"' in CGROUP_SCRIPT.format(root=cgroup_root("edge-server-1"))


def test_real_nodes_deploy_from_the_real_bundle_light_beds_from_the_light_one(tmp_path, monkeypatch):
    """A bed with a real node pins the K3s build its bundle carries and tells K3s what a
    container needs; an all-light bed (big fleets, HA) takes the light bundle, whose K3s is
    the stand-in on every arch."""
    import json

    from edgewasm import testbed as tb

    monkeypatch.chdir(tmp_path)
    for bundle, version in ((tb.TESTBED_BUNDLE, "v1.35.1+k3s-c5b15879"), (tb.TESTBED_LIGHT_BUNDLE, "v1.36.4+k3s1")):
        (tmp_path / bundle).mkdir(parents=True)
        (tmp_path / bundle / "manifest.json").write_text(json.dumps({"artifacts": [
            {"component": "k3s", "name": "binary", "version": version, "arch": "amd64"}]}))
    hosts = parse_topology(DEFAULT_TOPOLOGY)
    for h in hosts:
        h.kubernetes = h.arch == "amd64"
    monkeypatch.setattr(tb, "running_hosts", lambda: hosts)
    groups = tb.inventory_groups()
    server = dict(groups["k3s_servers"])["edge-server-1"]
    pi = dict(groups["k3s_agents"])["edge-pi-1"]
    assert server["edgewasm_bundle"] == pi["edgewasm_bundle"] == tb.TESTBED_BUNDLE
    assert server["artifact_versions"] == pi["artifact_versions"] == {"k3s": "v1.35.1+k3s-c5b15879"}
    assert server["k3s_snapshotter"] == "native" and server["k3s_flannel_iface"] == "eth0"
    assert "k3s_snapshotter" not in pi and pi["testbed_k3s_light"]
    for h in hosts:
        h.kubernetes = False
    light = dict(tb.inventory_groups()["k3s_servers"])["edge-server-1"]
    assert light["edgewasm_bundle"] == tb.TESTBED_LIGHT_BUNDLE
    assert light["artifact_versions"] == {"k3s": "v1.36.4+k3s1"} and "k3s_snapshotter" not in light
