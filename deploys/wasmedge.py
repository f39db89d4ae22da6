"""WasmEdge: the pinned release for the host's arch, from the artifact cache.

Unpacked under /opt/edgewasm/wasmedge/<version>/ (both tarball layouts give the same
tree), ``wasmedge`` linked on PATH and its library on the loader path, where a
wasm-enabled crun finds it. K3s itself does not use the CLI; runwasi's wasmedge shim
carries its own copy. Hosts WasmEdge has no build for (armv7) are skipped; they were
warned about, or refused under edgewasm_require_wasm, by deploys/artifacts.py.
"""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files, server

from deploys import artifacts, host_ops
from edgewasm.arch import wasmedge_arch
from edgewasm.bundle import wanted_versions
from facts.host import Architecture

PREFIX = "/opt/edgewasm/wasmedge"
BIN = "/usr/local/bin/wasmedge"
LD_CONF = "/etc/ld.so.conf.d/edgewasm-wasmedge.conf"


@deploy("WasmEdge")
def wasmedge() -> None:
    versions = wanted_versions(host.data)
    if "wasmedge" not in versions or not wasmedge_arch(host.get_fact(Architecture)["k3s"]):
        return
    prefix = f"{PREFIX}/{versions['wasmedge']}"
    tarball, digest = artifacts.on_host("wasmedge", "tarball")
    tree = host_ops.extracted(name="Unpack WasmEdge", tarball=tarball, dest=prefix, sha256=digest)
    files.link(name="Put wasmedge on PATH", path=BIN, target=f"{prefix}/bin/wasmedge")
    loader = files.template(name="Put WasmEdge's library on the loader path", src="templates/wasmedge/ld.so.conf.j2",
                            dest=LD_CONF, mode="644", prefix=prefix, version=versions["wasmedge"])
    if tree.will_change or loader.will_change:
        server.shell(name="Refresh the loader cache", commands=["ldconfig"])
