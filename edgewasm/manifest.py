"""A bundle on the operator's disk: its manifest, read once per process, and verification.

The bundle builder (edgewasm/bundle/) writes bundles; everything else only reads them
through ``Bundle.open``.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from edgewasm.artifacts import load_catalog, resolve

MANIFEST = "manifest.json"


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

    @staticmethod
    def open(path: Path | str) -> "Bundle":
        """The bundle at ``path``, its manifest parsed once (again only when rewritten)."""
        path = Path(path)
        stamp = (path / MANIFEST).stat().st_mtime_ns if (path / MANIFEST).exists() else None
        return _open(path, stamp)

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


@functools.lru_cache(maxsize=16)
def _open(path: Path, stamp: int | None) -> Bundle:
    return Bundle(path, load_manifest(path) if stamp is not None else {"artifacts": [], "unavailable": []})


def verify(bundle: Path | str) -> list[str]:
    return Bundle.open(bundle).verify()
