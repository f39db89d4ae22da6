"""What preflight guarantees on every host of a fleet."""

from packaging.version import Version

from edgewasm.arch import k3s_arch
from edgewasm.compliance import applies, reads
from edgewasm.preflight import kernel_version
from pyinfra.facts.server import LinuxDistribution

from facts.host import Cgroups, FreeDisk, KernelModuleStates, PiBootCmdline


def fact(host, fact_cls, **kwargs):
    """Run a preflight fact's own command and parser through Testinfra."""
    f = fact_cls()
    return f.process(host.check_output(f.command(**kwargs)).splitlines())


def test_architecture_is_supported_and_as_declared(host, host_data):
    """The host's arch is one K3s supports and the one the inventory declares.

    Fix: set edgewasm_arch to the host's real arch (or remove it)."""
    arch = k3s_arch(host.system_info.arch)
    assert arch, f"uname -m {host.system_info.arch!r} is not supported by K3s"
    if host_data.get("edgewasm_arch"):
        assert arch == host_data["edgewasm_arch"]


def test_os_is_supported(host, host_data):
    """The OS release is one preflight_supported_os lists, at least that version.

    Fix: upgrade the OS, or add it to preflight_supported_os once it is known to work."""
    release = fact(host, LinuxDistribution)["release_meta"]
    minimum = host_data["preflight_supported_os"].get(release.get("ID"))
    assert minimum, f"unsupported OS {release.get('PRETTY_NAME')}"
    assert Version(release["VERSION_ID"]) >= Version(minimum)


def test_kernel_is_recent_enough(host, host_data):
    """The kernel is at least preflight_min_kernel.

    Fix: upgrade the kernel to at least preflight_min_kernel."""
    assert kernel_version(host.check_output("uname -r")) >= Version(host_data["preflight_min_kernel"])


def test_enough_disk_for_rancher(host, host_data):
    """/var/lib/rancher has at least preflight_min_disk_gb free.

    Fix: free space under /var/lib/rancher, or lower preflight_min_disk_gb."""
    free = fact(host, FreeDisk, path="/var/lib/rancher")
    assert free["free_bytes"] >= host_data["preflight_min_disk_gb"] * 1024**3


def test_packages_installed(host, host_data):
    """Every preflight_packages package is installed.

    Fix: run the deploy: it installs preflight_packages (from the bundle when offline)."""
    missing = [p for p in host_data["preflight_packages"] if not host.package(p).is_installed]
    assert not missing


def test_kernel_modules_active_and_persisted(host, host_data):
    """preflight_kernel_modules are loaded and listed in /etc/modules-load.d/k3s.conf.

    Fix: run the deploy: it loads and persists the modules."""
    modules = host_data["preflight_kernel_modules"]
    states = fact(host, KernelModuleStates, modules=modules)
    assert states == {m: "active" for m in modules}
    persisted = host.file("/etc/modules-load.d/k3s.conf")
    assert persisted.mode == 0o644
    assert [l for l in persisted.content_string.splitlines() if l and not l.startswith("#")] == modules


def test_sysctls_live_and_persisted(host, host_data):
    """preflight_sysctls hold now and are persisted in /etc/sysctl.d/90-k3s.conf.

    Fix: run the deploy; a later file in /etc/sysctl.d may override 90-k3s.conf."""
    wanted = host_data["preflight_sysctls"]
    for key, value in wanted.items():
        assert host.file(reads.sysctl_path(key)).content_string.strip() == str(value), key
    persisted = host.file("/etc/sysctl.d/90-k3s.conf").content_string
    for key, value in wanted.items():
        assert f"{key} = {value}" in persisted.splitlines()


def test_memory_cgroup_enabled(host):
    """The memory cgroup controller is enabled.

    Fix: enable the memory cgroup (on a Pi the deploy adds the cgroup flags to cmdline.txt and reboots)."""
    assert fact(host, Cgroups)["memory"]


@applies.only(applies.swap_disabled)
def test_swap_as_configured(host, host_data):
    """Swap is off and no fstab line turns it on again.

    Fix: run the deploy: it turns swap off and comments swap out of /etc/fstab."""
    assert host.check_output("tail -n +2 /proc/swaps") == ""
    for line in host.file("/etc/fstab").content_string.splitlines():
        fields = line.split()
        assert not (len(fields) >= 3 and not fields[0].startswith("#") and fields[2] == "swap"), line


@applies.only(applies.raspberry_pi)
def test_raspberry_pi_boot_line_has_cgroup_flags_once(host, host_data):
    """The Pi's cmdline.txt is one line with each cgroup flag exactly once.

    Fix: run the deploy: it rewrites cmdline.txt and reboots the Pi."""
    cmdline = fact(host, PiBootCmdline)
    content = host.file(cmdline["path"]).content_string
    assert len(content.strip().splitlines()) == 1, "the firmware reads one line only"
    words = content.split()
    for flag in host_data["preflight_pi_cgroup_flags"]:
        assert words.count(flag) == 1, flag
