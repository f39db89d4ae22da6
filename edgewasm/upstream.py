"""Where an artifact comes from when no bundle holds it, and the sha256 it must have:
upstream checksum files, the catalogue's pins, the Helm index, or edgewasm's own builds.

The bundle builder asks here for every file it downloads; a host deployed without a
bundle asks here while pyinfra prepares the run (a run from a bundle never does: its
manifest already holds every hash). Each checksum source is fetched once per process.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import yaml
from gevent.lock import BoundedSemaphore

from edgewasm import bench_images, hello_wasm, local_cache
from edgewasm.artifacts import Artifact, mirror_url
from edgewasm.download import fetch_text
from edgewasm.manifest import sha256_of
from edgewasm.pins import parse_sha256sum

BUILD_CACHE = local_cache.BUILT


class UpstreamError(RuntimeError):
    pass


@dataclass(frozen=True)
class Source:
    sha256: str | None  # None: an image pulled by digest (its archive's hash is known once copied)
    kind: str  # url | built | registry
    location: str  # URL, local path of a built file, or image ref@digest


# Artifacts edgewasm makes itself (checksums.kind = "built"): builder -> f(path, version,
# arch), arch the K3s arch the file is for (a Wasm image is the same on every arch).
BUILDERS = {
    "hello-wasm": lambda path, version, arch: hello_wasm.image_archive(path, version),
    "bench-wasm": bench_images.wasm_archive,
    "bench-native": bench_images.native_archive,
}


def build_local(artifact: Artifact, path: Path) -> str:
    """Make a built artifact at ``path``; return its sha256. Builds are byte-identical,
    so a rebuild of an unchanged source keeps the hash."""
    if artifact.builder not in BUILDERS:
        raise UpstreamError(f"{artifact.component}: unknown builder {artifact.builder!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    try:
        BUILDERS[artifact.builder](tmp, artifact.version, artifact.arch)
    except bench_images.BenchImageError as exc:
        raise UpstreamError(f"{artifact.component} {artifact.version} {artifact.arch}: {exc}") from None
    tmp.replace(path)
    return sha256_of(path)


class Upstream:
    """Checksum sources and local builds for one mirror, each looked up once."""

    def __init__(self, mirror: str | None = None, build_dir: Path = BUILD_CACHE):
        self.mirror = mirror
        self.build_dir = build_dir
        self._texts: dict[str, str] = {}
        self._built: dict[str, str] = {}
        # pyinfra prepares hosts concurrently (gevent): one lookup or build at a time.
        self._lock = BoundedSemaphore()

    def _text(self, url: str) -> str:
        if url not in self._texts:
            self._texts[url] = fetch_text(url)
        return self._texts[url]

    def source(self, artifact: Artifact) -> Source:
        with self._lock:
            return self._source(artifact)

    def _source(self, artifact: Artifact) -> Source:
        if artifact.kind == "image":
            ref = f"{artifact.image_ref}@{artifact.sha256}" if artifact.sha256 else artifact.image_ref
            return Source(None, "registry", ref)
        if artifact.checksum_kind == "built":
            path = self.build_dir / artifact.bundle_path
            if artifact.bundle_path not in self._built:
                self._built[artifact.bundle_path] = build_local(artifact, path)
            return Source(self._built[artifact.bundle_path], "built", str(path))
        if artifact.checksum_kind == "pinned":
            if not artifact.sha256:
                raise UpstreamError(
                    f"{artifact.component} {artifact.version} {artifact.arch}: no pinned sha256 for "
                    f"{artifact.file}; fix: run `edgewasm-bundle lock` (pins what upstream publishes into the "
                    f"lock file beside the catalogue, edgewasm/artifacts.lock.toml), or download it on a trusted "
                    f"connection, check its signature and pin it in edgewasm/artifacts.toml "
                    f"([[{artifact.component}.files]] sha256)"
                )
            return Source(artifact.sha256, "url", artifact.url)
        if artifact.checksum_kind == "sha256sum":
            sums = parse_sha256sum(self._text(artifact.checksum_url))
            if artifact.file not in sums:
                raise UpstreamError(f"{artifact.checksum_url} lists no checksum for {artifact.file}")
            if artifact.sha256 and artifact.sha256 != sums[artifact.file]:
                raise UpstreamError(f"{artifact.file}: upstream checksum {sums[artifact.file]} differs "
                                    f"from the pin {artifact.sha256}; fix: find out why upstream changed, "
                                    "then run edgewasm-bundle lock")
            return Source(sums[artifact.file], "url", artifact.url)
        if artifact.checksum_kind == "helm-index":
            index = yaml.safe_load(self._text(artifact.checksum_url))
            entries = index.get("entries", {}).get(artifact.helm_chart, [])
            entry = next((e for e in entries if str(e.get("version")) == artifact.version), None)
            if not entry:
                raise UpstreamError(f"{artifact.checksum_url} has no chart {artifact.helm_chart} {artifact.version}")
            url = entry["urls"][0]
            if not url.startswith(("http://", "https://")):
                url = artifact.checksum_url.rsplit("/", 1)[0] + "/" + url
            elif self.mirror and not url.startswith(self.mirror):
                url = mirror_url(url, self.mirror)
            if artifact.sha256 and artifact.sha256 != entry["digest"]:
                raise UpstreamError(f"{artifact.file}: {artifact.checksum_url} says digest {entry['digest']}, "
                                    f"the pin is {artifact.sha256}; fix: find out why upstream changed, then "
                                    "run edgewasm-bundle lock")
            return Source(entry["digest"], "url", url)
        raise UpstreamError(f"{artifact.component}: unknown checksum kind {artifact.checksum_kind!r}")


@functools.lru_cache(maxsize=None)
def for_mirror(mirror: str | None) -> Upstream:
    """The process's one Upstream per mirror (checksum files fetched once per run)."""
    return Upstream(mirror)
