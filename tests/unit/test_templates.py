"""Templates render as pyinfra renders them (its own Jinja2 environment)."""

from pathlib import Path

from pyinfra.api.util import get_template

ROOT = Path(__file__).resolve().parents[2]


def render(name: str, **data) -> str:
    return get_template(str(ROOT / "templates" / name)).render(**data)


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
