"""Preflight: refuse hosts K3s cannot run on, then prepare the rest.

Every check reads facts only, so a host that fails is left exactly as it was; the other
hosts go on (pyinfra drops only the failed host).
"""

from __future__ import annotations

from pathlib import Path

from pyinfra import host
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.server import Arch, KernelVersion, LinuxDistribution
from pyinfra.facts.systemd import SystemdEnabled
from pyinfra.operations import apt, server, systemd

from deploys import edgewasm_deploy
from edgewasm import os_releases, packaged_runtimes
from edgewasm.k3s import kernel_sysctls
from edgewasm.manifest import Bundle
from edgewasm.preflight import (
    FSTAB_SWAP_COMMENTED,
    FSTAB_SWAP_LINE,
    cmdline_with_flags,
    host_problems,
    is_raspberry_pi,
)
from facts.host import (PI_CMDLINE_PATHS, ActiveSwap, BoardModel, Cgroups, FreeDisk, KernelModuleStates,
                        PendingReboot, PiBootCmdline)
from operations import fact_cache, host_files, host_ops

RANCHER_DIR = "/var/lib/rancher"
MODULES_FILE = "/etc/modules-load.d/k3s.conf"
SYSCTL_FILE = "/etc/sysctl.d/90-k3s.conf"
REBOOT_PENDING = "/var/lib/edgewasm/reboot-pending"


def wants() -> list:
    """Every fact preflight reads (check and prepare), for ``fact_cache.prefetch``."""
    data = host.data
    wanted = [(BoardModel, {}), (Arch, {}), (LinuxDistribution, {}), (KernelVersion, {}),
              (FreeDisk, {"path": RANCHER_DIR}), (KernelModuleStates, {"modules": data.preflight_kernel_modules}),
              (Cgroups, {}), (PiBootCmdline, {}),
              *host_files.wants_file(MODULES_FILE), *host_files.wants_file(SYSCTL_FILE),
              *host_files.wants_sysctls(kernel_sysctls(data.dict()))]
    if data.edgewasm_bundle:
        wanted.append((DebPackages, {}))
    if data.preflight_swap == "disable":
        wanted += [(ActiveSwap, {}), (SystemdEnabled, {}), *host_files.wants_lines("/etc/fstab", FSTAB_SWAP_LINE)]
    # Only a Pi reads these; asking every host costs nothing in the batch.
    wanted.append((PendingReboot, {"marker": REBOOT_PENDING}))
    wanted += [spec for path in PI_CMDLINE_PATHS for spec in host_files.wants_file(path)]
    return wanted


def _problems() -> list[str]:
    board = fact_cache.fact_once(BoardModel)
    pi = is_raspberry_pi(board)
    problems = host_problems(
        name=host.name,
        arch={"machine": fact_cache.fact_once(Arch) or "", "k3s": fact_cache.arch()},
        os_release=fact_cache.fact_once(LinuxDistribution)["release_meta"],
        kernel_release=fact_cache.fact_once(KernelVersion) or "",
        free_disk=fact_cache.fact_once(FreeDisk, path=RANCHER_DIR),
        module_states=fact_cache.fact_once(KernelModuleStates, modules=host.data.preflight_kernel_modules),
        cgroups=fact_cache.fact_once(Cgroups),
        is_pi=pi,
        settings=host.data.dict(),
    )
    problems += package_problems(host_packages())
    if pi and not fact_cache.fact_once(PiBootCmdline):
        problems.append(
            f"{host.name}: {board!r} has no cmdline.txt in /boot/firmware or /boot; "
            "fix: mount the boot partition there"
        )
    return problems


def host_packages() -> list[str]:
    """preflight_packages, then the packages of the Wasm runtimes the host takes from its
    OS release (edgewasm_wasm_runtimes_from), installed together by prepare()."""
    return packaged_runtimes.host_packages(host.data.dict(), fact_cache.host_runtimes())


def bundle_packages(packages: list[str]) -> tuple[list[str], os_releases.ReleasePackages | None, str, str, dict]:
    """(the ``packages`` the host lacks, what its bundle carries for its release, the
    release, its dpkg arch, the bundle's manifest) for a host deployed from a bundle."""
    release = fact_cache.os_release()
    dpkg_arch = os_releases.DPKG_ARCH.get(fact_cache.arch() or "", "?")
    # Read once: check() and prepare() both ask, and nothing installs in between.
    lacking = os_releases.missing(packages, fact_cache.fact_once(DebPackages))
    manifest = Bundle.open(host.data.edgewasm_bundle).manifest
    return lacking, os_releases.in_bundle(manifest, release, dpkg_arch), release, dpkg_arch, manifest


def package_problems(packages: list[str]) -> list[str]:
    """A host with no route out must get what it lacks from its bundle: refuse it before
    any change when the bundle has nothing for its OS release and arch."""
    if not host.data.edgewasm_bundle or not fact_cache.arch():
        return []
    lacking, carried, release, dpkg_arch, manifest = bundle_packages(packages)
    reason = os_releases.refusal(host.name, host.data.edgewasm_bundle, release, dpkg_arch, lacking, carried,
                                 os_releases.carried(manifest))
    return [reason] if reason else []


