"""Preflight: refuse hosts K3s cannot run on, then prepare the rest.

Every check reads facts only, so a host that fails is left exactly as it was; the other
hosts go on (pyinfra drops only the failed host).
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.facts.server import Arch, KernelVersion, LinuxDistribution
from pyinfra.facts.systemd import SystemdEnabled
from pyinfra.operations import apt, files, server, systemd

from deploys import edgewasm_deploy, host_ops
from edgewasm import templates
from edgewasm.preflight import (
    FSTAB_SWAP_COMMENTED,
    FSTAB_SWAP_LINE,
    cmdline_with_flags,
    host_problems,
    is_raspberry_pi,
)
from facts.host import ActiveSwap, BoardModel, Cgroups, FreeDisk, KernelModuleStates, PiBootCmdline

RANCHER_DIR = "/var/lib/rancher"
MODULES_FILE = "/etc/modules-load.d/k3s.conf"
SYSCTL_FILE = "/etc/sysctl.d/90-k3s.conf"


def _problems() -> list[str]:
    board = host_ops.fact_once(BoardModel)
    pi = is_raspberry_pi(board)
    problems = host_problems(
        name=host.name,
        arch={"machine": host_ops.fact_once(Arch) or "", "k3s": host_ops.arch()},
        os_release=host.get_fact(LinuxDistribution)["release_meta"],
        kernel_release=host.get_fact(KernelVersion) or "",
        free_disk=host.get_fact(FreeDisk, path=RANCHER_DIR),
        module_states=host_ops.fact_once(KernelModuleStates, modules=host.data.preflight_kernel_modules),
        cgroups=host.get_fact(Cgroups),
        is_pi=pi,
        settings=host.data.dict(),
    )
    if pi and not host_ops.fact_once(PiBootCmdline):
        problems.append(
            f"{host.name}: {board!r} has no cmdline.txt in /boot/firmware or /boot; "
            "fix: mount the boot partition there"
        )
    return problems


@edgewasm_deploy("Preflight checks")
def check() -> bool:
    """Fail this host (only) when K3s cannot run on it. Returns whether it passed."""
    problems = _problems()
    if problems:
        host_ops.refuse(name="Refuse host K3s cannot run on", reasons=problems)
    return not problems


@edgewasm_deploy("Prepare host for K3s")
def prepare() -> None:
    apt.packages(
        name="Install packages K3s needs",
        packages=host.data.preflight_packages,
        # 0 means never refresh; pyinfra says that with None.
        cache_time=host.data.preflight_apt_cache_time if host.data.preflight_apt_cache_time > 0 else None,
        no_recommends=True,
    )

    modules = host.data.preflight_kernel_modules
    files.template(
        name="Persist kernel modules for K3s",
        src=templates.path("preflight/modules-load-k3s.conf.j2"),
        dest=MODULES_FILE,
        modules=modules,
        mode="644",
    )
    host_ops.kernel_modules_loaded(name="Load kernel modules for K3s", modules=modules)

    sysctls = host.data.preflight_sysctls
    files.template(
        name="Persist sysctls for K3s",
        src=templates.path("preflight/sysctl-k3s.conf.j2"),
        dest=SYSCTL_FILE,
        sysctls=sysctls,
        mode="644",
    )
    for key, value in sysctls.items():
        server.sysctl(name=f"Set {key}", key=key, value=value)

    if host.data.preflight_swap == "disable":
        _disable_swap()

    if is_raspberry_pi(host_ops.fact_once(BoardModel)):
        _enable_pi_memory_cgroup()


def _disable_swap() -> None:
    if host.get_fact(ActiveSwap):
        server.shell(name="Turn swap off", commands=["swapoff -a"])
    files.replace(
        name="Comment out swap in /etc/fstab",
        path="/etc/fstab",
        text=FSTAB_SWAP_LINE,
        replace=FSTAB_SWAP_COMMENTED,
        extended_regex=True,
    )
    if "dphys-swapfile.service" in host.get_fact(SystemdEnabled):
        systemd.service(
            name="Stop Raspberry Pi OS swap file",
            service="dphys-swapfile.service",
            running=False,
            enabled=False,
        )


def _enable_pi_memory_cgroup() -> None:
    current = host_ops.fact_once(PiBootCmdline)
    wanted = cmdline_with_flags(current["line"], host.data.preflight_pi_cgroup_flags)
    if wanted == current["line"]:
        return
    # The firmware reads one line; the template writes exactly that line.
    cmdline = files.template(
        name=f"Enable the memory cgroup in {current['path']}",
        src=templates.path("preflight/pi-cmdline.txt.j2"),
        dest=current["path"],
        cmdline=wanted,
    )
    host_ops.reboot(
        name="Reboot for the new kernel command line",
        timeout=host.data.preflight_reboot_timeout,
        _if=cmdline.did_change,
    )


@edgewasm_deploy("Preflight")
def preflight(*gates) -> bool:
    """Check the host, then run ``gates`` (more checks, each returning whether the host
    passed), then prepare it; a refused host gets no changes."""
    if not check() or not all(gate() for gate in gates):
        return False
    prepare()
    return True
