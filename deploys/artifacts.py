"""Put each host's own artifacts on it: from an offline bundle, or from upstream.

With ``edgewasm_bundle`` set (a bundle directory on the operator's machine), every file
comes from the bundle, already checked against its manifest before any host was
contacted (``check_inventory``), and is verified again on the host after upload.
Without it, hosts download from upstream (or ``artifact_mirror``) and pyinfra checks the
sha256 the catalogue names. Either way a host gets only its own arch's files, and a host
that already has a file with the right hash gets nothing.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from gevent.lock import BoundedSemaphore
from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.operations import files

from deploys import host_ops
from edgewasm.artifacts import load_catalog, resolve
from edgewasm.bundle import build_local, entries_for, fetch_verified, load_manifest, upstream_source, wanted_versions

# Unpacked releases: /opt/edgewasm/<component>/<version>/ (see unpacked()).
OPT = "/opt/edgewasm"


def _report_unavailable(arch: str, unavailable: list[dict]) -> bool:
    """Say what upstream does not ship for this arch; refuse (False) if Wasm is required here."""
    wasm = sorted({u["component"] for u in unavailable if u["wasm"]})
    if wasm and host.data.get("edgewasm_require_wasm"):
        host_ops.refuse(
            name="Refuse host without Wasm runtimes",
            reasons=[f"{host.name}: upstream ships no {', '.join(wasm)} for {arch}, and edgewasm_require_wasm "
                     "is set; fix: use an amd64 or arm64 host (64-bit OS on a Pi), or unset it"],
        )
        return False
    for u in unavailable:
        what = "WebAssembly workloads cannot run here" if u["wasm"] else "skipped"
        logger.warning(f"{host.name}: upstream ships no {u['component']} {u['version']} for {arch}: {what}")
    return True


def _from_bundle(bundle: Path, arch: str, role: str | None) -> None:
    manifest = load_manifest(bundle)
    versions = wanted_versions(host.data)
    entries = entries_for(manifest, arch, role, versions)
    # Role-limited files (the chart on servers) are absent for other roles by design.
    have = {e["component"] for e in entries_for(manifest, arch, role, versions, any_role=True)}
    unavailable = [u for u in manifest["unavailable"]
                   if u["arch"] == arch and u["component"].split("/")[0] in versions]
    absent = sorted(set(versions) - have - {u["component"] for u in unavailable})
    if absent:
        host_ops.refuse(
            name="Refuse host the bundle cannot serve",
            reasons=[f"{host.name}: bundle {bundle} has no {c} {versions[c]} for {arch}; "
                     f"fix: rebuild it with --arch {arch} (or --inventory)" for c in absent],
        )
        return
    if not _report_unavailable(arch, unavailable):
        return
    for entry in (e for e in entries if e["dest"]):
        host_ops.verified_file(
            name=f"Artifact {entry['component']} {entry['name']}",
            src=str(bundle / entry["file"]),
            dest=entry["dest"],
            sha256=entry["sha256"],
        )


# Built artifacts (hello-wasm) are made once per run on the operator's machine; hosts are
# prepared concurrently, so one at a time.
_BUILT_LOCK = BoundedSemaphore()
_BUILT: dict[str, tuple[str, str]] = {}
BUILT_CACHE = Path.home() / ".cache" / "edgewasm" / "built"


def _built(artifact) -> tuple[str, str]:
    """(local path, sha256) of a built artifact, made on first use."""
    with _BUILT_LOCK:
        if artifact.bundle_path not in _BUILT:
            path = BUILT_CACHE / artifact.bundle_path
            _BUILT[artifact.bundle_path] = (str(path), build_local(artifact, path)[0])
        return _BUILT[artifact.bundle_path]


def _from_upstream(arch: str, role: str | None) -> None:
    versions = wanted_versions(host.data)
    artifacts, unavailable = resolve(load_catalog(), [arch], versions, list(versions),
                                     host.data.get("artifact_mirror"))
    if not _report_unavailable(arch, [asdict(u) for u in unavailable]):
        return
    for artifact in artifacts:
        if artifact.kind == "image":
            continue  # an online node pulls its images itself
        if not (artifact.dest and artifact.wanted_by(arch, role)):
            continue
        if artifact.checksum_kind == "built":
            src, sha256 = _built(artifact)
            host_ops.verified_file(name=f"Artifact {artifact.component} {artifact.name}", src=src,
                                   dest=artifact.dest, sha256=sha256)
        else:
            sha256, url = upstream_source(artifact)
            files.download(
                name=f"Artifact {artifact.component} {artifact.name}",
                src=url,
                dest=artifact.dest,
                sha256sum=sha256,
                mode="644",
            )


@deploy("Artifacts")
def place() -> None:
    arch = host_ops.arch()
    role = host.data.get("edgewasm_role")
    bundle = host.data.get("edgewasm_bundle")
    if bundle:
        _from_bundle(Path(bundle), arch, role)
    else:
        _from_upstream(arch, role)


_LOCAL_LOCK = BoundedSemaphore()
DOWNLOAD_CACHE = Path.home() / ".cache" / "edgewasm" / "downloads"


def _find(component: str, name: str):
    """This host's bundle manifest entry for an artifact (dict), or its upstream Artifact."""
    arch = host_ops.arch()
    versions = wanted_versions(host.data)
    bundle = host.data.get("edgewasm_bundle")
    if bundle:
        entries = entries_for(load_manifest(Path(bundle)), arch, host.data.get("edgewasm_role"), versions)
        return next(e for e in entries if (e["component"], e["name"]) == (component, name))
    artifacts, _ = resolve(load_catalog(), [arch], versions, [component], host.data.get("artifact_mirror"))
    return next(a for a in artifacts if a.name == name)


def local_copy(component: str, name: str) -> Path:
    """An artifact on the operator's machine, for content that goes into a manifest (the
    Gatekeeper chart): the bundle's verified file, or a sha256-checked download."""
    found = _find(component, name)
    if isinstance(found, dict):
        return Path(host.data.edgewasm_bundle) / found["file"]
    sha256, url = upstream_source(found)
    path = DOWNLOAD_CACHE / found.bundle_path
    with _LOCAL_LOCK:
        fetch_verified(url, path, sha256, progress=False)
    return path


def on_host(component: str, name: str) -> tuple[str, str]:
    """(path on this host, sha256) of a placed artifact, e.g. ("k3s", "binary")."""
    found = _find(component, name)
    if isinstance(found, dict):
        return found["dest"], found["sha256"]
    if found.checksum_kind == "built":
        return found.dest, _built(found)[1]
    return found.dest, upstream_source(found)[0]


def shipped_here(component: str) -> str | None:
    """The version of ``component`` this host takes, or None when it is not wanted here
    or upstream builds nothing for the host's arch (already reported by place())."""
    version = wanted_versions(host.data).get(component)
    return version if version and host_ops.arch() in load_catalog()[component]["arches"] else None


def unpacked(component: str, version: str):
    """Unpack the component's release tarball from the artifact cache into
    /opt/edgewasm/<component>/<version>; returns (that directory, the operation)."""
    tree = f"{OPT}/{component}/{version}"
    tarball, digest = on_host(component, "tarball")
    return tree, host_ops.extracted(name=f"Unpack {component} {version}", tarball=tarball, dest=tree, sha256=digest)
