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
