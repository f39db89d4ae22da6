"""runwasi containerd shims (containerd-shim-<runtime>-v1) where K3s looks for them.

Every catalogue entry with a ``shim`` is a shim: unpacked under
/opt/edgewasm/<component>/<version>/ and linked into /usr/local/bin, which K3s searches
at start and turns into a containerd runtime of that name. A shim that is no longer
wanted loses its link, so K3s stops offering it. K3s only notices at its next start:
``shims()`` says whether any link changed, and deploys/k3s.py restarts on that alone.
Which handlers the host ends up with is its plan's ``handlers``.
"""

from __future__ import annotations

from deploys import artifacts, edgewasm_deploy
from edgewasm.artifacts import load_catalog
from edgewasm.plan import Plan
from edgewasm.wasm import SHIM_DIR
from operations import host_files


def shim_paths() -> tuple[str, ...]:
    """Where every shim K3s could find sits (present or not): part of what K3s reads at start."""
    return tuple(f"{SHIM_DIR}/{entry['shim']}" for entry in load_catalog().values() if entry.get("shim"))


def wants() -> list:
    return [spec for path in shim_paths() for spec in host_files.wants_link(path)]


@edgewasm_deploy("runwasi shims")
def shims(plan: Plan) -> bool:
    """Link the shims the plan ships here, unlink the others; True when a link changed."""
    changed = False
    for component, entry in load_catalog().items():
        shim = entry.get("shim")
        if not shim:
            continue
        path = f"{SHIM_DIR}/{shim}"
        if not plan.shipped(component):
            changed |= host_files.link(name=f"No {shim}", path=path).will_change
            continue
        tree, _ = artifacts.unpacked(plan, component)
        changed |= host_files.link(name=f"Put {shim} where K3s finds it", path=path,
                                   target=f"{tree}/{shim}").will_change
    return changed