@edgewasm_deploy("Preflight checks")
def check() -> bool:
    """Fail this host (only) when K3s cannot run on it. Returns whether it passed."""
    problems = _problems()
    if problems:
        host_ops.refuse(name="Refuse host K3s cannot run on", reasons=problems)
    return not problems


def packages_from_bundle(packages: list[str]) -> None:
    """Install the ``packages`` the host lacks from the bundle's packages for its release:
    the .debs and their index, verified on the host, as a flat repository only these apt
    calls read. (A release the bundle lacks was refused before: package_problems.)"""
    lacking, carried, release, _, _ = bundle_packages(packages)
    if not lacking:
        host.noop(f"packages {', '.join(packages)} are installed")
        return
    bundle = Path(host.data.edgewasm_bundle)
    # Only a host that lacks packages reads (and gets) the .debs: one batch for all of them.
    fact_cache.prefetch([spec for entry in (*carried.files, carried.index)
                       for spec in host_files.wants_file(entry["dest"])]
                      + host_files.wants_file(f"{carried.repo}/sources.list"))
    for entry in (*carried.files, carried.index):
        host_files.verified_file(name=f"Bundle package {entry['name']}", src=str(bundle / entry["file"]),
                               dest=entry["dest"], sha256=entry["sha256"])
    host_files.template(
        name=f"apt source of the bundle's {release} packages",
        src="debs/edgewasm-debs.list.j2",
        dest=f"{carried.repo}/sources.list",
        release=release, dpkg_arch=carried.dpkg_arch, repo=carried.repo,
        mode="644",
    )
    server.shell(name=f"Install {', '.join(lacking)} from the bundle",
                 commands=os_releases.apt_commands(carried.repo, lacking))


@edgewasm_deploy("Prepare host for K3s")
def prepare() -> None:
    if host.data.edgewasm_bundle:
        packages_from_bundle(host_packages())
    else:
        apt.packages(
            name="Install packages K3s needs",
            packages=host_packages(),
            # 0 means never refresh; pyinfra says that with None.
            cache_time=host.data.preflight_apt_cache_time if host.data.preflight_apt_cache_time > 0 else None,
            no_recommends=True,
        )

    modules = host.data.preflight_kernel_modules
    host_files.template(
        name="Persist kernel modules for K3s",
        src="preflight/modules-load-k3s.conf.j2",
        dest=MODULES_FILE,
        modules=modules,
        mode="644",
    )
    host_ops.kernel_modules_loaded(name="Load kernel modules for K3s", modules=modules)

    # preflight_sysctls, and the kubelet's own values when it must not change them itself
    # (k3s_protect_kernel_defaults: it refuses to start while one differs).
    sysctls = kernel_sysctls(host.data.dict())
    host_files.template(
        name="Persist sysctls for K3s",
        src="preflight/sysctl-k3s.conf.j2",
        dest=SYSCTL_FILE,
        sysctls=sysctls,
        mode="644",
    )
    host_files.sysctls(name="Set sysctls for K3s", values=sysctls)

    if host.data.preflight_swap == "disable":
        _disable_swap()

    if is_raspberry_pi(fact_cache.fact_once(BoardModel)):
        _enable_pi_memory_cgroup()


def _disable_swap() -> None:
    if fact_cache.fact_once(ActiveSwap):
        server.shell(name="Turn swap off", commands=["swapoff -a"])
    host_files.replaced(name="Comment out swap in /etc/fstab", path="/etc/fstab", text=FSTAB_SWAP_LINE,
                        replace=FSTAB_SWAP_COMMENTED)
    if "dphys-swapfile.service" in fact_cache.fact_once(SystemdEnabled):
        systemd.service(
            name="Stop Raspberry Pi OS swap file",
            service="dphys-swapfile.service",
            running=False,
            enabled=False,
        )


def _enable_pi_memory_cgroup() -> None:
    current = fact_cache.fact_once(PiBootCmdline)
    wanted = cmdline_with_flags(current["line"], host.data.preflight_pi_cgroup_flags)
    # Decided from the running boot, not from "will the file change": a run that died
    # after writing the boot line and before the reboot left the marker pending.
    pending = fact_cache.fact_once(PendingReboot, marker=REBOOT_PENDING)
    if wanted != current["line"]:
        # The marker first: whatever stops this run from here on, the next one reboots.
        server.shell(name="Mark a reboot pending for the new kernel command line",
                     commands=[f"mkdir -p {REBOOT_PENDING.rsplit('/', 1)[0]} && "
                               f"cat /proc/sys/kernel/random/boot_id > {REBOOT_PENDING}"])
        # The firmware reads one line; the template writes exactly that line.
        host_files.template(
            name=f"Enable the memory cgroup in {current['path']}",
            src="preflight/pi-cmdline.txt.j2",
            dest=current["path"],
            cmdline=wanted,
        )
    elif pending != "pending":
        if pending == "done":
            host_files.absent(name="The pending reboot happened", path=REBOOT_PENDING)
        return
    host_ops.reboot(name="Reboot for the new kernel command line", timeout=host.data.preflight_reboot_timeout,
                    pending_marker=REBOOT_PENDING)


@edgewasm_deploy("Preflight")
def preflight(*gates) -> bool:
    """Check the host, then run ``gates`` (more checks, each returning whether the host
    passed), then prepare it; a refused host gets no changes."""
    if not check() or not all(gate() for gate in gates):
        return False
    prepare()
    return True
