"""Faults in the middle of a run, each really injected on the test bed (amd64 server and
agent, arm64 Raspberry Pi): a host losing power mid-upload, a dropped SSH connection, a
full disk, a corrupted cache, a reboot mid-run, the operator's Ctrl-C between a change and
its restart or reboot. Each test asserts the host's state after the re-run.

The tests run in file order on the shared default test bed (conftest.SHARED_BED), which
the first converges (from whatever the module before left).
"""

import time

import pytest

from edgewasm import testbed as tb
from edgewasm.manifest import Bundle
from tests.testbed.helpers import (
    deploy,
    file_digest,
    finish,
    host_mount,
    main_pids,
    start_deploy,
    write_inventory,
)

pytestmark = pytest.mark.testbed

CACHE = "/var/lib/edgewasm/artifacts"
MARKER = "/var/lib/edgewasm/reboot-pending"


def by_name(hosts, name):
    return next(h for h in hosts if h.name == name)


def agent(hosts):
    return next(h for h in hosts if h.role == "agent" and not h.board)


def pi(hosts):
    return next(h for h in hosts if h.board == "rpi4b")


def artifact(component: str, arch: str) -> dict:
    """The bundle's manifest entry for a component's file on ``arch``."""
    files = Bundle.open(tb.TESTBED_BUNDLE).manifest["artifacts"]
    return next(f for f in files if f["component"] == component and f["arch"] == arch)


def ops_changed_on(results, name: str) -> list[str]:
    """The operations that changed host ``name``, without their deploys' prefixes."""
    return sorted(op["name"].rsplit(" | ", 1)[-1] for op in results["operations"] if name in op["success"])


def converged(inventory="inventories/testbed.py"):
    code, results, log = deploy(inventory)
    assert code == 0, log[-5000:]
    return results


def test_first_run_converges(testbed):
    converged()
    assert deploy()[1]["totals"]["success"] == 0


def test_a_host_losing_power_mid_upload_never_holds_a_partial_file(testbed):
    """The largest artifact is taken from one agent's cache; while the run uploads it
    again, the agent loses power. Its disk then holds no file at the artifact's path (the
    bytes went to a hidden name beside it); the others converge; the re-run uploads that
    one artifact only."""
    target = agent(testbed)
    wasmtime = artifact("wasmtime", target.arch)
    dest = wasmtime["dest"]
    tb.ssh(target.address, f"rm -f {dest}")
    upper = tb.hosts_dir() / target.name / "upper"
    directory, name = dest.rsplit("/", 1)
    partial = upper / directory.lstrip("/") / f".{name}.edgewasm-upload"
    run = start_deploy()
    deadline = time.monotonic() + 600
    while not (partial.exists() and partial.stat().st_size > 0):
        assert run.poll() is None and time.monotonic() < deadline, "the upload never started"
        time.sleep(0.001)
    tb.power_off(target.name)
    code, results, log = finish(run)
    assert 0 < partial.stat().st_size < wasmtime["size"], "power went mid-upload"
    assert not (upper / dest.lstrip("/")).exists(), "no partial file at the artifact's path"
    assert code != 0 and results["failed_hosts"] == [target.name]
    assert f"{target.name}: " in log.split("hosts converged")[-1], "the summary names the host"

    tb.power_on(target)
    tb.ssh(target.address, "touch /run/edgewasm-rerun")
    code, results, log = deploy()
    assert code == 0, log[-5000:]
    # Judged on the host: pyinfra's results name an operation by one of its names only,
    # and one call of the artifact loop is wasmtime on this host, WasmEdge's tarball on
    # the bookworm hosts (this one takes WasmEdge from trixie).
    uploads = [n for n in ops_changed_on(results, target.name) if n.startswith("Artifact")]
    assert len(uploads) == 1, uploads
    assert tb.ssh(target.address, f"find {CACHE} -type f -cnewer /run/edgewasm-rerun").stdout.split() == [dest]
    assert file_digest(target.address, dest) == wasmtime["sha256"]
    assert tb.ssh(target.address, f"find {CACHE} -name '*.edgewasm-upload'").stdout == ""
    assert deploy()[1]["totals"]["success"] == 0


@pytest.mark.parametrize("operation,where", [
    ("Unpack wasmtime", "pi"),
    ("Restart K3s agents in batches", "agent"),
])
def test_a_dropped_ssh_connection_mid_step_converges_on_the_rerun(testbed, tmp_path, operation, where):
    """The host's sshd drops every connection a moment into the step: the run fails that
    host; the re-run finishes the step (a whole unpacked tree, K3s running the new config)
    and the run after changes nothing."""
    target = pi(testbed) if where == "pi" else agent(testbed)
    inventory = "inventories/testbed.py"
    if where == "pi":
        tb.ssh(target.address, "rm -rf /opt/edgewasm/wasmtime")
    else:  # a config change the agent must restart for, cut in its restart
        inventory = write_inventory(tmp_path / "zone.py", {target.name: {"k3s_node_labels": {"edge.example/zone": "d"}}})
    code, results, log = deploy(inventory, fault=f"cut-ssh-at:{target.name}:{operation}")
    assert code != 0 and target.name in results["failed_hosts"], log[-5000:]
    tb.wait_for_ssh(target)
    converged(inventory)
    unit = "k3s-agent"
    assert tb.ssh(target.address, f"systemctl is-active {unit}").stdout.strip() == "active"
    if where == "pi":
        tree = tb.ssh(target.address, "ls /opt/edgewasm/wasmtime/*/").stdout.split()
        assert "wasmtime" in tree and not any(".edgewasm" in t and "new" in t for t in tree)
        assert tb.ssh(target.address, "/usr/local/bin/wasmtime --version").stdout.startswith("wasmtime")
    else:
        assert '"edge.example/zone=d"' in tb.ssh(target.address, "cat /etc/rancher/k3s/config.yaml").stdout
    assert deploy(inventory)[1]["totals"]["success"] == 0
    if where == "agent":
        converged()


