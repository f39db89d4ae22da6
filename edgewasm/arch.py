"""Machine names as K3s and WasmEdge spell them."""

from __future__ import annotations

# `uname -m` -> the K3s arch (install.sh's mapping). Anything else is unsupported.
UNAME_TO_K3S = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "armv7": "arm",
    "armv6l": "arm",
    "armhf": "arm",
}
K3S_ARCHES = frozenset(UNAME_TO_K3S.values())

# WasmEdge and runwasi publish x86_64 and aarch64 builds only: no armv7.
K3S_TO_WASMEDGE = {"amd64": "x86_64", "arm64": "aarch64"}


def k3s_arch(machine: str) -> str | None:
    """Map `uname -m` output to amd64/arm64/arm, or None when K3s ships nothing for it."""
    return UNAME_TO_K3S.get(machine.strip().lower())


def wasmedge_arch(arch: str) -> str | None:
    """The WasmEdge/runwasi asset arch for a K3s arch, or None (armv7 has none)."""
    return K3S_TO_WASMEDGE.get(arch)
