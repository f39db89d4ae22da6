"""Pins from what upstream publishes, and the lock file that holds them.

Pure functions: reading GitHub release JSON, checksum lists and OCI image indexes,
comparing pins, reading and writing the lock document. The network side
(``edgewasm-bundle lock``) is edgewasm/bundle/lock.py; merging a lock into the
catalogue is edgewasm/artifacts.py (``load_catalog``).

The lock file sits beside the catalogue (``artifacts.toml`` -> ``artifacts.lock.toml``)
and holds one ``[[pins]]`` table per file or image and arch; see docs/offline.md.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import tomli_w

LOCK_FORMAT = 1
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
IMAGE_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")

# Media types of a tag that names several platforms (OCI image index, Docker manifest
# list) and of a single-platform manifest: the Accept header of a manifest request.
INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json")

# K3s arch -> (OCI platform architecture, variant or None for "any").
PLATFORMS = {"amd64": ("amd64", None), "arm64": ("arm64", None), "arm": ("arm", "v7")}


class LockError(RuntimeError):
    pass


@dataclass(frozen=True)
class Pin:
    """One pinned file or image for one arch, and where the value came from."""

    component: str
    version: str
    arch: str
    kind: str  # file | image
    name: str  # the file's role (tarball, binary, chart) or the image's name
    target: str  # the file name, or the image reference
    value: str  # sha256 hex of a file, or "sha256:<hex>" manifest digest of an image
    source: str  # the URL asked and the field read
    signature: str  # what was verified, or "not checked: <why>"

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.component, self.version, self.arch, self.kind, self.name)

    @property
    def label(self) -> str:
        return f"{self.component} {self.version} {self.arch} {self.kind} {self.name} ({self.target})"


# --- GitHub releases -------------------------------------------------------------------

@dataclass(frozen=True)
class GitHubRelease:
    owner: str
    repo: str
    tag: str  # decoded: containerd-shim-wasmedge/v0.6.0

    def api_url(self) -> str:
        """GitHub REST "Get a release by tag name"; the tag is one path segment, so a
        slash in it is encoded (as octokit does)."""
        return f"https://api.github.com/repos/{self.owner}/{self.repo}/releases/tags/{quote(self.tag, safe='')}"


def github_release(file_url: str) -> GitHubRelease | None:
    """``https://github.com/OWNER/REPO/releases/download/TAG/FILE`` -> its release, or None
    for a URL that is not a GitHub release download."""
    parts = urlsplit(file_url)
    segments = parts.path.strip("/").split("/")
    if parts.netloc != "github.com" or len(segments) != 6 or segments[2:4] != ["releases", "download"]:
        return None
    return GitHubRelease(segments[0], segments[1], unquote(segments[4]))


def release_asset(release: Mapping, file: str) -> Mapping | None:
    return next((a for a in release.get("assets", []) if a.get("name") == file), None)


def asset_sha256(asset: Mapping) -> str | None:
    """The asset's ``digest`` ("sha256:<hex>", published by GitHub since June 2025), as hex;
    None for an older asset that has none."""
    digest = asset.get("digest") or ""
    algorithm, _, hex_ = digest.partition(":")
    if algorithm == "sha256" and SHA256_HEX.match(hex_.lower()):
        return hex_.lower()
    return None


_SUMS_NAMES = re.compile(r"^(sha256sums?(\.txt)?|checksums?\.txt|sha256sum.*\.txt|.*[._-]sha256sums?(\.txt)?)$",
                         re.IGNORECASE)


def sums_assets(release: Mapping, file: str) -> list[Mapping]:
    """Checksum-list assets of a release that may name ``file``: ``FILE.sha256`` first
    (it can only be about that file), then release-wide lists (SHA256SUMS, checksums.txt,
    sha256sum*.txt)."""
    assets = list(release.get("assets", []))
    own = [a for a in assets if a.get("name") == f"{file}.sha256"]
    lists = [a for a in assets if _SUMS_NAMES.match(a.get("name", "")) and a not in own]
    return own + lists


def parse_sha256sum(text: str) -> dict[str, str]:
    """``<sha256>  <file>`` (or ``<sha256> *<file>``) lines -> {file: sha256}."""
    sums = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 2 and len(fields[0]) == 64:
            sums[fields[1].lstrip("*").removeprefix("./")] = fields[0].lower()
    return sums


def sha256_in_sums(text: str, file: str) -> str | None:
    """``file``'s sha256 in a checksum list; a lone hash (a ``FILE.sha256`` asset) counts."""
    sums = parse_sha256sum(text)
    if file in sums:
        return sums[file]
    fields = text.split()
    if len(fields) == 1 and SHA256_HEX.match(fields[0].lower()):
        return fields[0].lower()
    return None


