"""Facts about an edge host that preflight decides on. Each parses one command's output.

Every command exits 0 on a host that lacks the thing it reads, so a missing file shows
up as the fact's default, never as a failed fact.
"""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase

from facts import SingleLineFact


class Cgroups(FactBase):
    """
    The cgroup hierarchy in use and whether the memory controller is enabled.

    .. code:: python

        {"version": 2, "memory": True}

    Reads the filesystem type at ``/sys/fs/cgroup`` (``cgroup2fs`` means a unified v2
    hierarchy) and ``/proc/cgroups``, whose ``enabled`` column is 0 on a Raspberry Pi
    booted without ``cgroup_enable=memory``.
    """

    default = dict

    def requires_command(self, *args, **kwargs) -> str:
        return "stat"

    def command(self) -> str:
        return "stat -fc %T /sys/fs/cgroup 2>/dev/null || echo none; cat /proc/cgroups 2>/dev/null || true"

    def process(self, output):
        fstype = output[0].strip() if output else "none"
        memory = False
        for line in output[1:]:
            fields = line.split()
            if len(fields) == 4 and fields[0] == "memory":
                memory = fields[3] == "1"
        version = 2 if fstype == "cgroup2fs" else (1 if fstype != "none" else 0)
        return {"version": version, "memory": memory}


class BoardModel(SingleLineFact):
    """
    The device-tree model string (``Raspberry Pi 4 Model B Rev 1.4``), or ``""`` on
    machines without a device tree (most x86 boxes).
    """

    def requires_command(self, *args, **kwargs) -> str:
        return "tr"

    def command(self) -> str:
        return (
            "for f in /proc/device-tree/model /sys/firmware/devicetree/base/model; do "
            '[ -r "$f" ] && { tr -d "\\000" < "$f"; echo; break; }; done; true'
        )


# Bookworm moved the Pi boot partition to /boot/firmware; older releases mount /boot.
PI_CMDLINE_PATHS = ("/boot/firmware/cmdline.txt", "/boot/cmdline.txt")


class PiBootCmdline(FactBase):
    """
    Where the Raspberry Pi kernel command line lives, and its one line.

    .. code:: python

        {"path": "/boot/firmware/cmdline.txt", "line": "console=serial0,115200 ..."}

    Empty dict when neither location exists.
    """

    default = dict

    def requires_command(self, *args, **kwargs) -> str:
        return "cat"

    def command(self) -> str:
        paths = " ".join(PI_CMDLINE_PATHS)
        return f'for f in {paths}; do [ -f "$f" ] && {{ echo "$f"; cat "$f"; break; }}; done; true'

    def process(self, output):
        if not output:
            return {}
        return {"path": output[0].strip(), "line": " ".join(l.strip() for l in output[1:] if l.strip())}


class ActiveSwap(FactBase):
    """Active swap areas from ``/proc/swaps``: ``[{"name": "/var/swap", "type": "file", "size_kb": 102396}]``."""

    default = list

    def requires_command(self, *args, **kwargs) -> str:
        return "cat"

    def command(self) -> str:
        return "cat /proc/swaps 2>/dev/null || true"

    def process(self, output):
        swaps = []
        for line in output[1:]:
            fields = line.split()
            if len(fields) >= 3:
                swaps.append({"name": fields[0], "type": fields[1], "size_kb": int(fields[2])})
        return swaps


class FreeDisk(FactBase):
    """
    Free space for ``path``, measured on the nearest existing parent (``/var/lib/rancher``
    does not exist before K3s is installed).

    .. code:: python

        {"measured_at": "/var/lib", "free_bytes": 53687091200}
    """

    default = dict

    def requires_command(self, path: str) -> str:
        return "df"

    def command(self, path: str) -> str:
        return (
            f"p={shlex.quote(path)}; while [ ! -e \"$p\" ]; do p=$(dirname \"$p\"); done; "
            'echo "$p"; df -Pk "$p" | tail -n 1'
        )

    def process(self, output):
        if len(output) < 2:
            return {}
        fields = output[1].split()
        return {"measured_at": output[0].strip(), "free_bytes": int(fields[3]) * 1024}


# A module counts as active when the kernel already provides what K3s uses it for, even
# when it is built in and so absent from /proc/modules (and /sys/module, when it has no
# parameters).
MODULE_PROBES = {
    "overlay": "grep -qw overlay /proc/filesystems",
    "br_netfilter": "[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]",
}


class KernelModuleStates(FactBase):
    """
    For each module: ``active`` (loaded or built in), ``loadable`` (modinfo finds it)
    or ``missing``.

    .. code:: python

        host.get_fact(KernelModuleStates, modules=["overlay", "br_netfilter"])
        {"overlay": "active", "br_netfilter": "loadable"}
    """

    default = dict

    def requires_command(self, modules) -> str:
        return "grep"

    def command(self, modules) -> str:
        checks = []
        for module in modules:
            # The name only ever appears quoted, as one shell word in $m.
            probe = MODULE_PROBES.get(module, "false")
            checks.append(
                f"m={shlex.quote(module)}; "
                "if awk -v m=\"$m\" '$1 == m {f=1} END {exit !f}' /proc/modules 2>/dev/null "
                f'|| [ -d "/sys/module/$m" ] || {probe}; then echo "$m active"; '
                'elif modinfo -- "$m" >/dev/null 2>&1; then echo "$m loadable"; '
                'else echo "$m missing"; fi'
            )
        return "; ".join(checks)

    def process(self, output):
        states = {}
        for line in output:
            name, _, state = line.strip().rpartition(" ")
            if name:
                states[name] = state
        return states


class BootId(SingleLineFact):
    """The kernel's boot id; it changes on every boot, unlike uptime inside containers."""

    def command(self) -> str:
        return "cat /proc/sys/kernel/random/boot_id"


class PendingReboot(FactBase):
    """
    Whether a reboot asked for by ``marker`` is still owed.

    The marker holds the boot id of the boot that wrote it (preflight writes it before it
    changes the boot line): ``pending`` while the host still runs that boot, ``done`` once
    it has booted since, ``""`` without a marker. A run that dies between the change and
    the reboot leaves ``pending`` for the next run.
    """

    default = str

    def requires_command(self, marker: str) -> str:
        return "cat"

    def command(self, marker: str) -> str:
        return (f"m={shlex.quote(marker)}; [ -f \"$m\" ] && "
                'echo "$(cat "$m") $(cat /proc/sys/kernel/random/boot_id)"; true')

    def process(self, output):
        fields = output[0].split() if output else []
        if len(fields) == 1:  # an empty marker: no boot recorded, so owed
            return "pending"
        if len(fields) != 2:
            return ""
        return "pending" if fields[0] == fields[1] else "done"


class SysctlValues(FactBase):
    """
    The current value of each kernel setting in ``keys`` (``""`` when the kernel has no
    such setting), read from /proc/sys.

    .. code:: python

        host.get_fact(SysctlValues, keys=["net.ipv4.ip_forward"])
        {"net.ipv4.ip_forward": "1"}
    """

    default = dict

    def requires_command(self, keys) -> str:
        return "cat"

    def command(self, keys) -> str:
        reads = []
        for key in keys:
            path = "/proc/sys/" + key.replace(".", "/")
            reads.append(f"printf '%s ' {shlex.quote(key)}; cat {shlex.quote(path)} 2>/dev/null | tr '\\t' ' ' || true; echo")
        return "; ".join(reads)

    def process(self, output):
        values = {}
        for line in output:
            key, _, value = line.partition(" ")
            if key:
                values[key] = value.strip()
        return values
