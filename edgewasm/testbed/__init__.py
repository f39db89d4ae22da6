"""Local test bed: Debian "edge boxes" booted with systemd-nspawn, reached over SSH.

Each host is a systemd container on a copy-on-write overlay of a cached debootstrap
rootfs (one per architecture; arm64 runs through qemu-user binfmt), in its own network
namespace on an isolated site network with no route out (network.py). sshd listens on
the host's site address, with a host key generated here and written to a known_hosts
file, so pyinfra and Testinfra connect with host keys checked.

    edgewasm-testbed up            # default topology, see DEFAULT_TOPOLOGY
    edgewasm-testbed status
    edgewasm-testbed down
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from edgewasm.manifest import MANIFEST, Bundle
from edgewasm.testbed import network
from edgewasm.testbed.images import (CACHE, DEFAULT_SUITE, REAL_NODE_ARCHES, SUITES, TestbedError, _run, base_dir,
                                     build_base, ensure_binfmt)

PI_MODEL = "Raspberry Pi 4 Model B Rev 1.4"
PI_CMDLINE = (
    "console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 "
    "fsck.repair=yes rootwait quiet splash plymouth.ignore-serial-consoles"
)

TESTBED_BUNDLE = "bundles/testbed"
# Light test beds (big fleets, the HA test: no real node) deploy from a bundle whose K3s is
# the light stand-in for every arch: the catalogue's own release, for which the fixture
# mirror serves the stand-in (the real build exists only for the test bed's pin).
TESTBED_LIGHT_BUNDLE = "bundles/testbed-light"
# The test bed's bundles are signed as an operator signs theirs (edgewasm-bundle sign), by
# a key of this machine's; the inventory trusts it (edgewasm_bundle_signers).
BUNDLE_SIGNING_KEY = "secrets/testbed-bundle-key"
BUNDLE_SIGNERS = "secrets/testbed-bundle-signers"

# role:arch[:board]
# Both Debian releases in every run: the amd64 agent runs trixie (its crun and WasmEdge
# from the release), the server and the Pi bookworm.
DEFAULT_TOPOLOGY = "server:amd64,agent:amd64@trixie,agent:arm64:rpi4b"
FIRST_ADDRESS = 11  # 10.231.0.11 and up on the site network; .1 is the operator's machine

# Images K3s would take from its airgap images tarball, which the test bundle's (built here,
# no pull) carries under these names instead: K3s is told them (pause-image,
# helm-job-image) as an operator with a private registry would.
PAUSE_IMAGE = "edgewasm.invalid/fixture/pause:3.10"
HELM_JOB_IMAGE = "edgewasm.invalid/fixture/helm-installer:v3"
# K3s's packaged components whose images cannot be built here (and whose manifests a build
# from K3s's Go module does not carry): disabled as an operator would.
DISABLED_COMPONENTS = ["traefik", "metrics-server", "local-storage"]

# What a kubelet needs of a systemd-nspawn machine on this VM's cgroup v1 hierarchy:
# the controllers writable (nspawn binds them read-only) and a cgroup root of the
# node's own, so that two nodes' kubelets never clean up each other's pods. Run before
# every start of K3s (the machine's systemd may prune an empty cgroup meanwhile).
# K3s gives kubelet and containerd systemd's cgroup driver when systemd started it
# (INVOCATION_ID set); on this VM's cgroup v1 hierarchy the runwasi shims' container
# library and crun cannot use that driver (they manage cgroup v1 only directly), so the
# test bed's K3s gets the cgroupfs driver K3s picks for a K3s not started by systemd, and
# a cgroup root of the node's own, so that two nodes' kubelets never clean up each
# other's pods. The script runs before every start of K3s (the machine's systemd may
# prune an empty cgroup meanwhile).
CGROUP_SCRIPT = """#!/bin/sh
# FIXTURE (test bed): the machine's cgroup v1 controllers writable, as on real hardware.
for c in /sys/fs/cgroup/*/; do
  mount -o remount,bind,rw "$c" 2>/dev/null || true
  mkdir -p "$c{root}"
done
"""
CGROUP_DROP_IN = """# FIXTURE (test bed): cgroups for a kubelet in this machine (edgewasm.testbed).
[Service]
UnsetEnvironment=INVOCATION_ID
ExecStartPre=/usr/local/lib/edgewasm-testbed/cgroups
"""


def cgroup_root(name: str) -> str:
    return f"/edgewasm-testbed/{name}"


def real_node(host: "TestbedHost") -> bool:
    return host.kubernetes


@dataclass
class TestbedHost:
    __test__ = False  # not a pytest test class
    name: str
    role: str
    arch: str
    address: str
    board: str | None = None
    # Runs a real K3s node; else the light stand-in (its kubelet config, no Kubernetes).
    kubernetes: bool = False
    suite: str = DEFAULT_SUITE  # the Debian release it runs


def parse_topology(spec: str) -> list[TestbedHost]:
    """Turn ``server:amd64,agent:amd64@trixie,agent:arm64:rpi4b`` into hosts with names and
    addresses (``@suite``: the Debian release, bookworm unless given)."""
    hosts: list[TestbedHost] = []
    counts: dict[str, int] = {}
    for index, item in enumerate(filter(None, (s.strip() for s in spec.split(",")))):
        item_parts, _, suite = item.partition("@")
        parts = item_parts.split(":")
        if len(parts) not in (2, 3) or parts[0] not in ("server", "agent"):
            raise TestbedError(f"bad host spec {item!r}: expected role:arch[:board][@suite], role server|agent")
        suite = suite or DEFAULT_SUITE
        if suite not in SUITES:
            raise TestbedError(f"bad host spec {item!r}: the test bed runs Debian {' and '.join(SUITES)} only")
        role, arch = parts[0], parts[1]
        board = parts[2] if len(parts) == 3 else None
        if arch not in ("amd64", "arm64"):
            raise TestbedError(f"bad host spec {item!r}: the test bed builds amd64 and arm64 only")
        if board not in (None, "rpi4b"):
            raise TestbedError(f"bad host spec {item!r}: the only board simulated is rpi4b")
        kind = "pi" if board else role
        counts[kind] = counts.get(kind, 0) + 1
        name = f"edge-{kind}-{counts[kind]}"
        hosts.append(TestbedHost(name, role, arch, f"{network.SUBNET}.{FIRST_ADDRESS + index}", board,
                                 suite=suite))
    if not hosts:
        raise TestbedError("empty topology: give at least one role:arch")
    return hosts


# --- paths -----------------------------------------------------------------------------

def hosts_dir() -> Path:
    return CACHE / "hosts"


def bundle_signing_key(root: Path = Path(".")) -> Path:
    """The test bed's bundle-signing key (made once, 0600) and its allowed_signers file."""
    key, signers = root / BUNDLE_SIGNING_KEY, root / BUNDLE_SIGNERS
    if not key.exists():
        key.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "edgewasm-testbed-bundles", "-f", str(key)])
    if not signers.exists():
        signers.write_text(f"testbed-bundles {key.with_suffix('.pub').read_text().strip()}\n")
    return key


def state_file() -> Path:
    return CACHE / "testbed.json"


def ssh_dir() -> Path:
    return CACHE / "ssh"


def ssh_key() -> Path:
    return ssh_dir() / "id_ed25519"


def known_hosts() -> Path:
    return ssh_dir() / "known_hosts"


# --- hosts -----------------------------------------------------------------------------

def ensure_ssh_key() -> None:
    ssh_dir().mkdir(parents=True, exist_ok=True, mode=0o700)
    if not ssh_key().exists():
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "edgewasm-testbed", "-f", str(ssh_key())])


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve())
    found = []
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            point = line.split()[1].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return found


def _pids(pattern: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _supervisor_pids(root: Path) -> list[int]:
    return _pids(f"edgewasm-testbed-supervisor {root}")


def _nspawn_pids(root: Path) -> list[int]:
    return _pids(f"systemd-nspawn .*-D {root}/merged")


def _kill(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _power_off(root: Path) -> None:
    # Test hosts need no clean shutdown, and an emulated systemd may ignore nspawn's
    # poweroff request: stop the supervisor so nothing reboots the container, then kill
    # each container's init, which ends its whole pid namespace, and let nspawn clean up.
    _kill(_supervisor_pids(root), signal.SIGKILL)
    for nspawn in _nspawn_pids(root):
        children = subprocess.run(["pgrep", "-P", str(nspawn)], capture_output=True, text=True).stdout
        _kill([int(p) for p in children.split()], signal.SIGKILL)
    deadline = time.monotonic() + 20
    while _nspawn_pids(root) and time.monotonic() < deadline:
        time.sleep(0.2)
    _kill(_nspawn_pids(root), signal.SIGKILL)


def init_pid(name: str) -> int:
    """The pid (on the machine) of a running host's init."""
    nspawns = _nspawn_pids(hosts_dir() / name)  # the supervisor's script names nspawn too
    for nspawn in nspawns:
        children = subprocess.run(["pgrep", "-P", str(nspawn)], capture_output=True, text=True).stdout.split()
        inits = [int(c) for c in children if int(c) not in nspawns]
        if inits:
            return inits[0]
    raise TestbedError(f"{name} is not running")


def power_off(name: str) -> None:
    """Cut a host's power: every process of it dies at once, its disk stays as it was."""
    _power_off(hosts_dir() / name)


def power_on(host: TestbedHost) -> None:
    """Boot a powered-off host again from the disk it had, and wait until its boot is
    done: sshd answers before systemd has finished, and a deploy then meeting a systemd
    still starting units fails on ``daemon-reload``."""
    _supervise(host)
    wait_for_ssh(host)
    # Exits non-zero on "degraded" too; either way the boot is over.
    ssh(host.address, "timeout 300 systemctl is-system-running --wait", check=False)


def _stop_host(root: Path) -> None:
    _power_off(root)
    # nspawn leaves nothing mounted in our namespace, but a crash can leave the overlay.
    for point in sorted(_mounts_under(root), key=len, reverse=True):
        if subprocess.run(["umount", point]).returncode != 0:
            _run(["umount", "-l", point])
    shutil.rmtree(root, ignore_errors=True)


def stray_processes() -> list[int]:
    """Processes of any test-bed host, running or leaked."""
    return _pids(f"edgewasm-testbed-supervisor {hosts_dir()}") + _pids(f"systemd-nspawn .*-D {hosts_dir()}/")


def down() -> None:
    """Stop every test-bed host, including leftovers from a crashed run."""
    roots = set(hosts_dir().iterdir()) if hosts_dir().exists() else set()
    # Leaked containers whose directory is already gone (a crash mid-teardown).
    for pid in stray_processes():
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        for word in cmdline.split():
            if word.startswith(str(hosts_dir()) + "/"):
                roots.add(hosts_dir() / Path(word).relative_to(hosts_dir()).parts[0])
    for root in sorted(roots):
        _stop_host(root)
    network.down()
    state_file().unlink(missing_ok=True)
    known_hosts().unlink(missing_ok=True)


def _prepare_root(host: TestbedHost, root: Path, merged: Path) -> None:
    (merged / "etc/hostname").write_text(host.name + "\n")
    (merged / "etc/hosts").write_text(f"127.0.0.1 localhost\n{host.address} {host.name}\n")
    (merged / "etc/machine-id").write_text(hashlib.md5(host.name.encode() + os.urandom(8)).hexdigest() + "\n")
    (merged / "etc/ssh/sshd_config.d/edgewasm-testbed.conf").write_text(
        f"ListenAddress {host.address}\nHostKey /etc/ssh/ssh_host_ed25519_key\n"
        "PasswordAuthentication no\nPermitRootLogin prohibit-password\nUseDNS no\n"
    )
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{host.name}",
          "-f", str(merged / "etc/ssh/ssh_host_ed25519_key")])
    dot_ssh = merged / "root/.ssh"
    dot_ssh.mkdir(mode=0o700, exist_ok=True)
    shutil.copy(ssh_key().with_suffix(".pub"), dot_ssh / "authorized_keys")
    os.chmod(dot_ssh / "authorized_keys", 0o600)
    if real_node(host):
        script = merged / "usr/local/lib/edgewasm-testbed/cgroups"
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(CGROUP_SCRIPT.format(root=cgroup_root(host.name)))
        script.chmod(0o755)
        for unit in ("k3s", "k3s-agent"):
            drop_in = merged / f"etc/systemd/system/{unit}.service.d/edgewasm-testbed-cgroups.conf"
            drop_in.parent.mkdir(parents=True, exist_ok=True)
            drop_in.write_text(CGROUP_DROP_IN)
    if host.board == "rpi4b":
        # The kernel's device tree is what identifies a Pi; the test bed binds a copy
        # over /sys/firmware, and ships the Pi OS boot line in the Bookworm location.
        model = root / "firmware/devicetree/base/model"
        model.parent.mkdir(parents=True)
        model.write_bytes(PI_MODEL.encode() + b"\0")
        (merged / "boot/firmware").mkdir(parents=True, exist_ok=True)
        (merged / "boot/firmware/cmdline.txt").write_text(PI_CMDLINE + "\n")
        # A swap entry for preflight_swap = "disable" to comment out (never activated:
        # /proc/swaps is the machine's).
        with open(merged / "etc/fstab", "a") as fstab:
            fstab.write("/var/swap none swap sw 0 0\n")


SUPERVISOR = """
# edgewasm-testbed-supervisor {root}
# systemd-nspawn exits 133 when the container reboots: boot it again, like
# systemd-nspawn@.service does, and count the boots. Each host has its own network
# namespace (made by network.py, kept across reboots); CAP_NET_ADMIN and a writable
# /proc/sys let its sysctls land there.
while :; do
  date +%s >> {root}/boots
  SYSTEMD_NSPAWN_API_VFS_WRITABLE=1 systemd-nspawn --quiet -D {root}/merged -M {name} \\
    --register=no --keep-unit --boot --console=passive --capability={caps} \\
    --network-namespace-path={netns} {extra}
  rc=$?
  [ "$rc" -eq 133 ] || exit "$rc"
done
"""


def _start_host(host: TestbedHost) -> None:
    root = hosts_dir() / host.name
    base = base_dir(host.arch, host.suite)
    for sub in ("upper", "work", "merged"):
        (root / sub).mkdir(parents=True)
    _run(["mount", "-t", "overlay", "overlay", "-o",
          f"lowerdir={base},upperdir={root / 'upper'},workdir={root / 'work'}", str(root / "merged")])
    _prepare_root(host, root, root / "merged")
    network.host_up(host.name, int(host.address.rsplit(".", 1)[1]), host.address)
    _supervise(host)


def _supervise(host: TestbedHost) -> None:
    root = hosts_dir() / host.name
    extra = f"--bind-ro={root / 'firmware'}:/sys/firmware" if host.board else ""
    caps = "CAP_NET_ADMIN"
    if real_node(host):
        # kubelet reads /dev/kmsg (CAP_SYSLOG); runc's containers need the keyring calls.
        caps += ",CAP_SYSLOG"
        extra += " --bind=/dev/kmsg --system-call-filter=@keyring"
    script = SUPERVISOR.format(root=root, name=host.name, netns=network.netns_path(host.name), extra=extra, caps=caps)
    with open(root / "console.log", "ab") as log:
        subprocess.Popen(["bash", "-c", script, f"edgewasm-testbed-supervisor {root}"],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)


def _host_key_line(host: TestbedHost) -> str:
    pub = (hosts_dir() / host.name / "merged/etc/ssh/ssh_host_ed25519_key.pub").read_text().split()
    return f"{host.address} {pub[0]} {pub[1]}\n"


def wait_for_ssh(host: TestbedHost, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host.address, 22), timeout=2) as sock:
                if sock.recv(64).startswith(b"SSH-"):
                    break
        except OSError:
            pass
        time.sleep(0.5)
    else:
        log = (hosts_dir() / host.name / "console.log").read_text(errors="replace")[-2000:]
        raise TestbedError(f"{host.name}: sshd did not answer on {host.address}:22 in {timeout:.0f}s\n{log}")
    ssh(host.address, "true")


def ssh(address: str, command: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command on a test-bed host with the test bed's key and known_hosts."""
    return subprocess.run(
        ["ssh", "-i", str(ssh_key()), "-o", f"UserKnownHostsFile={known_hosts()}",
         "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
         f"root@{address}", command],
        check=check, capture_output=True, text=True,
    )


def _raise_inotify_limits(hosts: int) -> None:
    """Each host's systemd holds several inotify instances, all counted against root on
    the machine: at the kernel's default of 128 the 22nd host's systemd dies with "Failed
    to allocate manager object: Too many open files". Raised for the topology, never
    lowered (the machine may need more for other reasons)."""
    for key, wanted in (("fs.inotify.max_user_instances", 128 + 16 * hosts),
                        ("fs.inotify.max_user_watches", 65536 + 8192 * hosts)):
        path = Path("/proc/sys") / key.replace(".", "/")
        if int(path.read_text()) < wanted:
            path.write_text(f"{wanted}\n")


def up(topology: str = DEFAULT_TOPOLOGY, log=sys.stderr, reuse: bool = False, light: bool = False) -> list[TestbedHost]:
    """Start fresh hosts for ``topology`` (stopping any earlier test bed first).

    Machines of REAL_NODE_ARCHES run real K3s nodes (the bundle's K3s is real for them),
    unless ``light`` (big fleets: the light K3s stand-in).
    With ``reuse``, a running test bed of the same topology is kept as it is.
    """
    hosts = parse_topology(topology)
    for h in hosts:
        h.kubernetes = not light and h.arch in REAL_NODE_ARCHES
    if reuse and running_hosts() == hosts and all(_nspawn_pids(hosts_dir() / h.name) for h in hosts):
        print(f"testbed: reusing {len(hosts)} running hosts", file=log)
        return hosts
    # A host's root and what is made in it carry the creator's umask: under 077 (seen: a
    # caller that set it) its non-root daemons (D-Bus) could read nothing, and systemd
    # could not reboot it.
    umask = os.umask(0o022)
    try:
        return _up(hosts, log)
    finally:
        os.umask(umask)


def _up(hosts: list[TestbedHost], log) -> list[TestbedHost]:
    for arch, suite in sorted({(h.arch, h.suite) for h in hosts}):
        build_base(arch, log=log, in_use=lambda: bool(_mounts_under(hosts_dir())), suite=suite)
    down()
    for arch in sorted({h.arch for h in hosts}):
        ensure_binfmt(arch)
    ensure_ssh_key()
    _raise_inotify_limits(len(hosts))
    network.site_up()
    for host in hosts:
        _start_host(host)
    known_hosts().write_text("".join(_host_key_line(h) for h in hosts))
    for host in hosts:
        wait_for_ssh(host)
    state_file().write_text(json.dumps({"hosts": [asdict(h) for h in hosts]}, indent=2) + "\n")
    print(f"testbed: {len(hosts)} hosts up: " + ", ".join(f"{h.name}={h.address}" for h in hosts), file=log)
    return hosts


def running_hosts() -> list[TestbedHost]:
    if not state_file().exists():
        return []
    return [TestbedHost(**h) for h in json.loads(state_file().read_text())["hosts"]]


def inventory_groups(overrides: dict[str, dict] | None = None, common: dict | None = None) -> dict[str, list]:
    """pyinfra inventory groups for the running test bed; ``common`` adds data to every
    host, ``overrides`` to hosts by name."""
    overrides = overrides or {}

    def entry(h: TestbedHost):
        data = {
            "ssh_hostname": h.address,
            "ssh_user": "root",
            "ssh_key": str(ssh_key()),
            "ssh_known_hosts_file": str(known_hosts()),
            "ssh_strict_host_key_checking": "yes",
            "edgewasm_arch": h.arch,
            # The host's address on the site network, where agents reach their server.
            "k3s_node_ip": h.address,
            # The site network has no route out: there are no apt lists to refresh.
            "preflight_apt_cache_time": 0,
            # Artifacts come from the offline bundle built from the fixture mirror
            # (python -m tests.fixtures.testbed_bundle): the hosts have no internet.
            "edgewasm_bundle": bundle,
            "edgewasm_bundle_signers": BUNDLE_SIGNERS,
            # The registry of the images the checks run (hello-wasm).
            "policy_allowed_repos": ["docker.io/edgewasm/"],
            # The bed is where edgewasm-bench is proven (tests/testbed/test_bench.py): its
            # workload images are on every host, as an operator measuring a fleet asks.
            "edgewasm_bench_images": True,
            # k3s_protect_kernel_defaults stays on (its default) on every machine: the values
            # it needs are not namespaced, so preflight's sysctl -w sets them on this VM's
            # kernel through each machine's writable /proc/sys (SYSTEMD_NSPAWN_API_VFS_WRITABLE,
            # SUPERVISOR above). They are the very values a kubelet without the flag writes
            # itself at every start (vm.overcommit_memory=1, kernel.panic=10, ...), so a bed
            # with a real node has always set them here; a light bed now sets them too.
            **(real_node_data(h) if real_node(h) else {}),
            # The test bed's word to the checks: this machine's K3s stand-in is the light
            # one (no kubelet), so no node of this name will join; the host's own check
            # holds its `k3s --version` to it.
            "testbed_k3s_light": not real_node(h),
            # The test bed's word to the checks and the bench: handlers this machine is set
            # up for that run no Wasm here, and why (edgewasm.testbed.handlers_left_out).
            "testbed_handlers_left_out": handlers_left_out(h),
            # A trixie host takes the crun route with the release's crun (+WASM:wasmedge)
            # and WasmEdge (edgewasm_wasm_runtimes_from's default), from the bundle.
            **({"edgewasm_crun": True} if h.suite == "trixie" else {}),
            **(common or {}),
            **overrides.get(h.name, {}),
        }
        # The K3s the bundle carries (on the real bundle, a build of K3s's Go module, not
        # a release), unless the inventory pins one itself.
        k3s = bundle_k3s_version(data["edgewasm_bundle"])
        if k3s and "artifact_versions" not in data:
            data["artifact_versions"] = {"k3s": k3s}
        return h.name, data

    hosts = running_hosts()
    bundle = TESTBED_BUNDLE if any(real_node(h) for h in hosts) else TESTBED_LIGHT_BUNDLE
    return {
        "k3s_servers": [entry(h) for h in hosts if h.role == "server"],
        "k3s_agents": [entry(h) for h in hosts if h.role == "agent"],
        "raspberry_pi": [h.name for h in hosts if h.board == "rpi4b"],
    }


# The test bundle's wasmedge shim (tests/shims/wasmedge) links Debian trixie's libwasmedge0,
# built against glibc 2.38; upstream's own shim is a static musl build that runs anywhere.
WASMEDGE_SHIM_RELEASES = ("trixie",)


def handlers_left_out(h: TestbedHost) -> dict[str, str]:
    """{handler: why it runs no Wasm on this machine}: the light stand-in runs no pods; the
    wasmtime shim is real on real nodes (tests/shims/wasmtime), the wasmedge shim on real
    nodes of the releases whose libwasmedge0 it links."""
    if not real_node(h):
        return {handler: "the test bed's light K3s stand-in runs no pods, and its shims are FIXTURES"
                for handler in ("wasmtime", "wasmedge")}
    if h.suite not in WASMEDGE_SHIM_RELEASES:
        return {"wasmedge": f"the test bed's wasmedge shim links Debian trixie's libwasmedge0 (glibc 2.38), which "
                            f"Debian {h.suite} cannot load; it runs on the bed's trixie nodes"}
    return {}


def real_node_data(h: TestbedHost) -> dict:
    """What a real K3s node in a systemd-nspawn machine on this VM needs of the inventory."""
    return {
        # This VM's cgroups are v1, which kubelet refuses unless told (K3s's kubelet-arg
        # does the same on real v1 hosts); each node its own cgroup root.
        "k3s_kubelet_args": ["fail-cgroupv1=false", f"cgroup-root={cgroup_root(h.name)}"],
        # The machine's root is an overlay: K3s refuses overlayfs on it.
        "k3s_snapshotter": "native",
        # The hosts share the site's one L2 network (no vxlan module in a container), which
        # has no default route for flannel to find its interface by.
        "k3s_flannel_backend": "host-gw",
        "k3s_flannel_iface": "eth0",
        "k3s_pause_image": PAUSE_IMAGE,
        "k3s_helm_job_image": HELM_JOB_IMAGE,
        "k3s_disable": DISABLED_COMPONENTS,
    }


def bundle_k3s_version(bundle: str = TESTBED_BUNDLE) -> str | None:
    """The K3s version a test bundle carries: the test bed runs what its bundle has."""
    if not (Path(bundle) / MANIFEST).is_file():
        return None
    # Bundle.open reads a manifest once per process (again only when rewritten): one
    # read for every host's entry.
    versions = {e["version"] for e in Bundle.open(bundle).manifest.get("artifacts", [])
                if e.get("component") == "k3s" and e.get("name") == "binary"}
    return versions.pop() if len(versions) == 1 else None


def boot_count(name: str) -> int:
    boots = hosts_dir() / name / "boots"
    return len(boots.read_text().split()) if boots.exists() else 0
