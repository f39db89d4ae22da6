"""The artifact catalogue (edgewasm/artifacts.toml) resolved for arches and mirrors.

Pure functions: no network, no host. Which of these a host gets, and from where, is its
plan (edgewasm/plan.py), the one answer the deploys, the bundle builder and the
compliance checks share.
"""

from __future__ import annotations

import copy
import functools
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

from edgewasm.pins import LockError, pins_from_document

CATALOG = Path(__file__).resolve().with_name("artifacts.toml")
HOST_CACHE = "/var/lib/edgewasm/artifacts"
# K3s imports every image archive here when it starts (airgap images, ours).
IMAGES_DIR = "/var/lib/rancher/k3s/agent/images"
ALL = "all"  # arch of arch-independent artifacts (charts)


class CatalogError(ValueError):
    pass


@dataclass(frozen=True)
class Artifact:
    component: str
    version: str
    arch: str  # a K3s arch, or "all"
    name: str  # the file's role in its component: binary, tarball, chart, ...
    file: str
    url: str
    checksum_kind: str  # sha256sum | pinned | helm-index
    checksum_url: str | None
    sha256: str | None  # pinned value, when the catalogue has one
    dest: str  # path on the host
    roles: tuple[str, ...] | None = None
    kind: str = "file"  # file | image
    image_ref: str | None = None
    helm_chart: str | None = None
    builder: str | None = None  # checksum_kind "built": who makes it (edgewasm/upstream.py BUILDERS)

    @property
    def bundle_path(self) -> str:
        """Where the file sits inside a bundle."""
        return f"{self.component}/{self.version}/{self.arch}/{self.file}"


@dataclass(frozen=True)
class Unavailable:
    """A component upstream does not ship for an arch (no armv7 WasmEdge, say)."""

    component: str
    version: str
    arch: str
    wasm: bool = False  # a WebAssembly runtime


def lock_path(catalog: Path | str = CATALOG) -> Path:
    """The lock file beside a catalogue: ``artifacts.toml`` -> ``artifacts.lock.toml``."""
    return Path(catalog).with_suffix(".lock.toml")


def load_catalog(path: Path | str = CATALOG, lock: bool = True) -> dict:
    """The catalogue as a fresh dict (callers may change their copy), with the pins of
    the lock file beside it (``edgewasm-bundle lock``) merged in unless ``lock`` is False."""
    stamp = _stamp(Path(path))
    if not lock:
        return copy.deepcopy(_read_toml(str(path), stamp))
    lock_file = lock_path(path)
    lock_stamp = _stamp(lock_file) if lock_file.exists() else None
    return copy.deepcopy(_read_catalog(str(path), stamp, str(lock_file), lock_stamp))


def _stamp(path: Path) -> tuple[int, int, int]:
    """What changes when a file is rewritten (the lock is replaced by a rename: a new
    inode), so a catalogue or lock rewritten in this process is read again."""
    st = path.stat()
    return (st.st_mtime_ns, st.st_size, st.st_ino)


@functools.lru_cache(maxsize=8)
def _read_toml(path: str, _stamp: tuple | None) -> dict:
    with open(path, "rb") as f:
        return tomllib.load(f)


@functools.lru_cache(maxsize=8)
def _read_catalog(path: str, stamp: tuple, lock_file: str, lock_stamp: tuple | None) -> dict:
    catalog = copy.deepcopy(_read_toml(path, stamp))
    if lock_stamp is None:
        return catalog
    try:
        pins = pins_from_document(_read_toml(lock_file, lock_stamp), lock_file)
    except (LockError, tomllib.TOMLDecodeError) as exc:
        raise CatalogError(f"{lock_file}: {exc}") from None
    merge_pins(catalog, pins, path, lock_file)
    return catalog


