"""OPA Gatekeeper and the image policies, as manifests in the K3s auto-deploy directory.

On servers only (K3s applies what is there and keeps it applied):
- edgewasm-gatekeeper.yaml: a HelmChart carrying the pinned chart itself
  (``chartContent``), so K3s's helm controller installs it with no helm binary and no
  download; values sized for a 2 GB Raspberry Pi, images preloaded from the bundle
  (the host's plan puts them in K3s's images directory), ``IfNotPresent``.
- edgewasm-policy-<template>.yaml: the ConstraintTemplates from templates/policies/.
- edgewasm-policy-constraints.yaml: Constraints rendered from the policy_* settings.
With ``gatekeeper_enabled = False`` none of these files is there.
"""

from __future__ import annotations

from pyinfra import host

from deploys import artifacts, edgewasm_deploy
from edgewasm.plan import Plan
from edgewasm.policy import (CONSTRAINTS_TEMPLATE, HELMCHART_TEMPLATE, POLICY_TEMPLATES, constraint_values,
                             helmchart_values)
from edgewasm.wasm import MANIFESTS_DIR
from operations import fact_cache, host_files

HELMCHART = f"{MANIFESTS_DIR}/edgewasm-gatekeeper.yaml"
CONSTRAINTS = f"{MANIFESTS_DIR}/edgewasm-policy-constraints.yaml"


def template_manifest(template) -> str:
    return f"{MANIFESTS_DIR}/edgewasm-policy-{template.stem}.yaml"


def _manifests() -> tuple[str, ...]:
    return (HELMCHART, CONSTRAINTS, *(template_manifest(t) for t in POLICY_TEMPLATES))


def wants() -> list:
    if fact_cache.role() != "server":
        return []
    return [*host_files.wants_directory(MANIFESTS_DIR), *(s for p in _manifests() for s in host_files.wants_file(p))]


@edgewasm_deploy("Gatekeeper")
def gatekeeper(plan: Plan) -> None:
    if fact_cache.role() != "server":
        return
    if not plan.shipped("gatekeeper") or not host.data.gatekeeper_enabled:
        for path in _manifests():
            host_files.absent(name=f"No {path}", path=path)
        return
    chart = artifacts.local_copy(plan.placement("gatekeeper", "chart")).read_bytes()
    host_files.directory(name="K3s auto-deploy directory", path=MANIFESTS_DIR)
    host_files.template(name="Put the Gatekeeper HelmChart in the auto-deploy directory",
                        src=HELMCHART_TEMPLATE, dest=HELMCHART, mode="600",
                        **helmchart_values(host.data.dict(), plan.versions["gatekeeper"], chart))
    for template in POLICY_TEMPLATES:
        host_files.put(name=f"Put the {template.stem} ConstraintTemplate in the auto-deploy directory",
                       src=str(template), dest=template_manifest(template), mode="600")
    host_files.template(name="Put the image policy Constraints in the auto-deploy directory",
                        src=CONSTRAINTS_TEMPLATE, dest=CONSTRAINTS, mode="600",
                        **constraint_values(host.data.dict()))
