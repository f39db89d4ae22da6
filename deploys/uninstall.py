"""Remove K3s and everything edgewasm put on a host.

    pyinfra inventories/edge.py deploys/uninstall.py [--limit HOST]

Afterwards preflight and a fresh install accept the host again. Kept on purpose: the
packages preflight installed, the Raspberry Pi boot-line flags (harmless, and a reboot
to remove them buys nothing), live sysctl values until the next boot.
"""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import File
from pyinfra.operations import files, server, systemd

from deploys.preflight import MODULES_FILE, SYSCTL_FILE
from edgewasm.artifacts import HOST_CACHE
from deploys.wasmtime import BIN as WASMTIME_BIN
from deploys.wasmtime import PREFIX as WASMTIME_PREFIX
from edgewasm.k3s import K3S_BIN

UNITS = ("k3s", "k3s-agent")
DIRECTORIES = ("/etc/rancher", "/var/lib/rancher", "/var/lib/kubelet", "/run/k3s", HOST_CACHE.rsplit("/", 1)[0],
               WASMTIME_PREFIX.rsplit("/", 1)[0])


@deploy("Uninstall K3s and edgewasm")
def uninstall() -> None:
    for unit in UNITS:
        if host.get_fact(File, path=f"/etc/systemd/system/{unit}.service"):
            server.shell(name=f"Stop and disable {unit}", commands=[f"systemctl disable --now {unit}.service"])
    # KillMode=process leaves containers running after the service stops (as K3s's
    # own k3s-killall.sh knows).
    if host.get_fact(File, path=K3S_BIN):
        server.shell(name="Stop K3s containers", commands=[
            "pkill -f '[c]ontainerd-shim' || true",
            "for m in $(awk '$2 ~ \"^/run/k3s|^/var/lib/kubelet\" {print $2}' /proc/self/mounts | sort -r); "
            "do umount \"$m\" || umount -l \"$m\"; done",
        ])
    removed_units = [
        files.file(name=f"Remove {path}", path=path, present=False)
        for unit in UNITS
        for path in (f"/etc/systemd/system/{unit}.service", f"/etc/systemd/system/{unit}.service.env")
    ]
    if any(op.will_change for op in removed_units):
        systemd.daemon_reload(name="Reload systemd units")
    for path in (K3S_BIN, MODULES_FILE, SYSCTL_FILE):
        files.file(name=f"Remove {path}", path=path, present=False)
    files.link(name=f"Remove {WASMTIME_BIN}", path=WASMTIME_BIN, present=False)
    for path in DIRECTORIES:
        files.directory(name=f"Remove {path}", path=path, present=False)


uninstall()
