"""The test bed itself: hosts are separate machines, host keys are checked, teardown is clean."""

import ipaddress
import os
import subprocess

import pytest

from edgewasm import testbed as tb
from edgewasm.testbed import network

pytestmark = pytest.mark.testbed

PODS = ipaddress.ip_network("10.42.0.0/16")


def _mounts():
    with open("/proc/self/mounts") as f:
        return [l for l in f if str(tb.hosts_dir()) in l]


def test_hosts_are_distinct_and_keys_are_checked(testbed):
    ids = {tb.ssh(h.address, "cat /etc/machine-id").stdout for h in testbed}
    names = {tb.ssh(h.address, "hostname").stdout.strip() for h in testbed}
    assert len(ids) == len(testbed) and names == {h.name for h in testbed}
    arches = {h.arch: tb.ssh(h.address, "uname -m").stdout.strip() for h in testbed}
    assert arches == {"amd64": "x86_64", "arm64": "aarch64"}
    # Each host has its own network stack: its own address on the site, and besides it
    # only its slice of the pod network (K3s's default cluster-cidr) on a real K3s node.
    for h in testbed:
        addresses = tb.ssh(h.address, "ip -4 -o addr show scope global").stdout.split()
        site = [a for a in addresses if "/" in a and ipaddress.ip_interface(a) not in PODS]
        assert site == [f"{h.address}/{network.PREFIX}"], addresses
    # A host answering with another host's key is refused.
    first, second = testbed[0], testbed[1]
    wrong = tb.known_hosts().with_name("known_hosts.swapped")
    line = next(l for l in tb.known_hosts().read_text().splitlines() if l.startswith(second.address + " "))
    wrong.write_text(line.replace(second.address, first.address, 1) + "\n")
    result = os.system(
        f"ssh -i {tb.ssh_key()} -o UserKnownHostsFile={wrong} -o StrictHostKeyChecking=yes "
        f"-o BatchMode=yes root@{first.address} true 2>/dev/null"
    )
    assert result != 0


def test_up_after_a_crash_recovers_and_down_leaves_nothing(testbed):
    if os.environ.get("EDGEWASM_KEEP_TESTBED"):
        pytest.skip("EDGEWASM_KEEP_TESTBED is set")
    hosts = tb.up("server:amd64")
    # A crash: the state file is lost while the container keeps running.
    tb.state_file().unlink()
    assert tb.stray_processes()
    hosts = tb.up("server:amd64,agent:amd64")
    assert [tb.ssh(h.address, "hostname").stdout.strip() for h in hosts] == ["edge-server-1", "edge-agent-1"]
    tb.down()
    assert tb.stray_processes() == []
    assert _mounts() == []
    # Namespaces, links and firewall rules of the site network are gone with the hosts.
    assert [n for n in network.namespaces() if n.startswith("edgewasm-")] == []
    assert subprocess.run(["ip", "link", "show", network.OPERATOR_LINK], capture_output=True).returncode != 0
    assert network.CHAIN not in subprocess.run(["iptables", "-S"], capture_output=True, text=True).stdout
    assert not tb.hosts_dir().exists() or list(tb.hosts_dir().iterdir()) == []


def test_a_fleet_of_48_hosts_starts_and_stops_cleanly(testbed):
    """48 amd64 hosts on one machine (overlay roots over one base): each boots its own
    systemd and sshd (the inotify limits are raised for them), and down leaves nothing."""
    if os.environ.get("EDGEWASM_KEEP_TESTBED"):
        pytest.skip("EDGEWASM_KEEP_TESTBED is set")
    hosts = tb.up(",".join(["server:amd64"] + ["agent:amd64"] * 47), light=True)
    assert len({tb.ssh(h.address, "cat /etc/machine-id").stdout for h in hosts}) == 48
    tb.down()
    assert tb.stray_processes() == [] and _mounts() == []
    assert [n for n in network.namespaces() if n.startswith("edgewasm-")] == []
