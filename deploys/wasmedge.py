"""WasmEdge: the pinned release for the host's arch, from the artifact cache, or the
OS release's own packages where it ships them (edgewasm_wasm_runtimes_from: Debian trixie's
wasmedge 0.14.1, installed by preflight with the other packages).

Unpacked under /opt/edgewasm/wasmedge/<version>/ (both tarball layouts give the same
tree), ``wasmedge`` linked on PATH and its library on the loader path, where a
wasm-enabled crun finds it. K3s itself does not use the CLI; runwasi's wasmedge shim
carries its own copy. Hosts WasmEdge has no build for (armv7) are skipped; they were
warned about, or refused under edgewasm_require_wasm, by their plan.
"""

from pyinfra.operations import server

from deploys import artifacts, edgewasm_deploy
from edgewasm.plan import Plan
from facts.runtimes import NewerThan
from operations import fact_cache, host_files

BIN = "/usr/local/bin/wasmedge"
LD_CONF = "/etc/ld.so.conf.d/edgewasm-wasmedge.conf"
LD_CACHE = "/etc/ld.so.cache"


def _ld_inputs(prefix: str) -> list[str]:
    return [LD_CONF, f"{prefix}/.edgewasm-source-sha256"]


def wants(plan: Plan) -> list:
    if "wasmedge" in plan.packaged:
        return [*host_files.wants_link(BIN), *host_files.wants_file(LD_CONF)]
    if not plan.shipped("wasmedge"):
        return []
    prefix = artifacts.tree_of(plan.placement("wasmedge", "tarball"))
    return [*host_files.wants_link(BIN), *host_files.wants_file(LD_CONF),
            (NewerThan, {"reference": LD_CACHE, "paths": _ld_inputs(prefix)})]


@edgewasm_deploy("WasmEdge")
def wasmedge(plan: Plan) -> None:
    version = plan.shipped("wasmedge")
    if not version:
        return
    if "wasmedge" in plan.packaged:
        _no_upstream_copy()
        return
    prefix, tree = artifacts.unpacked(plan, "wasmedge")
    host_files.link(name="Put wasmedge on PATH", path=BIN, target=f"{prefix}/bin/wasmedge")
    loader = host_files.template(name="Put WasmEdge's library on the loader path", src="wasmedge/ld.so.conf.j2",
                                 dest=LD_CONF, mode="644", prefix=prefix, version=version)
    # Also when what the loader cache reads is newer than it: a run that died between the
    # unpack or the config and ldconfig is finished here.
    newer = fact_cache.fact_once(NewerThan, reference=LD_CACHE, paths=_ld_inputs(prefix))
    if tree.will_change or loader.will_change or newer:
        server.shell(name="Refresh the loader cache", commands=["ldconfig"])


def _no_upstream_copy() -> None:
    """The release's wasmedge is on PATH and its library where the loader looks: an
    upstream copy left from an earlier route would shadow both."""
    host_files.link(name="No upstream wasmedge before the release's on PATH", path=BIN)
    loader = host_files.absent(name="No upstream WasmEdge library on the loader path", path=LD_CONF)
    if loader.will_change:
        server.shell(name="Refresh the loader cache", commands=["ldconfig"])
