import subprocess

import pytest
from packaging.version import Version

from edgewasm.preflight import (
    cmdline_with_flags,
    FSTAB_SWAP_COMMENTED,
    FSTAB_SWAP_LINE,
    host_problems,
    is_raspberry_pi,
    kernel_version,
)

FLAGS = ["cgroup_memory=1", "cgroup_enable=memory"]
PI_LINE = "console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes rootwait"


def test_flags_appended_once():
    line = cmdline_with_flags(PI_LINE, FLAGS)
    assert line == PI_LINE + " cgroup_memory=1 cgroup_enable=memory"
    assert cmdline_with_flags(line, FLAGS) == line


def test_flags_already_present_elsewhere_are_kept_in_place():
    line = "cgroup_enable=memory " + PI_LINE
    assert cmdline_with_flags(line, FLAGS) == line + " cgroup_memory=1"


def test_duplicate_flags_from_hand_edits_are_reduced_to_one():
    line = PI_LINE + " cgroup_memory=1 cgroup_enable=memory cgroup_memory=1"
    assert cmdline_with_flags(line, FLAGS).split().count("cgroup_memory=1") == 1


def test_raspberry_pi_detection():
    assert is_raspberry_pi("Raspberry Pi 4 Model B Rev 1.4")
    assert is_raspberry_pi("Raspberry Pi 5 Model B Rev 1.0")
    assert not is_raspberry_pi("Pine64 RockPro64 v2.1")
    assert not is_raspberry_pi("")


@pytest.mark.parametrize("release,version", [
    ("6.1.0-26-arm64", "6.1.0"), ("6.6.51+rpt-rpi-v8", "6.6.51"), ("5.4", "5.4.0"), ("weird", None),
])
def test_kernel_version(release, version):
    assert kernel_version(release) == (Version(version) if version else None)


def sed(pattern: str, replacement: str, text: str) -> str:
    """Apply the edit the way files.replace does on the host: sed -E s/.../.../."""
    return subprocess.run(["sed", "-E", f"s/{pattern}/{replacement}/"], input=text,
                          capture_output=True, text=True, check=True).stdout


def test_fstab_swap_lines_commented_idempotently():
    fstab = ("UUID=1 / ext4 defaults 0 1\n/swapfile none swap sw 0 0\n"
             "# /old none swap sw 0 0\nUUID=2\t/swapdata\text4\tdefaults 0 2\n")
    once = sed(FSTAB_SWAP_LINE, FSTAB_SWAP_COMMENTED, fstab)
    assert once.splitlines() == [
        "UUID=1 / ext4 defaults 0 1",
        "# disabled for K3s: /swapfile none swap sw 0 0",
        "# /old none swap sw 0 0",
        "UUID=2\t/swapdata\text4\tdefaults 0 2",
    ]
    assert sed(FSTAB_SWAP_LINE, FSTAB_SWAP_COMMENTED, once) == once


SETTINGS = {
    "preflight_supported_os": {"debian": "11", "ubuntu": "20.04"},
    "preflight_min_kernel": "5.4",
    "preflight_min_disk_gb": 4,
}
GOOD = dict(
    name="edge-1",
    arch={"machine": "aarch64", "k3s": "arm64"},
    os_release={"ID": "debian", "VERSION_ID": "12", "PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)"},
    kernel_release="6.1.0-26-arm64",
    free_disk={"measured_at": "/var/lib", "free_bytes": 20 * 1024**3},
    module_states={"overlay": "active", "br_netfilter": "loadable"},
    cgroups={"version": 2, "memory": True},
    is_pi=False,
    settings=SETTINGS,
)


def problems(**changes):
    return host_problems(**{**GOOD, **changes})


def test_good_host_has_no_problems():
    assert problems() == []


@pytest.mark.parametrize("changes,expect", [
    ({"arch": {"machine": "riscv64", "k3s": None}}, ["edge-1", "'riscv64'", "fix:"]),
    ({"settings": {**SETTINGS, "edgewasm_arch": "amd64"}}, ["edgewasm_arch='amd64'", "'arm64'"]),
    ({"os_release": {"ID": "centos", "VERSION_ID": "7"}}, ["ID='centos'", "preflight_supported_os"]),
    ({"os_release": {"ID": "debian", "VERSION_ID": "10"}}, ["older than debian 11", "upgrade"]),
    ({"kernel_release": "4.19.0-21-amd64"}, ["'4.19.0-21-amd64'", "older than 5.4", "fix:"]),
    ({"free_disk": {"measured_at": "/", "free_bytes": 1024**3}}, ["1.0 GiB free at /", "4 GiB needed"]),
    ({"module_states": {"br_netfilter": "missing"}}, ["'br_netfilter'", "linux-modules-extra"]),
    ({"cgroups": {"version": 1, "memory": False}}, ["memory cgroup", "cgroup_enable=memory"]),
])
def test_each_problem_names_host_value_and_fix(changes, expect):
    found = problems(**changes)
    assert len(found) == 1, found
    assert found[0].startswith("edge-1: ")
    for text in expect:
        assert text in found[0]


def test_pi_without_memory_cgroup_is_fixed_not_refused():
    assert problems(cgroups={"version": 2, "memory": False}, is_pi=True) == []


def test_artifacts_that_do_not_fit_the_cache_refuse_the_host_naming_path_and_space():
    from edgewasm.preflight import cache_space_problem

    free = {"measured_at": "/var/lib/edgewasm/artifacts", "free_bytes": 4 * 1024**2}
    problem = cache_space_problem("edge-agent-1", free, 13 * 1024**2)
    assert problem.startswith("edge-agent-1: only 4.0 MiB free at /var/lib/edgewasm/artifacts")
    assert "13.0 MiB needed" in problem and "fix:" in problem
    assert cache_space_problem("edge-agent-1", free, 4 * 1024**2) is None
    assert cache_space_problem("edge-agent-1", {}, 1) is None  # unmeasured: the upload says
