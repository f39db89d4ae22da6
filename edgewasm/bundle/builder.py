"""Offline bundles: every pinned artifact a site needs, verified, with a manifest.

A bundle holds the artifact plans (edgewasm/plan.py) of the arches it is built for, every
role's files included, and, per OS release it is built for, the .deb closure of
preflight_packages (apt_closure.py), so that hosts with no route out can be prepared.
It is built in ``bundles/.NAME.partial`` and renamed into place only when every file is
downloaded and verified, so ``bundles/NAME`` is never half-written. Files of an earlier
build (or an interrupted one) whose hashes match are reused, not downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from pathlib import Path

from edgewasm.artifacts import load_catalog
from edgewasm.apt import ResolveError
from edgewasm.bundle.apt_closure import bundle_os_packages
from edgewasm.download import DownloadError, fetch_verified
from edgewasm.manifest import MANIFEST, Bundle, sha256_of
from edgewasm.os_releases import DPKG_ARCH, releases
from edgewasm.packaged_runtimes import packaged
from edgewasm.plan import ANY_ROLE, Placement, plan, wanted_versions
from edgewasm.upstream import Upstream, UpstreamError

BUNDLES = Path("bundles")


class BundleError(RuntimeError):
    pass


def _fetch_image(placement: Placement, dest: Path, registry_mirror: str | None, tls_verify: bool) -> None:
    artifact = placement.artifact
    if not artifact.sha256:
        raise BundleError(
            f"{artifact.component} image {artifact.image_ref} ({artifact.arch}): no pinned digest; "
            "fix: run `edgewasm-bundle lock` (reads the per-arch manifest digests from the registry into "
            "edgewasm/artifacts.lock.toml), or pin it in edgewasm/artifacts.toml ([[C.images]] digest)"
        )
    name, _, _tag = artifact.image_ref.rpartition(":")
    source = name
    if registry_mirror:
        source = f"{registry_mirror.rstrip('/')}/{name.split('/', 1)[1]}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    tmp.unlink(missing_ok=True)
    result = subprocess.run(
        ["skopeo", "copy", "--quiet", f"--src-tls-verify={str(tls_verify).lower()}",
         "--override-os", "linux", "--override-arch", artifact.arch,
         f"docker://{source}@{artifact.sha256}", f"docker-archive:{tmp}:{artifact.image_ref}"],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise BundleError(f"cannot copy image {source}@{artifact.sha256}: {result.stderr.strip()}")
    tmp.rename(dest)


def _placements(arches: list[str], data: Mapping, upstream: Upstream, catalog: Mapping):
    """Every file of every role the given arches need, each once, and what upstream lacks."""
    seen: dict[str, Placement] = {}
    unavailable = []
    for arch in arches:
        the_plan = plan("bundle", data, arch, ANY_ROLE, upstream=upstream, catalog=catalog, strict=True)
        for p in the_plan.placements:
            seen.setdefault(p.artifact.bundle_path, p)
        unavailable += [u for u in the_plan.unavailable if u not in unavailable]
    return list(seen.values()), unavailable


def _runtime_packages(hosts: Iterable[Mapping], release: str, arch: str) -> list[str]:
    return [p for data in hosts for runtime in packaged(data, release, arch, wanted_versions(data)).values()
            for p in runtime.packages]


def build(
    name: str,
    arches: Iterable[str],
    versions: Mapping[str, str] | None = None,
    components: Iterable[str] | None = None,
    mirror: str | None = None,
    registry_mirror: str | None = None,
    registry_tls_verify: bool = True,
    catalog: Mapping | None = None,
    out: Path = BUNDLES,
    progress: bool = True,
    log=None,
    os_releases: Iterable[str] = (),
    os_packages: Iterable[str] = (),
    runtime_hosts: Iterable[Mapping] = ({},),
    bench_images: bool = False,
) -> dict:
    """Build ``out/name`` and return its manifest; with ``os_releases``, also the .deb
    closure of ``os_packages`` for each of them and each arch, plus the packages of the
    Wasm runtimes a host with any of ``runtime_hosts``' data takes from that release
    (edgewasm/packaged_runtimes.py; default: a host with the default settings). With
    ``bench_images`` (a host sets edgewasm_bench_images), also the bench images."""
    log = log or sys.stderr
    catalog = catalog or load_catalog()
    arches = sorted(set(arches))
    data = {"artifact_versions": dict(versions or {}), "artifact_components": list(components) if components else None,
            "artifact_mirror": mirror, "edgewasm_bench_images": bench_images}
    target, staging = out / name, out / f".{name}.partial"
    staging.mkdir(parents=True, exist_ok=True)
    upstream = Upstream(mirror, build_dir=staging / ".built")
    entries = []
    downloaded = 0
    started = time.monotonic()
    try:
        placements, unavailable = _placements(arches, data, upstream, catalog)
        previous = _reuse_previous(target, staging)
        for p in placements:
            artifact = p.artifact
            path = staging / artifact.bundle_path
            if p.source == "registry":
                source = f"docker://{p.location}"
                # An earlier build's tarball counts only if it is still what that build
                # recorded, pulled by the digest pinned now.
                before = previous.get(artifact.bundle_path, {})
                if path.exists() and (before.get("source") != source or sha256_of(path) != before.get("sha256")):
                    path.unlink()
                if not path.exists():
                    _fetch_image(p, path, registry_mirror, registry_tls_verify)
                    downloaded += path.stat().st_size
                sha256 = sha256_of(path)
            elif p.source == "built":
                path.parent.mkdir(parents=True, exist_ok=True)
                os.replace(p.location, path)
                sha256, source = p.sha256, f"built by edgewasm ({artifact.builder} {artifact.version})"
            else:
                sha256, source = p.sha256, p.location
                downloaded += fetch_verified(p.location, path, p.sha256, progress=progress, log=log)
            entries.append({
                "component": artifact.component, "version": artifact.version, "arch": artifact.arch,
                "name": artifact.name, "kind": artifact.kind, "file": artifact.bundle_path,
                "size": path.stat().st_size, "sha256": sha256, "source": source,
                "dest": artifact.dest, "roles": list(artifact.roles) if artifact.roles else None,
            })
        known = releases()
        for release in sorted(set(os_releases)):
            if release not in known:
                raise BundleError(f"no OS release {release!r} in edgewasm/os_releases.toml (it has "
                                  f"{', '.join(sorted(known))}); fix: add its archives there or drop it")
            for arch in arches:
                if DPKG_ARCH[arch] in known[release]["arches"]:
                    wanted = list(dict.fromkeys([*os_packages, *_runtime_packages(runtime_hosts, release, arch)]))
                    debs, fetched = bundle_os_packages(staging, release, known[release], DPKG_ARCH[arch],
                                                       wanted, log)
                    entries += debs
                    downloaded += fetched
    except (DownloadError, UpstreamError, ResolveError) as exc:
        if "disk full" in str(exc):
            shutil.rmtree(staging, ignore_errors=True)
        raise BundleError(str(exc)) from None
    manifest = {
        "name": name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "arches": arches,
        "os_releases": sorted(set(os_releases)),
        "mirror": mirror,
        "artifacts": entries,
        "unavailable": [asdict(u) for u in unavailable],
    }
    _drop_unlisted(staging, {e["file"] for e in entries})
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    _swap_into_place(staging, target)
    print(f"bundle: {target} ready: {len(entries)} files, {downloaded} bytes downloaded "
          f"in {time.monotonic() - started:.1f}s", file=log)
    for u in unavailable:
        print(f"bundle: upstream ships no {u.component} {u.version} for {u.arch}", file=log)
    return manifest


def _reuse_previous(target: Path, staging: Path) -> dict[str, dict]:
    """Hard-link an earlier bundle's files into the staging tree; return its manifest
    entries by file. Downloads are verified again against their checksums before they
    count, images against the earlier entry (see build)."""
    manifest = target / MANIFEST
    if not manifest.exists():
        return {}
    entries = json.loads(manifest.read_text())["artifacts"]
    for entry in entries:
        src, dst = target / entry["file"], staging / entry["file"]
        if src.exists() and not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.link(src, dst)
    return {e["file"]: e for e in entries}


def _drop_unlisted(staging: Path, keep: set[str]) -> None:
    for path in sorted(staging.rglob("*"), reverse=True):
        rel = path.relative_to(staging).as_posix()
        if path.is_file() and rel not in keep:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def _swap_into_place(staging: Path, target: Path) -> None:
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    Bundle.forget(target)  # this process reads the new manifest, not the one it may have opened before
