"""A bundle on the operator's disk: its manifest, read once per process, and verification.

The bundle builder (edgewasm/bundle/) writes bundles; everything else only reads them
through ``Bundle.open``. The manifest's bytes are read once: its digest, its signature
(edgewasm/bundle_trust.py) and its parsed content all come from those same bytes, and a
manifest rewritten after it was validated is not read again in that process.
"""

from __future__ import annotations

import functools
import hashlib
import json
import posixpath
from dataclasses import dataclass, field
from pathlib import Path

from edgewasm.artifacts import HOST_CACHE, IMAGES_DIR, load_catalog, resolve
from edgewasm.os_releases import REPO_ROOT

MANIFEST = "manifest.json"
# Where a manifest entry may put a file on a host: the artifact cache, K3s's image
# directory and the .deb repositories.
HOST_ROOTS = (HOST_CACHE, IMAGES_DIR, REPO_ROOT)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_manifest(bundle: Path | str) -> dict:
    return json.loads((Path(bundle) / MANIFEST).read_text())


@dataclass(frozen=True)
class Bundle:
    path: Path
    manifest: dict = field(repr=False)
    raw: bytes | None = field(default=None, repr=False)  # the manifest's bytes, as read

    @staticmethod
    def open(path: Path | str) -> "Bundle":
        """The bundle at ``path``, its manifest read once per process."""
        return _open(Path(path).absolute())

    @staticmethod
    def forget(path: Path | str) -> None:
        """Read ``path``'s manifest afresh at the next open (the builder, having written it)."""
        _OPENED.pop(Path(path).absolute(), None)

    @functools.cached_property
    def sha256(self) -> str | None:
        return hashlib.sha256(self.raw).hexdigest() if self.raw is not None else None

    def confinement_problems(self) -> list[str]:
        """Entries whose file leaves the bundle or whose host destination leaves edgewasm's
        own directories (HOST_ROOTS): a manifest must not name ../ or another file."""
        problems, root = [], self.path.resolve()
        for entry in self.manifest.get("artifacts", []):
            file, dest = str(entry.get("file", "")), str(entry.get("dest", ""))
            inside = (file and not file.startswith("/") and posixpath.normpath(file) == file
                      and ".." not in file.split("/") and (root / file).resolve().is_relative_to(root))
            if not inside:
                problems.append(f"manifest entry {file!r}: its file is not a plain path inside the bundle")
            if dest and not (posixpath.normpath(dest) == dest and ".." not in dest.split("/")
                             and any(dest.startswith(r + "/") for r in HOST_ROOTS)):
                problems.append(f"manifest entry {file!r}: destination {dest!r} is outside "
                                f"{', '.join(HOST_ROOTS)}")
        return problems

    @functools.cached_property
    def _index(self) -> dict[tuple[str, str, str, str], dict]:
        return {(e["component"], e["version"], e["arch"], e["name"]): e for e in self.manifest.get("artifacts", [])}

    def entry(self, component: str, version: str, arch: str, name: str) -> dict | None:
        """The manifest entry of one artifact, or None when the bundle lacks it."""
        return self._index.get((component, version, arch, name))

    def verify(self) -> list[str]:
        """Problems with the bundle against its manifest: each names the file, expected and actual."""
        if not (self.path / MANIFEST).exists():
            return [f"{self.path}: no {MANIFEST}; fix: build the bundle with edgewasm-bundle build"]
        problems = []
        for entry in self.manifest["artifacts"]:
            path = self.path / entry["file"]
            if not path.exists():
                problems.append(f"{path}: missing (expected sha256 {entry['sha256']})")
                continue
            actual = sha256_of(path)
            if actual != entry["sha256"]:
                problems.append(f"{path}: tampered or corrupt: expected sha256 {entry['sha256']}, actual {actual}")
        return problems

    def catalogue_mismatches(self, catalog=None) -> list[str]:
        """Manifest entries whose sha256 differs from a pin in the catalogue (pins live
        outside the bundle: a manifest rewritten to match a swapped file still fails)."""
        catalog = catalog if catalog is not None else load_catalog()
        pins: dict[tuple, str] = {}
        for key in {(e["component"], e["version"], e["arch"]) for e in self.manifest.get("artifacts", [])
                    if e["component"] in catalog and e.get("kind") != "image"}:
            component, version, arch = key
            for a in resolve(catalog, [arch], {component: version}, [component])[0]:
                if a.checksum_kind == "pinned" and a.sha256 and a.kind == "file":
                    pins[(component, version, a.arch, a.name)] = a.sha256
        problems = []
        for entry in self.manifest.get("artifacts", []):
            pin = pins.get((entry["component"], entry["version"], entry["arch"], entry["name"]))
            if pin and pin != entry["sha256"]:
                problems.append(f"{self.path / entry['file']}: the manifest says sha256 {entry['sha256']}, "
                                f"the catalogue pins {pin}")
        return problems


_OPENED: dict[Path, Bundle] = {}


def _open(path: Path) -> Bundle:
    if path not in _OPENED:
        try:
            raw = (path / MANIFEST).read_bytes()
        except FileNotFoundError:
            _OPENED[path] = Bundle(path, {"artifacts": [], "unavailable": []})
        else:
            _OPENED[path] = Bundle(path, json.loads(raw), raw)
    return _OPENED[path]


def verify(bundle: Path | str) -> list[str]:
    return Bundle.open(bundle).verify()
