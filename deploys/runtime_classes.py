"""RuntimeClasses beyond K3s's own, as a manifest in the K3s auto-deploy directory.

On servers only (K3s applies what it finds there, and keeps applying it). One class per
Wasm handler any host of the inventory is set up for, each with a nodeSelector on the
label edgewasm sets only on nodes that really have that runtime (deploys/k3s.py puts it
in the node's K3s node-label list).
"""

from __future__ import annotations

from pyinfra import inventory

from deploys import edgewasm_deploy
from edgewasm.plan import fleet_handlers
from edgewasm.wasm import MANIFESTS_DIR, RUNTIME_CLASSES_TEMPLATE, runtime_class_specs
from operations import fact_cache, host_files

MANIFEST = f"{MANIFESTS_DIR}/edgewasm-runtimeclasses.yaml"


def wants() -> list:
    if fact_cache.role() != "server":
        return []
    return [*host_files.wants_directory(MANIFESTS_DIR), *host_files.wants_file(MANIFEST)]


@edgewasm_deploy("Wasm RuntimeClasses")
def runtime_classes() -> None:
    if fact_cache.role() != "server":
        return
    handlers = fleet_handlers([h.data.dict() for h in inventory])
    if not handlers:
        host_files.absent(name="No edgewasm RuntimeClasses", path=MANIFEST)
        return
    host_files.directory(name="K3s auto-deploy directory", path=MANIFESTS_DIR)
    host_files.template(name="Put the Wasm RuntimeClasses in the auto-deploy directory",
                        src=RUNTIME_CLASSES_TEMPLATE, dest=MANIFEST, mode="600",
                        classes=runtime_class_specs(handlers))
