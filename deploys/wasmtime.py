"""Wasmtime CLI: the pinned release for the host's arch, from the artifact cache.

Installed under /opt/edgewasm/wasmtime/<version>/ with /usr/local/bin/wasmtime pointing
at it, so an upgrade is a new directory and a link switch. Hosts whose arch upstream
does not build for (armv7) are skipped; deploys/artifacts.py already warned about them.
"""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files

from deploys import artifacts, host_ops
from edgewasm.arch import wasmedge_arch
from edgewasm.bundle import wanted_versions
from facts.host import Architecture

PREFIX = "/opt/edgewasm/wasmtime"
BIN = "/usr/local/bin/wasmtime"


@deploy("Wasmtime")
def wasmtime() -> None:
    if "wasmtime" not in wanted_versions(host.data) or not wasmedge_arch(host.get_fact(Architecture)["k3s"]):
        return
    version = wanted_versions(host.data)["wasmtime"]
    tarball, digest = artifacts.on_host("wasmtime", "tarball")
    host_ops.extracted(name="Unpack Wasmtime", tarball=tarball, dest=f"{PREFIX}/{version}", sha256=digest)
    files.link(name="Put wasmtime on PATH", path=BIN, target=f"{PREFIX}/{version}/wasmtime")
