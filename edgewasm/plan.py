"""A host's artifact plan: which artifacts it gets, from where, with which hash, what
upstream does not build for it, and which Wasm handlers it will have.

``plan()`` is the one answer to "what does this host get": deploys/artifacts.py places a
host's plan and hands it to the component deploys, the bundle builder downloads the
plans of the arches it bundles, and the compliance checks compare hosts with theirs.
Pure: from a bundle it reads only the manifest; without one it asks ``Upstream`` (checksum
files, pins, local builds).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import dataclasses
from dataclasses import dataclass

from edgewasm import packaged_runtimes, settings
from edgewasm.artifacts import ALL, Artifact, Unavailable, load_catalog, resolve
from edgewasm.manifest import Bundle
from edgewasm.upstream import Upstream, UpstreamError
from edgewasm.wasm import CRUN_WASM, shim_handler

ANY_ROLE = "*"  # the bundle builder's view: files for every role


class PlanError(LookupError):
    pass


@dataclass(frozen=True)
class Placement:
    """One file for a host: the catalogue's artifact, its hash and where it comes from."""

    artifact: Artifact
    sha256: str | None  # None only for an image pulled from a registry
    source: str  # bundle | url | built | registry
    location: str  # bundle file, URL, local path of a built file, or image ref@digest
    size: int | None = None  # known for bundle files

    @property
    def component(self) -> str:
        return self.artifact.component

    @property
    def name(self) -> str:
        return self.artifact.name

    @property
    def version(self) -> str:
        return self.artifact.version

    @property
    def dest(self) -> str:
        """Path on the host; "" for a file only the operator's machine reads."""
        return self.artifact.dest


@dataclass(frozen=True)
class Plan:
    host: str
    arch: str
    role: str | None
    versions: Mapping[str, str]  # component -> version this host takes
    placements: tuple[Placement, ...]
    unavailable: tuple[Unavailable, ...] = ()
    refusals: tuple[str, ...] = ()  # the host must not be touched
    warnings: tuple[str, ...] = ()
    handlers: tuple[str, ...] = ()  # Wasm runtime handlers the host will have
    # Runtimes from the host's OS release's packages instead of upstream (packaged_runtimes.py).
    packaged: Mapping[str, packaged_runtimes.PackagedRuntime] = dataclasses.field(default_factory=dict)

    @property
    def refused(self) -> bool:
        return bool(self.refusals)

    def placement(self, component: str, name: str) -> Placement:
        for p in self.placements:
            if (p.component, p.name) == (component, name):
                return p
        raise PlanError(f"{self.host}: the plan has no {component} {name} for {self.arch}"
                        + (" (the host was refused)" if self.refused else ""))

    def shipped(self, component: str) -> str | None:
        """The version of ``component`` this host takes, or None when it is not wanted
        here or upstream builds nothing for the host's arch."""
        if component in self.packaged or any(p.component == component for p in self.placements):
            return self.versions[component]
        return None


def wanted_versions(data: Mapping, catalog: Mapping | None = None) -> dict[str, str]:
    """component -> version for a host's data (artifact_components, artifact_versions)."""
    catalog = catalog if catalog is not None else load_catalog()
    overrides = settings.value(data, "artifact_versions")
    # A component with a `setting` (the bench images) only where that setting is True,
    # unless artifact_components names it: naming it is asking for it.
    components = settings.value(data, "artifact_components") or [
        c for c in catalog if "setting" not in catalog[c] or settings.value(data, catalog[c]["setting"])]
    return {c: overrides.get(c, catalog[c]["version"]) for c in components}


def handlers(data: Mapping, arch: str | None, catalog: Mapping | None = None,
             versions: Mapping[str, str] | None = None) -> list[str]:
    """Wasm handlers a host with this data is set up for: the runwasi shims it wants that
    upstream builds for ``arch`` (any arch when None), and crun-wasm on the crun route."""
    catalog = catalog if catalog is not None else load_catalog()
    versions = versions if versions is not None else wanted_versions(data, catalog)
    found = {shim_handler(catalog[c]["shim"]) for c in versions
             if catalog[c].get("shim") and (arch is None or arch in catalog[c]["arches"])}
    if settings.value(data, "edgewasm_crun"):
        found.add(CRUN_WASM)
    return sorted(found)


def fleet_handlers(hosts_data: Iterable[Mapping], catalog: Mapping | None = None) -> list[str]:
    """Wasm handlers any host of the inventory is set up for (the RuntimeClasses to ship)."""
    return sorted({h for data in hosts_data for h in handlers(data, None, catalog)})


def plan(
    host: str,
    data: Mapping,
    arch: str,
    role: str | None,
    bundle: Bundle | None = None,
    upstream: Upstream | None = None,
    catalog: Mapping | None = None,
    strict: bool = False,
    release: str | None = None,
) -> Plan:
    """The plan of host ``host`` (its inventory ``data``, real ``arch`` and ``role``):
    from ``bundle`` when given, else from ``upstream``. An artifact upstream cannot
    vouch for refuses the host, or with ``strict`` (the bundle builder) raises. With the
    host's OS ``release`` known, runtimes the release ships come from its packages
    (edgewasm_wasm_runtimes_from) and their versions are the release's."""
    catalog = catalog if catalog is not None else load_catalog()
    versions = wanted_versions(data, catalog)
    packaged = packaged_runtimes.packaged(data, release, arch, versions)
    versions.update({c: r.version for c, r in packaged.items() if c in versions})
    artifacts, unavailable = resolve(catalog, [arch], versions, [c for c in versions if c not in packaged],
                                     settings.value(data, "artifact_mirror"))
    mine = [a for a in artifacts if a.arch in (arch, ALL)
            and (a.roles is None or role == ANY_ROLE or role in a.roles)]
    placements: list[Placement] = []
    refusals: list[str] = []
    if bundle is not None:
        absent: dict[str, str] = {}
        for a in mine:
            entry = bundle.entry(a.component, a.version, a.arch, a.name)
            if entry is None:
                absent.setdefault(a.component, a.version)
                continue
            placements.append(Placement(a, entry["sha256"], "bundle", str(bundle.path / entry["file"]),
                                        entry.get("size")))
        refusals += [f"{host}: bundle {bundle.path} has no {c} {v} for {arch}; "
                     f"fix: rebuild it with --arch {arch} (or --inventory)" for c, v in sorted(absent.items())]
    else:
        upstream = upstream or Upstream(settings.value(data, "artifact_mirror"))
        for a in mine:
            try:
                source = upstream.source(a)
            except UpstreamError as exc:
                if strict:
                    raise
                refusals.append(f"{host}: cannot verify {a.component} {a.name}: {exc}")
                continue
            placements.append(Placement(a, source.sha256, source.kind, source.location))
    wasm_missing = sorted({u.component for u in unavailable if u.wasm})
    warnings = []
    if wasm_missing and settings.value(data, "edgewasm_require_wasm"):
        refusals.append(f"{host}: upstream ships no {', '.join(wasm_missing)} for {arch}, and edgewasm_require_wasm "
                        "is set; fix: use an amd64 or arm64 host (64-bit OS on a Pi), or unset it")
    else:
        warnings = [f"{host}: upstream ships no {u.component} {u.version} for {arch}: "
                    + ("WebAssembly workloads cannot run here" if u.wasm else "skipped") for u in unavailable]
    return Plan(
        host=host, arch=arch, role=role, versions=versions, placements=tuple(placements),
        unavailable=tuple(unavailable), refusals=tuple(refusals), warnings=tuple(warnings),
        handlers=tuple(handlers(data, arch, catalog, versions)), packaged=packaged,
    )