def signature_assets(release: Mapping, file: str) -> tuple[Mapping | None, Mapping | None]:
    """The cosign signature and certificate published beside ``file`` (runwasi ships
    ``FILE.sig`` and ``FILE.pem``), each None when absent."""
    sig = release_asset(release, f"{file}.sig")
    cert = next((a for ext in (".pem", ".cert", ".crt") if (a := release_asset(release, f"{file}{ext}"))), None)
    return sig, cert


# --- Registries ------------------------------------------------------------------------

@dataclass(frozen=True)
class ImageLocation:
    scheme: str  # https, or http for an insecure mirror
    host: str  # the registry API host
    repository: str
    tag: str

    def manifest_url(self, reference: str | None = None) -> str:
        return f"{self.scheme}://{self.host}/v2/{self.repository}/manifests/{reference or self.tag}"

    def blob_url(self, digest: str) -> str:
        return f"{self.scheme}://{self.host}/v2/{self.repository}/blobs/{digest}"


def image_location(ref: str, registry_mirror: str | None = None, insecure: bool = False) -> ImageLocation:
    """Where to ask for ``ref``'s manifest. Docker Hub's API lives at registry-1.docker.io
    and its one-word names are ``library/NAME``; a registry mirror keeps the repository
    path and replaces the host, as the builder's skopeo copy does."""
    name, _, tag = ref.rpartition(":")
    if not name or "/" in tag:
        raise LockError(f"image {ref!r} has no tag; fix: give [[C.images]] ref as REGISTRY/REPOSITORY:TAG")
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        host, repository = first, rest
    else:
        host, repository = "docker.io", name
    if registry_mirror:
        return ImageLocation("http" if insecure else "https", registry_mirror.rstrip("/"), repository, tag)
    if host == "docker.io":
        host = "registry-1.docker.io"
        if "/" not in repository:
            repository = f"library/{repository}"
    return ImageLocation("http" if insecure else "https", host, repository, tag)


def is_index(manifest: Mapping, content_type: str = "") -> bool:
    media = manifest.get("mediaType") or content_type.split(";")[0].strip()
    return media in INDEX_TYPES or (not media and "manifests" in manifest)


def platform_digest(index: Mapping, arch: str) -> str | None:
    """The digest of ``arch``'s manifest in an OCI image index / Docker manifest list
    (OCI image-spec image-index.md: ``manifests[].platform``), or None when the index
    has no linux manifest for it. arm means arm/v7, what K3s's armhf nodes run."""
    architecture, variant = PLATFORMS[arch]
    for entry in index.get("manifests", []):
        platform = entry.get("platform") or {}
        if platform.get("os") != "linux" or platform.get("architecture") != architecture:
            continue
        if variant and platform.get("variant") != variant:
            continue
        digest = entry.get("digest", "")
        if IMAGE_DIGEST.match(digest):
            return digest
    return None


def index_platforms(index: Mapping) -> list[str]:
    """``os/architecture[/variant]`` of every manifest in an index, for error messages."""
    found = []
    for entry in index.get("manifests", []):
        p = entry.get("platform") or {}
        found.append("/".join(x for x in (p.get("os"), p.get("architecture"), p.get("variant")) if x))
    return found


