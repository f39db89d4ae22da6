"""Wasm runtimes a host takes from its OS release's own packages (the distribution route).

os_releases.toml says, per release, which versions of crun and WasmEdge it packages and
for which dpkg arches their Wasm support is built (``[<release>.ships]``). With
``edgewasm_wasm_runtimes_from = "distribution"`` (the default) a host whose release ships
them gets them as packages (from its bundle's .deb closure, or its own apt sources when
online) instead of WasmEdge's upstream tarball; a release that ships nothing usable keeps
the upstream route. Pure: no host, no network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from edgewasm import settings
from edgewasm.os_releases import DPKG_ARCH, releases

DISTRIBUTION = "distribution"
UPSTREAM = "upstream"
ROUTES = (DISTRIBUTION, UPSTREAM)
RUNTIMES = ("crun", "wasmedge")


@dataclass(frozen=True)
class PackagedRuntime:
    """One runtime as a release packages it for one dpkg arch."""

    component: str
    release: str
    version: str
    packages: tuple[str, ...]
    wasm: str | None  # crun's +WASM: engine on this arch (None: built without)

    def describe(self) -> str:
        return f"{self.release} ships {self.component} {self.version}" + (
            f" (+WASM:{self.wasm})" if self.wasm else " without a wasm handler" if self.component == "crun" else "")


def packaged_runtime(release: str, component: str, arch: str,
                     catalog: Mapping | None = None) -> PackagedRuntime | None:
    """What ``release`` packages of ``component`` for K3s arch ``arch``, or None."""
    entry = (catalog if catalog is not None else releases()).get(release, {}).get("ships", {}).get(component)
    dpkg_arch = DPKG_ARCH.get(arch or "")
    if not entry or dpkg_arch not in entry.get("arches", [dpkg_arch]):
        return None
    wasm = entry.get("wasm") if dpkg_arch in entry.get("wasm_arches", [dpkg_arch]) else None
    return PackagedRuntime(component, release, entry["version"], tuple(entry["packages"]), wasm)


def packaged(data: Mapping, release: str | None, arch: str | None, components: Mapping[str, str],
             catalog: Mapping | None = None) -> dict[str, PackagedRuntime]:
    """The runtimes this host takes from ``release``'s packages: WasmEdge when it is one of
    the host's ``components`` and the release ships it; crun on the crun route when the
    release's crun has a wasm handler and the operator brings no crun of their own."""
    if not release or settings.value(data, "edgewasm_wasm_runtimes_from") != DISTRIBUTION:
        return {}
    found = {}
    wasmedge = packaged_runtime(release, "wasmedge", arch, catalog)
    if wasmedge and "wasmedge" in components:
        found["wasmedge"] = wasmedge
    crun = packaged_runtime(release, "crun", arch, catalog)
    if crun and crun.wasm and settings.value(data, "edgewasm_crun") and not settings.value(data, "edgewasm_crun_packages"):
        found["crun"] = crun
    return found


def host_packages(data: Mapping, runtimes: Mapping[str, PackagedRuntime]) -> list[str]:
    """Every distribution package the host needs: preflight_packages, then its runtimes'."""
    wanted = list(settings.value(data, "preflight_packages"))
    for runtime in runtimes.values():
        wanted += [p for p in runtime.packages if p not in wanted]
    return wanted


def crun_refusal(host: str, data: Mapping, release: str, arch: str, catalog: Mapping | None = None) -> str | None:
    """Why the crun route cannot come from ``release`` on this host (no crun on it, none
    brought by the operator), or None when it can or the route is upstream."""
    if settings.value(data, "edgewasm_wasm_runtimes_from") != DISTRIBUTION:
        return None
    crun = packaged_runtime(release, "crun", arch, catalog)
    if crun and crun.wasm:
        return None
    have = crun.describe() if crun else f"{release} ships no crun for {arch}"
    offers = sorted(f"{name} (crun {c.version} +WASM:{c.wasm})" for name in (catalog or releases())
                    if (c := packaged_runtime(name, "crun", arch, catalog)) and c.wasm)
    return (f"{host}: the crun route needs a crun with a wasm handler and {have}; fix: move the host to "
            + (f"a release whose crun runs Wasm: {', '.join(offers)}" if offers else "a release whose crun runs Wasm")
            + ", or take the runwasi route (edgewasm_crun = False: the wasmtime and wasmedge shims), or install a "
            "wasm-enabled crun yourself (edgewasm_crun_binary, edgewasm_crun_packages)")
