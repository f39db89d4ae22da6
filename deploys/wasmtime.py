"""Wasmtime CLI: the pinned release for the host's arch, from the artifact cache.

Unpacked under /opt/edgewasm/wasmtime/<version>/ with /usr/local/bin/wasmtime pointing
at it, so an upgrade is a new directory and a link switch. Hosts whose arch upstream
does not build for (armv7) are skipped; deploys/artifacts.py already warned about them.
"""

from pyinfra.api import deploy
from pyinfra.operations import files

from deploys import artifacts

BIN = "/usr/local/bin/wasmtime"


@deploy("Wasmtime")
def wasmtime() -> None:
    version = artifacts.shipped_here("wasmtime")
    if version:
        tree, _ = artifacts.unpacked("wasmtime", version)
        files.link(name="Put wasmtime on PATH", path=BIN, target=f"{tree}/wasmtime")
