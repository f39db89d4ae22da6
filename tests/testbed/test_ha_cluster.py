"""HA on real K3s: three amd64 servers with embedded etcd (cluster-init on the first, the
others joining) and an agent; etcd's members and health read with etcdctl through the
rolling restart of every server; a server that does not come back stops the rollout.

The arm64 Pi is not in it: real K3s cannot run under qemu-user (docs/testbed.md)."""

import json
import os
import subprocess
import threading
import time

import pytest

from edgewasm import testbed as tb
from tests.fixtures import gotools
from tests.testbed.conftest import start_testbed
from tests.testbed.helpers import (
    ROOT,
    compliance,
    deploy,
    file_digest,
    finish,
    main_pids,
    sha256,
    start_deploy,
    write_inventory,
)

pytestmark = pytest.mark.testbed

HA_TOPOLOGY = "server:amd64,server:amd64,server:amd64,agent:amd64"
ETCD_TLS = "var/lib/rancher/k3s/server/tls/etcd"


@pytest.fixture(scope="module")
def ha_testbed():
    hosts = start_testbed(HA_TOPOLOGY)
    yield hosts
    if not os.environ.get("EDGEWASM_KEEP_TESTBED"):
        tb.down()


@pytest.fixture(scope="module")
def ha_inventory(ha_testbed, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ha")
    # No token yet: the run generates one while pyinfra prepares all hosts at once, and
    # every host must still end up with the same one.
    tokens = tmp / "ha.token", tmp / "ha.agent-token"
    common = {"k3s_ha": True, "k3s_token_file": str(tokens[0]), "k3s_agent_token_file": str(tokens[1])}
    return write_inventory(tmp / "ha.py", common=common), tokens, common


def servers(hosts):
    return [h for h in hosts if h.role == "server"]


def etcdctl(hosts, *args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    """etcdctl against every server's etcd, with the client certificate K3s made on the
    first (read from its disk, as an operator would on the node)."""
    tls = tb.hosts_dir() / servers(hosts)[0].name / "upper" / ETCD_TLS
    endpoints = ",".join(f"https://{h.address}:2379" for h in servers(hosts))
    return subprocess.run([gotools.need("etcdctl"), f"--endpoints={endpoints}", f"--cacert={tls}/server-ca.crt",
                           f"--cert={tls}/client.crt", f"--key={tls}/client.key", "--command-timeout=3s",
                           "--dial-timeout=2s", *args], capture_output=True, text=True, timeout=timeout)


def healthy_endpoints(hosts) -> list[str]:
    """The servers whose etcd answers a linearizable read (etcdctl's health check)."""
    out = etcdctl(hosts, "endpoint", "health", "-w", "json").stdout
    try:
        return sorted(e["endpoint"].split("//")[1].split(":")[0] for e in json.loads(out) if e.get("health"))
    except json.JSONDecodeError:
        return []


def settles_at(hosts, count: int, timeout: float = 90) -> list[str]:
    """The healthy members once ``count`` answer: a server K3s calls ready may still be
    catching up with its etcd peers for a moment (2 vCPU for four nodes)."""
    deadline = time.monotonic() + timeout
    while len(healthy := healthy_endpoints(hosts)) != count:
        assert time.monotonic() < deadline, f"etcd has {len(healthy)} healthy members, not {count}: {healthy}"
        time.sleep(2)
    return healthy


class HealthWatch(threading.Thread):
    """etcd's healthy members, sampled about twice a second while a run goes on."""

    def __init__(self, hosts):
        super().__init__(daemon=True)
        self.hosts, self.samples, self.done = hosts, [], threading.Event()

    def run(self):
        while not self.done.is_set():
            self.samples.append((time.monotonic(), healthy_endpoints(self.hosts)))
            self.done.wait(0.5)

    def stop(self):
        self.done.set()
        self.join()
        return self.samples


def transitions(samples) -> list[str]:
    """When the set of healthy etcd members changed, relative to the first sample."""
    out, last = [], None
    for at, healthy in samples:
        if healthy != last:
            out.append(f"{at - samples[0][0]:6.1f}s {len(healthy)} healthy {healthy}")
            last = healthy
    return out


def test_ha_cluster_converges_and_checks_pass(ha_testbed, ha_inventory):
    inventory, (token_file, agent_token_file), _ = ha_inventory
    code, results, log = deploy(inventory)
    assert code == 0, log[-5000:]
    first, *others = servers(ha_testbed)
    assert "cluster-init: true" in tb.ssh(first.address, "cat /etc/rancher/k3s/config.yaml").stdout
    for h in others + [h for h in ha_testbed if h.role == "agent"]:
        config = tb.ssh(h.address, "cat /etc/rancher/k3s/config.yaml").stdout
        assert f'server: "https://{first.address}:6443"' in config and "cluster-init" not in config
    tokens = {file_digest(h.address, "/etc/rancher/k3s/cluster-token") for h in servers(ha_testbed)}
    assert tokens == {sha256(token_file.read_bytes())} and oct(token_file.stat().st_mode)[-3:] == "600"
    agent_tokens = {file_digest(h.address, "/etc/rancher/k3s/agent-token") for h in ha_testbed}
    assert agent_tokens == {sha256(agent_token_file.read_bytes())}
    assert oct(agent_token_file.stat().st_mode)[-3:] == "600"
    assert agent_tokens != tokens
    # Three voting members, one per server, each at its server's address.
    members = json.loads(etcdctl(ha_testbed, "member", "list", "-w", "json").stdout)["members"]
    print("etcd members:", etcdctl(ha_testbed, "member", "list", "-w", "table").stdout)
    assert sorted(u.split("//")[1].split(":")[0] for m in members for u in m["peerURLs"]) == \
        sorted(h.address for h in servers(ha_testbed))
    assert not any(m.get("isLearner") for m in members)
    settles_at(ha_testbed, 3)
    nodes = tb.ssh(first.address, "k3s kubectl get nodes -o name").stdout.split()
    assert sorted(nodes) == sorted(f"node/{h.name}" for h in ha_testbed)
    run = compliance(ROOT / "reports" / "check-ha", inventory)
    assert run.code == 0, run.output[-4000:]
    before = main_pids(ha_testbed)
    code, results, log = deploy(inventory)
    assert code == 0 and results["totals"]["success"] == 0, log[-3000:]
    assert main_pids(ha_testbed) == before


def test_a_rolling_restart_of_the_servers_keeps_etcd_quorum(ha_testbed, ha_inventory, tmp_path):
    """A config change every node restarts for: the servers restart one at a time, each
    ready before the next goes, so etcd never has fewer than two of its three members."""
    common = ha_inventory[2]
    zone = write_inventory(tmp_path / "ha-zone.py", common={**common, "k3s_node_labels": {"edge.example/zone": "r"}})
    before = main_pids(ha_testbed)
    watch = HealthWatch(ha_testbed)
    watch.start()
    code, results, log = finish(start_deploy(zone))
    samples = watch.stop()
    assert code == 0, log[-5000:]
    after = main_pids(ha_testbed)
    assert all(after[h.name] != before[h.name] for h in ha_testbed), "every node restarted"
    print(f"etcd health through the roll ({len(samples)} samples over {samples[-1][0] - samples[0][0]:.0f}s):",
          *transitions(samples), sep="\n  ")
    assert samples and min(len(healthy) for _, healthy in samples) >= 2, transitions(samples)
    started = sorted(int(tb.ssh(h.address, "systemctl show -p ExecMainStartTimestampMonotonic --value k3s").stdout)
                     for h in servers(ha_testbed))
    assert len(set(started)) == 3
    settles_at(ha_testbed, 3)
    code, results, log = deploy(zone)
    assert code == 0 and results["totals"]["success"] == 0, log[-3000:]


def test_a_server_that_does_not_come_back_stops_the_rollout(ha_testbed, ha_inventory, tmp_path):
    """The second server cannot start again: it fails its readiness wait, no node after
    it restarts, and etcd keeps quorum on the other two. Repaired, the next run finishes
    the rollout. (The servers after the first restart one at a time in pyinfra's order,
    which is not the inventory's: the third server may have gone before the second.)"""
    common = ha_inventory[2]
    first, second, third = servers(ha_testbed)
    agent = next(h for h in ha_testbed if h.role == "agent")
    broken = "/etc/rancher/k3s/config.yaml.d/99-broken.yaml"
    tb.ssh(second.address, f"mkdir -p /etc/rancher/k3s/config.yaml.d && printf 'token-file: /nonexistent\\n' > {broken}")
    failing = write_inventory(tmp_path / "ha-fail.py", common={**common, "k3s_ready_timeout": 20,
                                                                "k3s_node_labels": {"edge.example/zone": "s"}})
    before = main_pids(ha_testbed)
    code, results, log = deploy(failing)
    try:
        assert code != 0
        assert f"{second.name}: k3s.service not ready after 20s" in log, log[-4000:]
        after = main_pids(ha_testbed)
        assert after[first.name] != before[first.name], "the first server restarted"
        stopped = [agent] + ([third] if after[third.name] == before[third.name] else [])
        for h in stopped:
            assert f"{h.name}: rollout stopped: {second.name} did not get ready" in log, log[-4000:]
            assert after[h.name] == before[h.name], f"{h.name} restarted after the rollout stopped"
        assert settles_at(ha_testbed, 2) == sorted([first.address, third.address]), "quorum held on the two others"
    finally:
        tb.ssh(second.address, f"rm -f {broken}")
    repaired = write_inventory(tmp_path / "ha-repaired.py",
                               common={**common, "k3s_node_labels": {"edge.example/zone": "s"}})
    code, results, log = deploy(repaired)
    assert code == 0, log[-4000:]
    settles_at(ha_testbed, 3)
    code, results, log = deploy(repaired)
    assert code == 0 and results["totals"]["success"] == 0, log[-3000:]

