"""runwasi containerd shims (containerd-shim-<runtime>-v1) where K3s looks for them.

Every catalogue entry with a ``shim`` is a shim: unpacked under
/opt/edgewasm/<component>/<version>/ and linked into /usr/local/bin, which K3s searches
at start and turns into a containerd runtime of that name. A shim that is no longer
wanted loses its link, so K3s stops offering it. K3s only notices at its next start:
``shims()`` says whether any link changed, and deploys/k3s.py restarts on that alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyinfra.api import deploy
from pyinfra.operations import files

from deploys import artifacts
from edgewasm.artifacts import load_catalog
from edgewasm.wasm import SHIM_DIR, shim_handler


@dataclass
class Shims:
    handlers: list[str] = field(default_factory=list)  # runtime names K3s will detect here
    changed: bool = False  # a link appeared, moved or went: K3s must restart to see it


@deploy("runwasi shims")
def shims() -> Shims:
    result = Shims()
    for component, entry in load_catalog().items():
        shim = entry.get("shim")
        if not shim:
            continue
        path = f"{SHIM_DIR}/{shim}"
        version = artifacts.shipped_here(component)
        if not version:
            gone = files.link(name=f"No {shim}", path=path, present=False)
            result.changed |= gone.will_change
            continue
        tree, _ = artifacts.unpacked(component, version)
        link = files.link(name=f"Put {shim} where K3s finds it", path=path, target=f"{tree}/{shim}")
        result.changed |= link.will_change
        result.handlers.append(shim_handler(shim))
    return result
