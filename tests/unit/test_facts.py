"""Each fact parses its command's real output; one case per shape seen on hosts."""

import pytest
from pyinfra.facts.server import Arch, KernelVersion, LinuxDistribution

from edgewasm.arch import k3s_arch
from facts.host import (ActiveSwap, BoardModel, BootId, Cgroups, FreeDisk, KernelModuleStates, PendingReboot,
                        PiBootCmdline)
from facts.k3s import UnitFileEnabled
from facts.runtimes import ExtractedFrom, NewerThan

PI_OS_RELEASE = """PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
"""

UBUNTU_OS_RELEASE = """NAME="Ubuntu"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
ID=ubuntu
ID_LIKE=debian
VERSION_ID="22.04"
"""

PROC_CGROUPS_V2 = """#subsys_name\thierarchy\tnum_cgroups\tenabled
cpuset\t0\t83\t1
cpu\t0\t83\t1
memory\t0\t83\t1
pids\t0\t83\t1"""

PROC_CGROUPS_PI_NO_MEMORY = """#subsys_name\thierarchy\tnum_cgroups\tenabled
cpuset\t0\t60\t1
cpu\t0\t60\t1
memory\t0\t60\t0"""

CASES = [
    (BootId, "4f0a3a6e-2a51-4c3f-9f4e-6a1d2b0c9e11\n", {}, "4f0a3a6e-2a51-4c3f-9f4e-6a1d2b0c9e11"),
    (BootId, "", {}, ""),
    (PendingReboot, "4f0a3a6e 4f0a3a6e\n", {"marker": "/var/lib/edgewasm/reboot-pending"}, "pending"),
    (PendingReboot, "4f0a3a6e 9b1c2d3e\n", {"marker": "/var/lib/edgewasm/reboot-pending"}, "done"),
    (PendingReboot, " 9b1c2d3e\n", {"marker": "/var/lib/edgewasm/reboot-pending"}, "pending"),
    (PendingReboot, "", {"marker": "/var/lib/edgewasm/reboot-pending"}, ""),
    (NewerThan, "/etc/ld.so.conf.d/edgewasm-wasmedge.conf\n", {"reference": "/etc/ld.so.cache", "paths": ["/a"]},
     ["/etc/ld.so.conf.d/edgewasm-wasmedge.conf"]),
    (NewerThan, "", {"reference": "/etc/ld.so.cache", "paths": ["/a"]}, []),
    (ExtractedFrom, "a" * 64, {"directory": "/opt/edgewasm/wasmtime/49.0.3"}, "a" * 64),
    (UnitFileEnabled, "enabled\n", {"unit": "k3s-agent.service"}, "enabled"),
    (UnitFileEnabled, "disabled\n", {"unit": "k3s-agent.service"}, "disabled"),
    (UnitFileEnabled, "", {"unit": "k3s-agent.service"}, ""),
    (Cgroups, "cgroup2fs\n" + PROC_CGROUPS_V2, {}, {"version": 2, "memory": True}),
    (Cgroups, "cgroup2fs\n" + PROC_CGROUPS_PI_NO_MEMORY, {}, {"version": 2, "memory": False}),
    (Cgroups, "tmpfs\n" + PROC_CGROUPS_V2, {}, {"version": 1, "memory": True}),
    (BoardModel, "Raspberry Pi 4 Model B Rev 1.4", {}, "Raspberry Pi 4 Model B Rev 1.4"),
    (BoardModel, "", {}, ""),
    (PiBootCmdline, "/boot/firmware/cmdline.txt\nconsole=serial0,115200 root=PARTUUID=4e639091-02 rootwait\n", {},
     {"path": "/boot/firmware/cmdline.txt", "line": "console=serial0,115200 root=PARTUUID=4e639091-02 rootwait"}),
    (PiBootCmdline, "", {}, {}),
    (ActiveSwap, "Filename\tType\tSize\tUsed\tPriority\n/var/swap file\t102396\t0\t-2", {},
     [{"name": "/var/swap", "type": "file", "size_kb": 102396}]),
    (ActiveSwap, "Filename\tType\tSize\tUsed\tPriority", {}, []),
    (FreeDisk, "/var/lib\n/dev/mmcblk0p2  30358348 4201476  24838312      15% /", {"path": "/var/lib/rancher"},
     {"measured_at": "/var/lib", "free_bytes": 24838312 * 1024}),
    (KernelModuleStates, "overlay active\nbr_netfilter loadable\nip_vs missing", {"modules": ["overlay"]},
     {"overlay": "active", "br_netfilter": "loadable", "ip_vs": "missing"}),
]


@pytest.mark.parametrize("fact_cls,output,kwargs,expected", CASES,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)])
def test_fact_parses(fact_cls, output, kwargs, expected):
    fact = fact_cls()
    fact.command(**kwargs)  # the command renders for these arguments
    result = fact.process(output.splitlines())
    if expected is not None:
        assert result == expected


@pytest.mark.parametrize("machine,arch", [("x86_64", "amd64"), ("aarch64", "arm64"), ("armv7l", "arm"),
                                          ("riscv64", None)])
def test_pyinfras_arch_fact_maps_to_k3s_arches(machine, arch):
    """Preflight reads pyinfra's server.Arch (uname -m) and maps it as install.sh does."""
    assert k3s_arch(Arch().process([machine])) == arch


def test_pyinfras_kernel_version_fact():
    assert KernelVersion().process(["6.6.51+rpt-rpi-v8"]) == "6.6.51+rpt-rpi-v8"


def test_os_release_fields():
    """Preflight reads pyinfra's server.LinuxDistribution; its release_meta holds os-release."""
    def release(text):
        return LinuxDistribution().process(["/etc/os-release", *text.splitlines(), "---"])["release_meta"]

    pi = release(PI_OS_RELEASE)
    assert pi["ID"] == "debian" and pi["VERSION_ID"] == "12"
    assert pi["PRETTY_NAME"] == "Debian GNU/Linux 12 (bookworm)"
    assert release(UBUNTU_OS_RELEASE)["VERSION_ID"] == "22.04"


def test_every_fact_declares_command_requirement_and_default():
    """Each fact says which command it needs, and its default has the type its parser
    returns (what callers get on a host where the command is missing)."""
    for fact_cls, output, kwargs, expected in CASES:
        fact = fact_cls()
        assert fact.requires_command(**kwargs)
        assert type(fact_cls.default()) is type(fact.process(output.splitlines())), fact_cls.__name__


def test_kernel_module_command_quotes_and_probes():
    command = KernelModuleStates().command(modules=["overlay", "br_netfilter"])
    assert "/proc/filesystems" in command  # built-in overlay counts as active
    assert "bridge-nf-call-iptables" in command  # built-in br_netfilter too


def test_kernel_module_names_are_one_quoted_word_each(tmp_path):
    """Run the real command: hostile names stay data, never become shell or regex."""
    import subprocess

    witness = tmp_path / "witness"
    modules = ["overlay", f"x'; touch {witness}; echo '", "a b", "ov.rlay"]
    result = subprocess.run(["sh", "-c", KernelModuleStates().command(modules=modules)], capture_output=True,
                            text=True, check=True)
    states = KernelModuleStates().process(result.stdout.splitlines())
    assert not witness.exists()
    assert set(states) == set(modules)
    assert states["a b"] == "missing" and states["ov.rlay"] == "missing"
