"""Remove K3s and everything edgewasm put on a host.

    pyinfra inventories/edge.py deploys/uninstall.py [--limit HOST]

Afterwards preflight and a fresh install accept the host again. Kept on purpose: the
packages preflight installed, the Raspberry Pi boot-line flags (harmless, and a reboot
to remove them buys nothing), live sysctl values until the next boot.
"""

from pyinfra import host
from pyinfra.facts.files import File
from pyinfra.operations import server, systemd

from deploys import edgewasm_deploy
from deploys.artifacts import OPT
from deploys.preflight import MODULES_FILE, SYSCTL_FILE
from deploys.wasmedge import BIN as WASMEDGE_BIN
from deploys.wasmedge import LD_CONF as WASMEDGE_LD_CONF
from deploys.wasmtime import BIN as WASMTIME_BIN
from edgewasm.artifacts import HOST_CACHE, load_catalog
from edgewasm.k3s import K3S_BIN
from edgewasm.wasm import SHIM_DIR
from operations import host_files

UNITS = ("k3s", "k3s-agent")
# /etc/rancher/node stays, as K3s's own uninstall script leaves it: it holds the node's
# password, which the servers keep (a Secret) while the Node exists, so a reinstalled
# node rejoins under its name; with a new password they refuse it ("Node password
# rejected"). A node cannot delete its own Node (the Node authorizer grants no delete),
# so removing a node for good is a server's job: docs/k3s.md, "Uninstall".
DIRECTORIES = ("/etc/rancher/k3s", "/var/lib/rancher", "/var/lib/kubelet", "/run/k3s", HOST_CACHE.rsplit("/", 1)[0], OPT)


@edgewasm_deploy("Uninstall K3s and edgewasm")
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
        host_files.absent(name=f"Remove {path}", path=path)
        for unit in UNITS
        for path in (f"/etc/systemd/system/{unit}.service", f"/etc/systemd/system/{unit}.service.env")
    ]
    if any(op.will_change for op in removed_units):
        systemd.daemon_reload(name="Reload systemd units")
    for path in (K3S_BIN, MODULES_FILE, SYSCTL_FILE, WASMEDGE_LD_CONF):
        host_files.absent(name=f"Remove {path}", path=path)
    shims = [f"{SHIM_DIR}/{entry['shim']}" for entry in load_catalog().values() if entry.get("shim")]
    for link in (WASMTIME_BIN, WASMEDGE_BIN, *shims):
        host_files.link(name=f"Remove {link}", path=link)
    for path in DIRECTORIES:
        host_files.tree_absent(name=f"Remove {path}", path=path)

uninstall()