def config_matches(config: Mapping, arch: str) -> bool:
    """A single-platform image's config (``os``, ``architecture``, ``variant``) is for ``arch``."""
    architecture, variant = PLATFORMS[arch]
    if config.get("os") != "linux" or config.get("architecture") != architecture:
        return False
    return variant is None or config.get("variant") in (variant, None)


def parse_bearer_challenge(header: str) -> dict[str, str] | None:
    """``Bearer realm="...",service="...",scope="..."`` (a registry's WWW-Authenticate,
    the Docker token flow) -> its parameters; None for another scheme."""
    scheme, _, params = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return {k.lower(): v for k, v in re.findall(r'(\w+)="([^"]*)"', params)}


# --- Comparing and the lock document ---------------------------------------------------

def compare(expected: Iterable[Pin], locked: Iterable[Pin]) -> list[str]:
    """Pins upstream publishes now that the lock lacks or pins differently."""
    have = {p.key: p for p in locked}
    problems = []
    for pin in expected:
        old = have.get(pin.key)
        if old is None:
            problems.append(f"{pin.label}: missing from the lock; fix: run edgewasm-bundle lock")
        elif old.value != pin.value:
            problems.append(f"{pin.label}: the lock pins {old.value}, upstream now publishes {pin.value} "
                            f"({pin.source}); fix: find out why upstream changed (a re-published release?), "
                            "then run edgewasm-bundle lock")
    return problems


def hand_pin_conflicts(pins: Iterable[Pin], hand: Mapping[tuple, str]) -> list[str]:
    """Pins that disagree with a pin written by hand in the catalogue (``hand``: key -> value)."""
    return [f"{p.label}: the catalogue pins {hand[p.key]} by hand, upstream publishes {p.value} ({p.source}); "
            "fix: remove the hand pin (the lock holds pins now) or find out which is right"
            for p in pins if p.key in hand and hand[p.key] != p.value]


def lock_document(pins: Iterable[Pin], catalog_name: str) -> dict:
    entries = []
    for p in sorted(pins, key=lambda p: p.key):
        entry = {"component": p.component, "version": p.version, "arch": p.arch, "kind": p.kind, "name": p.name}
        if p.kind == "image":
            entry |= {"image": p.target, "digest": p.value}
        else:
            entry |= {"file": p.target, "sha256": p.value}
        entries.append(entry | {"source": p.source, "signature": p.signature})
    return {"about": {"format": LOCK_FORMAT, "written_by": "edgewasm-bundle lock", "catalog": catalog_name,
                      "note": "pins for the catalogue's versions; refresh with edgewasm-bundle lock, "
                              "compare with upstream with edgewasm-bundle lock --check"},
            "pins": entries}


def pins_from_document(document: Mapping, where: str) -> list[Pin]:
    """The pins of a parsed lock file; a malformed entry names the file and the fix."""
    pins = []
    for i, entry in enumerate(document.get("pins", [])):
        try:
            kind = entry["kind"]
            target, value = (entry["image"], entry["digest"]) if kind == "image" else (entry["file"], entry["sha256"])
            pin = Pin(entry["component"], entry["version"], entry["arch"], kind, entry["name"], target, value,
                      entry.get("source", ""), entry.get("signature", ""))
        except (KeyError, TypeError) as exc:
            raise LockError(f"{where}: pins[{i}] lacks {exc}; fix: run edgewasm-bundle lock again") from None
        pattern = IMAGE_DIGEST if kind == "image" else SHA256_HEX
        if not pattern.match(value):
            raise LockError(f"{where}: pins[{i}] ({pin.label}) has malformed value {value!r}; "
                            "fix: run edgewasm-bundle lock again")
        pins.append(pin)
    return pins


def write_lock(path: Path, pins: Iterable[Pin], catalog_name: str) -> None:
    """Write the lock whole or not at all: a temporary file beside it, then a rename."""
    data = tomli_w.dumps(lock_document(pins, catalog_name)).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

