"""Offline bundles: every pinned artifact a site needs, verified, with a manifest.

    edgewasm-bundle build site-a --inventory inventories/edge.py
    edgewasm-bundle build site-a --arch amd64 --arch arm64 --mirror https://mirror.example
    edgewasm-bundle verify site-a

A bundle is built in ``bundles/.NAME.partial`` and renamed into place only when every
file is downloaded and verified, so ``bundles/NAME`` is never half-written. Files of an
earlier build (or an interrupted one) whose hashes match are reused, not downloaded.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from pathlib import Path

import yaml

from edgewasm.artifacts import Artifact, CatalogError, load_catalog, mirror_url, parse_sha256sum, resolve
from edgewasm.download import DownloadError, fetch_file, fetch_text

MANIFEST = "manifest.json"
BUNDLES = Path("bundles")


class BundleError(RuntimeError):
    pass


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _Checksums:
    """Upstream checksum sources, each fetched once per build."""

    def __init__(self, mirror: str | None):
        self.mirror = mirror
        self._texts: dict[str, str] = {}

    def _text(self, url: str) -> str:
        if url not in self._texts:
            self._texts[url] = fetch_text(url)
        return self._texts[url]

    def source(self, artifact: Artifact) -> tuple[str, str]:
        """(sha256, download url) for an artifact."""
        if artifact.checksum_kind == "pinned":
            if not artifact.sha256:
                raise BundleError(
                    f"{artifact.component} {artifact.version} {artifact.arch}: no pinned sha256 for "
                    f"{artifact.file}; fix: download it on a trusted connection, check its signature, "
                    f"and pin it in group_data/artifacts.toml ([[{artifact.component}.files]] sha256)"
                )
            return artifact.sha256, artifact.url
        if artifact.checksum_kind == "sha256sum":
            sums = parse_sha256sum(self._text(artifact.checksum_url))
            if artifact.file not in sums:
                raise BundleError(f"{artifact.checksum_url} lists no checksum for {artifact.file}")
            if artifact.sha256 and artifact.sha256 != sums[artifact.file]:
                raise BundleError(f"{artifact.file}: upstream checksum {sums[artifact.file]} differs "
                                  f"from the pin {artifact.sha256}")
            return sums[artifact.file], artifact.url
        if artifact.checksum_kind == "helm-index":
            index = yaml.safe_load(self._text(artifact.checksum_url))
            entries = index.get("entries", {}).get(artifact.helm_chart, [])
            entry = next((e for e in entries if str(e.get("version")) == artifact.version), None)
            if not entry:
                raise BundleError(f"{artifact.checksum_url} has no chart {artifact.helm_chart} {artifact.version}")
            url = entry["urls"][0]
            if not url.startswith(("http://", "https://")):
                url = artifact.checksum_url.rsplit("/", 1)[0] + "/" + url
            elif self.mirror and not url.startswith(self.mirror):
                url = mirror_url(url, self.mirror)
            return entry["digest"], url
        raise BundleError(f"{artifact.component}: unknown checksum kind {artifact.checksum_kind!r}")


_online_checksums = _Checksums(None)


def upstream_source(artifact: Artifact) -> tuple[str, str]:
    """(sha256, url) an online host downloads ``artifact`` from (checksum files fetched once)."""
    return _online_checksums.source(artifact)


def fetch_verified(url: str, path: Path, sha256: str, progress: bool = True, log=None) -> int:
    """Make ``path`` a copy of ``url`` with ``sha256``, downloading only when the file
    there does not already have it; a download with another hash is discarded. Returns
    the bytes downloaded."""
    if path.exists() and sha256_of(path) == sha256:
        return 0
    path.unlink(missing_ok=True)
    if log:
        print(f"bundle: fetching {path.name}", file=log)
    downloaded = fetch_file(url, path, progress=progress)
    actual = sha256_of(path)
    if actual != sha256:
        path.unlink()
        raise BundleError(f"checksum mismatch for {path.name} from {url}: "
                          f"expected {sha256}, got {actual}; the file was discarded")
    return downloaded


def _build_hello_wasm(path: Path, version: str) -> None:
    from edgewasm.hello_wasm import image_archive

    image_archive(path, version)


# Artifacts edgewasm makes itself (checksums.kind = "built"): builder -> (path, version).
BUILDERS = {"hello-wasm": _build_hello_wasm}


def build_local(artifact: Artifact, path: Path) -> tuple[str, str]:
    """Make a built artifact at ``path``; return (sha256, source). Builds are byte-identical,
    so a rebuild of an unchanged source keeps the bundle's hash."""
    if artifact.builder not in BUILDERS:
        raise BundleError(f"{artifact.component}: unknown builder {artifact.builder!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    BUILDERS[artifact.builder](tmp, artifact.version)
    tmp.replace(path)
    return sha256_of(path), f"built by edgewasm ({artifact.builder} {artifact.version})"


def _fetch_image(artifact: Artifact, dest: Path, registry_mirror: str | None, tls_verify: bool) -> None:
    if not artifact.sha256:
        raise BundleError(
            f"{artifact.component} image {artifact.image_ref} ({artifact.arch}): no pinned digest; "
            "fix: pin the per-arch manifest digest in group_data/artifacts.toml ([[C.images]] digest)"
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
) -> dict:
    """Build ``out/name`` and return its manifest."""
    log = log or sys.stderr
    catalog = catalog or load_catalog()
    arches = sorted(set(arches))
    artifacts, unavailable = resolve(catalog, arches, versions, components, mirror)
    target, staging = out / name, out / f".{name}.partial"
    staging.mkdir(parents=True, exist_ok=True)
    _reuse_previous(target, staging)
    checksums = _Checksums(mirror)
    entries = []
    downloaded = 0
    started = time.monotonic()
    try:
        for artifact in artifacts:
            path = staging / artifact.bundle_path
            if artifact.kind == "image":
                if not path.exists():
                    _fetch_image(artifact, path, registry_mirror, registry_tls_verify)
                    downloaded += path.stat().st_size
                sha256, source = sha256_of(path), f"docker://{artifact.image_ref}@{artifact.sha256}"
            elif artifact.checksum_kind == "built":
                sha256, source = build_local(artifact, path)
            else:
                sha256, source = checksums.source(artifact)
                downloaded += fetch_verified(source, path, sha256, progress=progress, log=log)
            entries.append({
                "component": artifact.component, "version": artifact.version, "arch": artifact.arch,
                "name": artifact.name, "kind": artifact.kind, "file": artifact.bundle_path,
                "size": path.stat().st_size, "sha256": sha256, "source": source,
                "dest": artifact.dest, "roles": list(artifact.roles) if artifact.roles else None,
            })
    except DownloadError as exc:
        if "disk full" in str(exc):
            shutil.rmtree(staging, ignore_errors=True)
        raise BundleError(str(exc)) from None
    manifest = {
        "name": name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "arches": arches,
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


def _reuse_previous(target: Path, staging: Path) -> None:
    """Hard-link an earlier bundle's verified files into the staging tree."""
    manifest = target / MANIFEST
    if not manifest.exists():
        return
    for entry in json.loads(manifest.read_text())["artifacts"]:
        src, dst = target / entry["file"], staging / entry["file"]
        if src.exists() and not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.link(src, dst)


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


def verify(bundle: Path) -> list[str]:
    """Problems with a bundle against its manifest: each names the file, expected and actual."""
    manifest_path = bundle / MANIFEST
    if not manifest_path.exists():
        return [f"{bundle}: no {MANIFEST}; fix: build the bundle with edgewasm-bundle build"]
    problems = []
    for entry in json.loads(manifest_path.read_text())["artifacts"]:
        path = bundle / entry["file"]
        if not path.exists():
            problems.append(f"{path}: missing (expected sha256 {entry['sha256']})")
            continue
        actual = sha256_of(path)
        if actual != entry["sha256"]:
            problems.append(f"{path}: tampered or corrupt: expected sha256 {entry['sha256']}, actual {actual}")
    return problems


def load_manifest(bundle: Path) -> dict:
    return json.loads((bundle / MANIFEST).read_text())


def entries_for(manifest: Mapping, arch: str, role: str | None, versions: Mapping[str, str],
                any_role: bool = False) -> list[dict]:
    """The manifest entries a host of ``arch`` and ``role`` receives (``any_role``: for any role)."""
    return [e for e in manifest["artifacts"]
            if e["component"] in versions and e["version"] == versions[e["component"]]
            and e["arch"] in (arch, "all") and (any_role or not e["roles"] or role in e["roles"])]


def wanted_versions(data: Mapping) -> dict[str, str]:
    """component -> version for a host's data (artifact_components, artifact_versions)."""
    from edgewasm.artifacts import load_catalog

    catalog = load_catalog()
    overrides = data.get("artifact_versions") or {}
    return {c: overrides.get(c, catalog[c]["version"]) for c in (data.get("artifact_components") or catalog)}


def _inventory_needs(inventory: str) -> tuple[list[str], dict[str, str], str | None]:
    from edgewasm.hosts import inventory_hosts

    hosts = inventory_hosts(inventory)
    arches = sorted({h.data["edgewasm_arch"] for h in hosts if h.data.get("edgewasm_arch")})
    if len(arches) == 0:
        raise BundleError(f"{inventory}: no host declares edgewasm_arch; fix: set it or pass --arch")
    versions: dict[str, str] = {}
    for h in hosts:
        for component, version in (h.data.get("artifact_versions") or {}).items():
            if versions.setdefault(component, version) != version:
                raise BundleError(f"{inventory}: hosts want {component} {versions[component]} and {version}; "
                                  "build one bundle per version set")
    mirrors = {h.data["artifact_mirror"] for h in hosts if h.data.get("artifact_mirror")}
    if len(mirrors) > 1:
        raise BundleError(f"{inventory}: hosts name several artifact_mirror values {sorted(mirrors)}; pass --mirror")
    return arches, versions, next(iter(mirrors), None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edgewasm-bundle", description="Build and verify offline bundles.")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="download, verify and write bundles/NAME")
    b.add_argument("name")
    b.add_argument("--arch", action="append", choices=["amd64", "arm64", "arm"], help="repeatable")
    b.add_argument("--inventory", help="take arches (edgewasm_arch) and artifact_versions from an inventory")
    b.add_argument("--component", action="append", help="only these components (repeatable)")
    b.add_argument("--mirror", help="internal mirror: MIRROR/<upstream host>/<upstream path> "
                   "(default: the inventory's artifact_mirror)")
    b.add_argument("--registry-mirror", help="registry that mirrors image repositories by path")
    b.add_argument("--registry-insecure", action="store_true", help="plain HTTP / unverified TLS to the registry mirror")
    b.add_argument("--catalog", default=None, help="artifact catalogue (default group_data/artifacts.toml)")
    b.add_argument("--out", default=str(BUNDLES), type=Path)
    v = sub.add_parser("verify", help="check every file of a bundle against its manifest")
    v.add_argument("name")
    v.add_argument("--out", default=str(BUNDLES), type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "verify":
            problems = verify(args.out / args.name)
            for p in problems:
                print(p, file=sys.stderr)
            if not problems:
                print(f"{args.out / args.name}: every file matches the manifest")
            return 1 if problems else 0
        arches, versions, mirror = list(args.arch or []), {}, args.mirror
        if args.inventory:
            inv_arches, versions, inv_mirror = _inventory_needs(args.inventory)
            arches += inv_arches
            mirror = mirror or inv_mirror
        if not arches:
            parser.error("give --arch or --inventory")
        catalog = load_catalog(args.catalog) if args.catalog else None
        build(args.name, arches, versions, args.component, mirror, args.registry_mirror,
              registry_tls_verify=not args.registry_insecure, catalog=catalog, out=args.out)
    except (BundleError, CatalogError, DownloadError) as exc:
        print(f"edgewasm-bundle: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