def merge_pins(catalog: dict, pins: Iterable, catalog_name: str, lock_name: str) -> None:
    """Put a lock's pins where a hand pin would go ([[C.files]] sha256, [[C.images]]
    digest), so everything that reads the catalogue sees them. A pin is only for the
    version it was made for: pins of another version are ignored, as are pins of files
    or images the catalogue no longer names."""
    for pin in pins:
        entry = catalog.get(pin.component)
        if not entry or entry.get("version") != pin.version:
            continue
        table_name, field = ("images", "digest") if pin.kind == "image" else ("files", "sha256")
        spec = next((s for s in entry.get(table_name, []) if s.get("name") == pin.name), None)
        if spec is None:
            continue
        table = spec.setdefault(field, {})
        hand = table.get(pin.arch)
        if hand and hand != pin.value:
            raise CatalogError(
                f"{pin.component} {pin.version} {pin.arch} {pin.name}: {catalog_name} pins {field} {hand} by hand, "
                f"{lock_name} pins {pin.value}; fix: remove the hand pin from {catalog_name} (the lock holds "
                "pins), or find out which is right and run edgewasm-bundle lock again")
        table[pin.arch] = pin.value


def mirror_url(url: str, mirror: str | None) -> str:
    """``https://github.com/a/b`` -> ``MIRROR/github.com/a/b``: one tree, upstream paths,
    the upstream host as the first folder so several upstreams share one mirror."""
    if not mirror:
        return url
    parts = urlsplit(url)
    rest = parts.path + (f"?{parts.query}" if parts.query else "")
    return f"{mirror.rstrip('/')}/{parts.netloc}{rest}"


def _fill(template: str, **values: str) -> str:
    try:
        return template.format(**values)
    except KeyError as exc:
        raise CatalogError(f"template {template!r} uses unknown field {exc}") from None


def resolve(
    catalog: Mapping,
    arches: Iterable[str],
    versions: Mapping[str, str] | None = None,
    components: Iterable[str] | None = None,
    mirror: str | None = None,
) -> tuple[list[Artifact], list[Unavailable]]:
    """Every artifact of ``components`` (default: all) for ``arches``, plus what upstream
    does not ship for some of them."""
    versions = versions or {}
    wanted = list(components) if components is not None else list(catalog)
    unknown = [c for c in wanted if c not in catalog]
    if unknown:
        raise CatalogError(f"unknown components {unknown}; the catalogue has {sorted(catalog)}")
    found: list[Artifact] = []
    missing: list[Unavailable] = []
    for component in wanted:
        entry = catalog[component]
        version = versions.get(component, entry["version"])
        pinned_version = version == entry["version"]
        arch_names: dict = entry["arches"]
        targets = [ALL] if ALL in arch_names else list(dict.fromkeys(arches))
        for arch in targets:
            if arch not in arch_names:
                missing.append(Unavailable(component, version, arch, entry.get("wasm", False)))
                continue
            values = {"version": version, "version_url": quote(version, safe=""), "arch_name": arch_names[arch]}
            base_url = _fill(entry["base_url"], **values)
            values["base_url"] = base_url
            checks = entry["checksums"]
            checksum_url = _fill(checks["url"], **values) if "url" in checks else None
            for spec in entry.get("files", []):
                file_t = spec["file"][arch] if isinstance(spec["file"], dict) else spec["file"]
                file = _fill(file_t, **values)
                pins = spec.get("sha256", {}) if pinned_version else {}
                found.append(Artifact(
                    component=component, version=version, arch=arch, name=spec["name"], file=file,
                    url=mirror_url(f"{base_url}/{file}", mirror),
                    checksum_kind=checks["kind"],
                    checksum_url=mirror_url(checksum_url, mirror) if checksum_url else None,
                    sha256=pins.get(arch),
                    dest=_fill(spec.get("dest", f"{HOST_CACHE}/{component}/{version}/{file}"), **values, file=file),
                    roles=tuple(spec["roles"]) if "roles" in spec else None,
                    helm_chart=checks.get("chart"),
                    builder=checks.get("builder"),
                ))
        for image in entry.get("images", []):
            for arch in dict.fromkeys(arches):
                if arch == ALL:
                    continue
                if arch not in image["arches"]:
                    missing.append(Unavailable(f"{component}/{image['name']}", version, arch))
                    continue
                ref = _fill(image["ref"], version=version)
                file = f"{image['name']}-{version}-{arch}.tar"
                digests = image.get("digest", {}) if pinned_version else {}
                found.append(Artifact(
                    component=component, version=version, arch=arch, name=image["name"], file=file,
                    url=ref, checksum_kind="digest", checksum_url=None, sha256=digests.get(arch),
                    dest=f"{IMAGES_DIR}/{file}", kind="image", image_ref=ref,
                ))
    return found, missing
