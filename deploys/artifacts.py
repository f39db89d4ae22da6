"""Put each host's own artifacts on it, as its plan says (edgewasm/plan.py).

With ``edgewasm_bundle`` set (a bundle directory on the operator's machine), every file
comes from the bundle, already checked against its manifest before any host was
contacted (``check_inventory``), and is verified again on the host after upload.
Without it, hosts download from upstream (or ``artifact_mirror``) and pyinfra checks the
sha256 the plan names. Either way a host gets only its own arch's files, and a host that
already has a file with the right hash gets nothing.

``place()`` returns the host's plan; full_stack.py hands it to every component deploy,
and stops there for a host whose plan refuses it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from gevent.lock import BoundedSemaphore
from pyinfra import host, logger
from pyinfra.facts.files import Sha256File
from pyinfra.operations import files

from deploys import edgewasm_deploy
from edgewasm import local_cache, upstream
from edgewasm.artifacts import HOST_CACHE
from edgewasm.download import fetch_verified
from edgewasm.manifest import Bundle
from edgewasm.plan import Placement, Plan, plan
from edgewasm.preflight import cache_space_problem
from facts.host import FreeDisk
from facts.runtimes import ExtractedFrom
from operations import fact_cache, host_files, host_ops

# Unpacked releases: /opt/edgewasm/<component>/<version>/ (see unpacked()).
OPT = "/opt/edgewasm"


def host_plan() -> Plan:
    """This host's plan, from its data, real arch and role (computed by ``place()``)."""
    bundle = host.data.get("edgewasm_bundle")
    return plan(
        host.name, host.data.dict(), fact_cache.arch(), fact_cache.role(),
        bundle=Bundle.open(bundle) if bundle else None,
        upstream=None if bundle else upstream.for_mirror(host.data.get("artifact_mirror")),
        release=fact_cache.os_release(),
    )


def _placed(the_plan: Plan) -> list[Placement]:
    # Operator-side only; an online node pulls its images itself.
    return [p for p in the_plan.placements if p.dest and p.source != "registry"]


def wants(the_plan: Plan) -> list:
    """Every fact placing and unpacking the plan's files reads, for ``fact_cache.prefetch``."""
    wanted = [spec for p in _placed(the_plan) for spec in host_files.wants_file(p.dest)]
    wanted += [(ExtractedFrom, {"directory": tree_of(p)}) for p in the_plan.placements if p.name == "tarball"]
    return [*wanted, (FreeDisk, {"path": HOST_CACHE})]  # read only when files are missing: free in the batch


@edgewasm_deploy("Artifacts")
def place(the_plan: Plan | None = None) -> Plan:
    """Place this host's artifacts (of ``the_plan``, else its own plan) and return the
    plan; a refused host gets nothing."""
    the_plan = the_plan or host_plan()
    if the_plan.refused:
        host_ops.refuse(name="Refuse host its artifacts cannot be placed on", reasons=list(the_plan.refusals))
        return the_plan
    for warning in the_plan.warnings:
        logger.warning(warning)
    placements = _placed(the_plan)
    missing = [p for p in placements if fact_cache.fact_once(Sha256File, path=p.dest) != p.sha256]
    need = sum(p.size or 0 for p in missing)
    if need:
        problem = cache_space_problem(host.name, fact_cache.fact_once(FreeDisk, path=HOST_CACHE), need)
        if problem:
            host_ops.refuse(name="Refuse host whose artifact cache has no room", reasons=[problem])
            return replace(the_plan, refusals=(*the_plan.refusals, problem))
    for p in placements:
        if p.source == "url":
            files.download(name=f"Artifact {p.component} {p.name}", src=p.location, dest=p.dest,
                           sha256sum=p.sha256, mode="644")
        else:
            host_files.verified_file(name=f"Artifact {p.component} {p.name}", src=p.location, dest=p.dest,
                                   sha256=p.sha256)
    return the_plan


_LOCAL_LOCK = BoundedSemaphore()
DOWNLOAD_CACHE = local_cache.DOWNLOADS


def local_copy(placement: Placement) -> Path:
    """An artifact on the operator's machine, for content that goes into a manifest (the
    Gatekeeper chart): the bundle's verified file, or a sha256-checked download."""
    if placement.source != "url":
        return Path(placement.location)
    path = DOWNLOAD_CACHE / placement.artifact.bundle_path
    with _LOCAL_LOCK:
        fetch_verified(placement.location, path, placement.sha256, progress=False)
    return path


def tree_of(tarball: Placement) -> str:
    return f"{OPT}/{tarball.component}/{tarball.version}"


def unpacked(the_plan: Plan, component: str):
    """Unpack the component's release tarball from the artifact cache into
    /opt/edgewasm/<component>/<version>; returns (that directory, the operation)."""
    tarball = the_plan.placement(component, "tarball")
    tree = tree_of(tarball)
    return tree, host_files.extracted(name=f"Unpack {component} {tarball.version}", tarball=tarball.dest,
                                    dest=tree, sha256=tarball.sha256)
