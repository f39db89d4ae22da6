"""Wasmtime CLI: the pinned release for the host's arch, from the artifact cache.

Unpacked under /opt/edgewasm/wasmtime/<version>/ with /usr/local/bin/wasmtime pointing
at it, so an upgrade is a new directory and a link switch. Hosts whose arch upstream
does not build for (armv7) are skipped; their plan already warned about them.
"""

from deploys import artifacts, edgewasm_deploy
from edgewasm.plan import Plan
from operations import host_files

BIN = "/usr/local/bin/wasmtime"


def wants() -> list:
    return host_files.wants_link(BIN)


@edgewasm_deploy("Wasmtime")
def wasmtime(plan: Plan) -> None:
    if plan.shipped("wasmtime"):
        tree, _ = artifacts.unpacked(plan, "wasmtime")
        host_files.link(name="Put wasmtime on PATH", path=BIN, target=f"{tree}/wasmtime")
