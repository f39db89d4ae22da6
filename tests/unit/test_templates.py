"""Templates render as the hosts get them (operations/host_files.py renders through
edgewasm.templates), and the manifests tests check are the templates the deploys write."""

from pathlib import Path

import pytest

from edgewasm import wasm
from edgewasm.templates import render
from tests.fixtures import manifests

ROOT = Path(__file__).resolve().parents[2]


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


@pytest.mark.parametrize("deploy,template", [
    ("runtime_classes", manifests.RUNTIME_CLASSES),
    ("gatekeeper", manifests.CONSTRAINTS),
    ("gatekeeper", manifests.HELMCHART),
])
def test_tests_render_the_template_the_deploy_writes(deploy, template):
    """tests/fixtures/manifests.py renders what the deploy writes, not a copy of it."""
    assert f'src="{template}"' in (ROOT / "deploys" / f"{deploy}.py").read_text()


def test_tests_render_the_containerd_template_the_deploy_writes():
    from deploys import containerd

    source = (ROOT / "deploys" / "containerd.py").read_text()
    assert f'src=f"{manifests.CONTAINERD}"' in source
    for version in ("v1.30.6+k3s1", "v1.32.2+k3s1"):
        assert wasm.containerd_template_name(version) in containerd.TEMPLATE_NAMES
