"""WasmEdge: the pinned release for the host's arch, from the artifact cache.

Unpacked under /opt/edgewasm/wasmedge/<version>/ (both tarball layouts give the same
tree), ``wasmedge`` linked on PATH and its library on the loader path, where a
wasm-enabled crun finds it. K3s itself does not use the CLI; runwasi's wasmedge shim
carries its own copy. Hosts WasmEdge has no build for (armv7) are skipped; they were
warned about, or refused under edgewasm_require_wasm, by their plan.
"""

from pyinfra import host
from pyinfra.operations import files, server

from deploys import artifacts, edgewasm_deploy
from edgewasm import templates
from edgewasm.plan import Plan
from facts.runtimes import NewerThan

BIN = "/usr/local/bin/wasmedge"
LD_CONF = "/etc/ld.so.conf.d/edgewasm-wasmedge.conf"
LD_CACHE = "/etc/ld.so.cache"


@edgewasm_deploy("WasmEdge")
def wasmedge(plan: Plan) -> None:
    version = plan.shipped("wasmedge")
    if not version:
        return
    prefix, tree = artifacts.unpacked(plan, "wasmedge")
    files.link(name="Put wasmedge on PATH", path=BIN, target=f"{prefix}/bin/wasmedge")
    loader = files.template(name="Put WasmEdge's library on the loader path", src=templates.path("wasmedge/ld.so.conf.j2"),
                            dest=LD_CONF, mode="644", prefix=prefix, version=version)
    # Also when what the loader cache reads is newer than it: a run that died between the
    # unpack or the config and ldconfig is finished here.
    newer = host.get_fact(NewerThan, reference=LD_CACHE, paths=[LD_CONF, f"{prefix}/.edgewasm-source-sha256"])
    if tree.will_change or loader.will_change or newer:
        server.shell(name="Refresh the loader cache", commands=["ldconfig"])
