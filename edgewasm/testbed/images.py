"""Base root filesystems of the test bed: one Debian rootfs per suite and arch, built once
with debootstrap (arm64 through qemu-user binfmt) and cached under /var/cache/edgewasm."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path


CACHE = Path(os.environ.get("EDGEWASM_TESTBED_DIR", "/var/cache/edgewasm/testbed"))
MIRROR = os.environ.get("EDGEWASM_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SUITES = ("bookworm", "trixie")  # Debian releases a test-bed host can run
DEFAULT_SUITE = "bookworm"

# What a minimal Debian edge box has before edgewasm touches it. preflight_packages are
# not here, nor in any apt cache: on the isolated site network (network.py) preflight
# must install them from the offline bundle.
BASE_PACKAGES = ["systemd", "systemd-sysv", "dbus", "openssh-server", "iproute2", "kmod", "procps",
                 # For the checks' small helpers; real K3s needs no Python.
                 "python3-minimal"]
# Machines of these arches run real K3s (built from its Go module): it runs the machine's
# runc and CNI plugins where upstream K3s carries its own.
# arm64 keeps the light stand-in (docs/testbed.md, "The cluster").
REAL_NODE_ARCHES = ("amd64",)
NODE_PACKAGES = ["runc", "containernetworking-plugins"]


def base_packages(arch: str) -> list[str]:
    return BASE_PACKAGES + (NODE_PACKAGES if arch in REAL_NODE_ARCHES else [])


class TestbedError(RuntimeError):
    __test__ = False  # not a pytest test class


def base_dir(arch: str, suite: str = DEFAULT_SUITE) -> Path:
    digest = hashlib.sha256(" ".join([suite, *base_packages(arch)]).encode()).hexdigest()[:10]
    return CACHE / "base" / f"{suite}-{arch}-{digest}"


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kw)


def ensure_binfmt(arch: str) -> None:
    if arch != "arm64" or os.uname().machine == "aarch64":
        return
    misc = Path("/proc/sys/fs/binfmt_misc")
    if not (misc / "register").exists():
        _run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(misc)])
    entry = misc / "qemu-aarch64"
    if not entry.exists() or "enabled" not in entry.read_text():
        _run(["update-binfmts", "--enable", "qemu-aarch64"])
    fields = dict(line.partition(" ")[::2] for line in entry.read_text().splitlines())
    flags = fields.get("flags:", "").strip()
    if "F" not in flags:
        raise TestbedError("qemu-aarch64 binfmt lacks the F flag: install qemu-user-static")
    if "C" not in flags:
        _register_with_credentials(misc, entry, fields, flags)


def _register_with_credentials(misc: Path, entry: Path, fields: dict[str, str], flags: str) -> None:
    """Register qemu-aarch64 again, the same but with binfmt's ``C`` flag: without it the
    kernel runs the interpreter with the caller's credentials, so a setuid arm64 program
    (sudo: the nightly check user's one rule) is never setuid on the bed's arm64 hosts
    ("sudo: effective uid is not 0"), where a real Pi runs it as root. ``C`` implies ``O``.
    This is the machine's binfmt entry: every setuid arm64 binary on it then runs as its
    owner, as it would on an arm64 machine."""
    def escaped(hexed: str) -> str:
        return "".join(f"\\x{hexed[i:i + 2]}" for i in range(0, len(hexed), 2))

    registration = (f":qemu-aarch64:M:{fields['offset'].strip()}:{escaped(fields['magic'].strip())}:"
                    f"{escaped(fields['mask'].strip())}:{fields['interpreter'].strip()}:{flags}OC")
    entry.write_text("-1")
    (misc / "register").write_text(registration)


def build_base(arch: str, log=sys.stderr, in_use=lambda: False, suite: str = DEFAULT_SUITE) -> Path:
    """Build (once) and cache the Debian ``suite`` root filesystem for ``arch``; ``in_use()``
    says whether running hosts may still sit on an older base."""
    target = base_dir(arch, suite)
    if (target / ".edgewasm-complete").exists():
        return target
    ensure_binfmt(arch)
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    print(f"testbed: building {suite} {arch} rootfs (once; cached in {target})", file=log)
    _run(
        ["debootstrap", "--variant=minbase", f"--arch={arch}", "--include=" + ",".join(base_packages(arch)),
         suite, str(tmp), MIRROR],
        stdout=subprocess.DEVNULL,
    )
    # debootstrap's own package cache would let apt install without a bundle.
    for deb in (tmp / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()
    for key in (tmp / "etc/ssh").glob("ssh_host_*"):
        key.unlink()  # each host gets its own key at start
    (tmp / "etc/machine-id").write_text("")
    # A passive console has no tty to serve; a getty would restart forever.
    for unit in ("console-getty.service", "getty@tty1.service"):
        link = tmp / "etc/systemd/system" / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    (tmp / ".edgewasm-complete").write_text(f"{suite} {arch}\n")
    tmp.rename(target)
    # Bases of earlier package lists are not used again; running hosts hold no old base
    # (every `up` starts from the current one).
    for old in target.parent.glob(f"{suite}-{arch}-*"):
        if old != target and not in_use():
            shutil.rmtree(old, ignore_errors=True)
    return target
