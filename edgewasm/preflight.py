"""Pure preflight decisions: what is wrong with a host, and how a Pi's boot line must change."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from packaging.version import Version

PI_MODEL = re.compile(r"^Raspberry Pi\b")


def is_raspberry_pi(model: str) -> bool:
    return bool(PI_MODEL.match(model or ""))


def kernel_version(release: str) -> Version | None:
    """``6.1.0-26-arm64`` -> 6.1.0; ``6.6.51+rpt-rpi-v8`` -> 6.6.51."""
    match = re.match(r"^(\d+)\.(\d+)(?:\.(\d+))?", release or "")
    if not match:
        return None
    return Version(".".join(part or "0" for part in match.groups()))


def cmdline_with_flags(line: str, flags: Sequence[str]) -> str:
    """The boot line with each flag present exactly once, other words kept in order.

    Raspberry Pi firmware reads only the first line, so the result is one line. A flag
    present more than once (an earlier hand edit) is reduced to one.
    """
    words = line.split()
    result: list[str] = []
    for word in words:
        if word in flags and word in result:
            continue
        result.append(word)
    result.extend(flag for flag in flags if flag not in result)
    return " ".join(result)


# An active (uncommented) fstab swap entry, as a sed -E pattern, and its commented form.
# The replacement starts with "#", so a second run finds nothing to change.
FSTAB_SWAP_LINE = r"^([^#[:space:]][^[:space:]]*[[:space:]]+[^[:space:]]+[[:space:]]+swap[[:space:]].*)$"
FSTAB_SWAP_COMMENTED = r"# disabled for K3s: \1"


def host_problems(
    name: str,
    arch: Mapping,
    os_release: Mapping,
    kernel_release: str,
    free_disk: Mapping,
    module_states: Mapping,
    cgroups: Mapping,
    is_pi: bool,
    settings: Mapping,
) -> list[str]:
    """Everything that stops preflight on this host, each naming host, value and fix."""
    problems = []
    if not arch.get("k3s"):
        problems.append(
            f"{name}: architecture {arch.get('machine')!r} is not supported by K3s; "
            "fix: use an x86_64, aarch64 or armv7l host, or remove it from the inventory"
        )
    declared = settings.get("edgewasm_arch")
    if declared and arch.get("k3s") and declared != arch["k3s"]:
        problems.append(
            f"{name}: inventory says edgewasm_arch={declared!r} but the host is {arch['k3s']!r} "
            f"({arch.get('machine')}); fix: correct edgewasm_arch for this host"
        )

    os_id = os_release.get("ID", "")
    supported = settings["preflight_supported_os"]
    minimum_os = supported.get(os_id)
    pretty = os_release.get("PRETTY_NAME") or f"{os_id} {os_release.get('VERSION_ID', '')}".strip()
    if minimum_os is None:
        problems.append(
            f"{name}: operating system {pretty!r} (ID={os_id!r}) is not supported; "
            f"fix: use one of {', '.join(sorted(supported))} or add it to preflight_supported_os"
        )
    else:
        try:
            too_old = Version(os_release.get("VERSION_ID", "0")) < Version(minimum_os)
        except Exception:
            too_old = True
        if too_old:
            problems.append(
                f"{name}: {pretty!r} is older than {os_id} {minimum_os}; fix: upgrade the OS"
            )

    kernel = kernel_version(kernel_release)
    minimum_kernel = Version(settings["preflight_min_kernel"])
    if kernel is None or kernel < minimum_kernel:
        problems.append(
            f"{name}: kernel {kernel_release!r} is older than {minimum_kernel}; "
            "fix: upgrade the kernel and reboot, or lower preflight_min_kernel"
        )

    need = int(float(settings["preflight_min_disk_gb"]) * 1024**3)
    have = free_disk.get("free_bytes", 0)
    if have < need:
        problems.append(
            f"{name}: only {have / 1024**3:.1f} GiB free at {free_disk.get('measured_at', '?')} "
            f"(for /var/lib/rancher), {settings['preflight_min_disk_gb']} GiB needed; "
            "fix: free space, mount a larger disk at /var/lib/rancher, or lower preflight_min_disk_gb"
        )

    if not cgroups.get("memory") and not is_pi:
        problems.append(
            f"{name}: the memory cgroup controller is disabled (cgroup v{cgroups.get('version', '?')}); "
            "fix: boot the kernel with cgroup_enable=memory (K3s cannot run pods without it)"
        )

    for module, state in module_states.items():
        if state == "missing":
            problems.append(
                f"{name}: kernel module {module!r} is neither loaded, built in nor installed; "
                "fix: install the kernel's modules package (e.g. linux-modules-extra-$(uname -r))"
            )
    return problems


def cache_space_problem(name: str, free_disk: Mapping, need: int) -> str | None:
    """A refusal when the artifacts still to upload (``need`` bytes) do not fit where the
    host's artifact cache lives: refused before the first byte, so nothing is half-written."""
    have = free_disk.get("free_bytes")
    if have is None or have >= need:
        return None
    return (f"{name}: only {have / 1024**2:.1f} MiB free at {free_disk.get('measured_at', '?')} "
            f"(for the artifact cache), {need / 1024**2:.1f} MiB needed for the artifacts still to upload; "
            "fix: free space there or mount a larger filesystem, then run again")