@pytest.mark.parametrize("path,size", [(CACHE, "4m"), ("/var/lib/rancher", "64m")])
def test_a_full_disk_is_refused_naming_host_path_and_space(testbed, path, size):
    """A small filesystem mounted over the artifact cache or K3s's data: the host is
    refused before anything is written there, naming host, path and the space needed; the
    others converge."""
    target = agent(testbed)
    # A running node keeps writing to K3s's data (containerd, kubelet): over that, the
    # small disk is the one the node has from boot, so the node is stopped meanwhile.
    node = path.startswith("/var/lib/rancher")
    if node:
        tb.ssh(target.address, "systemctl stop k3s-agent")
    host_mount(target.name, f"mount -t tmpfs -o size={size} edgewasm-small {path}")
    try:
        code, results, log = deploy()
        assert code != 0 and results["failed_hosts"] == [target.name]
        assert f"{target.name}: only " in log and f"free at {path}" in log and "needed" in log, log[-4000:]
        assert tb.ssh(target.address, f"ls -A {path}").stdout == "", "nothing half-written"
    finally:
        host_mount(target.name, f"umount {path}")
        if node:
            tb.ssh(target.address, "systemctl start k3s-agent && "
                                   "until systemctl is-active --quiet k3s-agent; do sleep 1; done")
    code, results, log = deploy()
    assert code == 0 and results["totals"]["success"] == 0, log[-6000:]


def test_a_corrupted_cached_artifact_is_replaced(testbed):
    target = agent(testbed)
    k3s = artifact("k3s", target.arch)
    before = main_pids(testbed)
    tb.ssh(target.address, f"printf 'bit rot' | dd of={k3s['dest']} bs=1 seek=1000 conv=notrunc status=none")
    assert file_digest(target.address, k3s["dest"]) != k3s["sha256"]
    results = converged()
    assert ops_changed_on(results, target.name) == [f"Artifact k3s {k3s['name']}"]
    assert file_digest(target.address, k3s["dest"]) == k3s["sha256"]
    assert main_pids(testbed) == before, "the installed binary was right all along"


def test_a_host_rebooted_mid_run_is_reported_and_the_rerun_converges(testbed, tmp_path):
    target = agent(testbed)
    boots = tb.boot_count(target.name)
    inventory = write_inventory(tmp_path / "zone.py", {target.name: {"k3s_node_labels": {"edge.example/zone": "e"}}})
    code, results, log = deploy(inventory, fault=f"reboot-at:{target.name}:Write the K3s config")
    assert code != 0 and results["failed_hosts"] == [target.name], log[-5000:]
    assert target.name in log.split("hosts converged")[-1], "the summary names the host"
    tb.wait_for_ssh(target)
    assert tb.boot_count(target.name) == boots + 1
    converged(inventory)
    assert '"edge.example/zone=e"' in tb.ssh(target.address, "cat /etc/rancher/k3s/config.yaml").stdout
    assert deploy(inventory)[1]["totals"]["success"] == 0
    converged()


def test_ctrl_c_between_the_k3s_config_and_its_restart_restarts_that_host_on_the_rerun(testbed, tmp_path):
    target = agent(testbed)
    before = main_pids(testbed)
    inventory = write_inventory(tmp_path / "zone.py", {target.name: {"k3s_node_labels": {"edge.example/zone": "f"}}})
    code, _, log = deploy(inventory, fault=f"sigint-after:{target.name}:Write the K3s config")
    assert code != 0
    assert '"edge.example/zone=f"' in tb.ssh(target.address, "cat /etc/rancher/k3s/config.yaml").stdout
    assert main_pids(testbed) == before, "interrupted before any restart"
    results = converged(inventory)
    after = main_pids(testbed)
    assert after[target.name] != before[target.name]
    assert {n: p for n, p in after.items() if n != target.name} == {
        n: p for n, p in before.items() if n != target.name}, "only that host restarted"
    assert ops_changed_on(results, target.name) == ["Restart K3s agents in batches"]
    assert deploy(inventory)[1]["totals"]["success"] == 0
    converged()


def test_ctrl_c_between_the_pi_cmdline_and_its_reboot_reboots_that_pi_on_the_rerun(testbed):
    target = pi(testbed)
    boots = {h.name: tb.boot_count(h.name) for h in testbed}
    tb.ssh(target.address, f"printf '%s\\n' '{tb.PI_CMDLINE}' > /boot/firmware/cmdline.txt")
    code, _, log = deploy(fault=f"sigint-after:{target.name}:Enable the memory cgroup")
    assert code != 0
    assert "cgroup_enable=memory" in tb.ssh(target.address, "cat /boot/firmware/cmdline.txt").stdout
    assert tb.ssh(target.address, f"test -s {MARKER}", check=False).returncode == 0, "the reboot is owed"
    assert {h.name: tb.boot_count(h.name) for h in testbed} == boots, "interrupted before the reboot"
    results = converged()
    assert {h.name: tb.boot_count(h.name) for h in testbed} == {**boots, target.name: boots[target.name] + 1}
    assert "Reboot for the new kernel command line" in ops_changed_on(results, target.name)
    assert tb.ssh(target.address, f"test -e {MARKER}", check=False).returncode == 1
    assert deploy()[1]["totals"]["success"] == 0
