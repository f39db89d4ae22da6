"""Templates render as the hosts get them (operations/host_files.py renders through
edgewasm.templates; the deploys and tests/fixtures/manifests.py name each template by the
same constant of edgewasm.wasm / edgewasm.policy)."""

from deploys import containerd
from edgewasm import wasm
from edgewasm.templates import render


def test_modules_load_file():
    text = render("preflight/modules-load-k3s.conf.j2", modules=["overlay", "br_netfilter"])
    assert text.splitlines()[1:] == ["overlay", "br_netfilter"]
    assert text.startswith("#") and text.endswith("\n")


def test_sysctl_file():
    text = render("preflight/sysctl-k3s.conf.j2", sysctls={"net.ipv4.ip_forward": 1})
    assert text.splitlines()[1:] == ["net.ipv4.ip_forward = 1"]


def test_pi_cmdline_is_one_line():
    text = render("preflight/pi-cmdline.txt.j2", cmdline="console=tty1 rootwait cgroup_memory=1")
    assert text == "console=tty1 rootwait cgroup_memory=1\n"


def test_every_k3s_generation_has_its_containerd_template():
    for version in ("v1.30.6+k3s1", "v1.32.2+k3s1"):
        assert wasm.containerd_template_name(version) in containerd.TEMPLATE_NAMES
