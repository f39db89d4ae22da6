"""Machine names as K3s spells them. (What each component calls an arch, and which
arches it has at all, is data: edgewasm/artifacts.toml.)"""

from __future__ import annotations

# `uname -m` -> the K3s arch (install.sh's mapping). Anything else is unsupported: K3s's
# armhf build targets ARMv7, so an ARMv6 board (Pi Zero, Pi 1) is refused.
UNAME_TO_K3S = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "armv7": "arm",
    "armhf": "arm",
}
K3S_ARCHES = frozenset(UNAME_TO_K3S.values())


def k3s_arch(machine: str) -> str | None:
    """Map `uname -m` output to amd64/arm64/arm, or None when K3s ships nothing for it."""
    return UNAME_TO_K3S.get(machine.strip().lower())

