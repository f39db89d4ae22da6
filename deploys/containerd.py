"""The K3s containerd template: only what K3s does not generate itself.

K3s rebuilds its containerd config.toml at every start from config-v3.toml.tmpl
(containerd 2.x: K3s v1.31.6+k3s1, v1.32.2+k3s1 and later) or config.toml.tmpl
(containerd 1.x), when present. Ours starts from K3s's own base and appends runtimes
such as ``crun-wasm``; the generation follows the host's pinned K3s version, the other
generation's file is removed, and with nothing to add neither file exists.
"""

from __future__ import annotations

from deploys import edgewasm_deploy
from edgewasm.plan import Plan
from edgewasm.wasm import CONTAINERD_DIR, containerd_template_name, containerd_template_source
from operations import host_files

TEMPLATE_NAMES = ("config.toml.tmpl", "config-v3.toml.tmpl")
TEMPLATE_PATHS = tuple(f"{CONTAINERD_DIR}/{name}" for name in TEMPLATE_NAMES)


def wants() -> list:
    return [*host_files.wants_directory(CONTAINERD_DIR),
            *(spec for path in TEMPLATE_PATHS for spec in host_files.wants_file(path))]


@edgewasm_deploy("containerd template")
def template(plan: Plan, runtimes: dict[str, dict]) -> bool:
    """Write (or remove) the template; True when K3s must restart to read it."""
    wanted = containerd_template_name(plan.versions["k3s"]) if runtimes else None
    changed = False
    for name in TEMPLATE_NAMES:
        path = f"{CONTAINERD_DIR}/{name}"
        if name == wanted:
            host_files.directory(name="K3s containerd config directory", path=CONTAINERD_DIR, mode="755")
            op = host_files.template(name=f"Write K3s's {name}", src=containerd_template_source(name),
                                     dest=path, mode="644", runtimes=runtimes)
        else:
            op = host_files.absent(name=f"No {name}", path=path)
        changed |= op.will_change
    return changed
