"""OS releases (edgewasm/os_releases.toml): which release a host is, the distribution
packages its bundle carries for it, and what it is still missing. Pure: no host, no network.

A bundle holds, per OS release and dpkg arch, the .deb closure of preflight_packages that a
minimal host lacks (edgewasm/bundle/apt_closure.py resolves it with apt against the real,
signed archives) and a Packages index of exactly those files. On the host they form a
flat apt repository in REPO_ROOT/<release>-<arch>/, which apt installs from with no
network.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

OS_RELEASES = Path(__file__).resolve().with_name("os_releases.toml")
COMPONENT = "os-packages"  # manifest component of every distribution package
INDEX = "Packages"  # manifest name of a release/arch's index
REPO_ROOT = "/var/lib/edgewasm/debs"

# K3s arch -> dpkg arch. (armhf here is Debian's ARMv7 port, what K3s's arm build targets.)
DPKG_ARCH = {"amd64": "amd64", "arm64": "arm64", "arm": "armhf"}


@functools.lru_cache(maxsize=4)
def _read(path: str) -> dict:
    with open(path, "rb") as f:
        return tomllib.load(f)


def releases(path: Path | str = OS_RELEASES) -> dict:
    """The distribution releases a bundle can carry packages for (os_releases.toml)."""
    return _read(str(path))


def release_of(os_release: Mapping) -> str:
    """``/etc/os-release`` fields -> ``debian-bookworm``, ``ubuntu-noble`` ..."""
    return f"{os_release.get('ID', '?')}-{os_release.get('VERSION_CODENAME', '?')}".lower()


def repo_dir(release: str, dpkg_arch: str) -> str:
    return f"{REPO_ROOT}/{release}-{dpkg_arch}"


def missing(wanted: Iterable[str], installed: Mapping) -> list[str]:
    """The wanted packages dpkg does not list as installed, in the order asked."""
    return [p for p in wanted if p not in installed]


@dataclass(frozen=True)
class ReleasePackages:
    """What a bundle carries for one release and arch."""

    release: str
    dpkg_arch: str
    files: tuple[dict, ...]  # manifest entries of the .debs
    index: dict | None  # manifest entry of the Packages index
    provides: frozenset[str]  # package names the .debs install

    @property
    def repo(self) -> str:
        return repo_dir(self.release, self.dpkg_arch)


def in_bundle(manifest: Mapping, release: str, dpkg_arch: str) -> ReleasePackages | None:
    """The bundle's packages for ``release``/``dpkg_arch``, or None when it has none."""
    entries = [e for e in manifest.get("artifacts", [])
               if e["component"] == COMPONENT and e["version"] == release and e["arch"] == dpkg_arch]
    if not entries:
        return None
    debs = tuple(e for e in entries if e["name"] != INDEX)
    index = next((e for e in entries if e["name"] == INDEX), None)
    return ReleasePackages(release, dpkg_arch, debs, index, frozenset(e["package"] for e in debs))


def carried(manifest: Mapping) -> list[tuple[str, str]]:
    """(release, dpkg arch) pairs a bundle carries packages for."""
    return sorted({(e["version"], e["arch"]) for e in manifest.get("artifacts", []) if e["component"] == COMPONENT})


def refusal(host: str, bundle: str, release: str, dpkg_arch: str, lacking: list[str],
            carried_here: ReleasePackages | None, carried_all: list[tuple[str, str]]) -> str | None:
    """Why a host lacking ``lacking`` cannot be prepared from ``bundle``, or None."""
    if not lacking:
        return None
    if carried_here is None:
        have = ", ".join(f"{r} {a}" for r, a in carried_all) or "none"
        return (f"{host}: lacks packages {', '.join(lacking)} and bundle {bundle} carries no packages for "
                f"{release} {dpkg_arch} (it has: {have}); fix: add {release!r} to edgewasm_os_releases and "
                f"rebuild the bundle (edgewasm-bundle build ... --os {release}), or install them on the host")
    if carried_here.index is None:
        return (f"{host}: bundle {bundle} has {release} {dpkg_arch} packages but no {INDEX} index; "
                "fix: rebuild the bundle (edgewasm-bundle build)")
    absent = [p for p in lacking if p not in carried_here.provides]
    if absent:
        return (f"{host}: lacks packages {', '.join(absent)}, which bundle {bundle} does not carry for "
                f"{release} {dpkg_arch} (built for other preflight_packages?); fix: rebuild the bundle "
                "with the inventory's preflight_packages (edgewasm-bundle build --inventory ...)")
    return None


def apt_commands(repo: str, packages: list[str]) -> list[str]:
    """Shell commands installing ``packages`` from the flat repository ``repo`` alone:
    its own source list and lists directory, no package cache written, the host's own
    sources and lists never read or changed."""
    options = (f"-o Dir::Etc::SourceList={repo}/sources.list -o Dir::Etc::SourceParts={repo}/sources.list.d "
               f"-o Dir::State::Lists={repo}/lists -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= "
               "-o APT::Get::List-Cleanup=0")
    return [
        f"mkdir -p {repo}/lists/partial {repo}/sources.list.d",
        f"apt-get {options} update -qq",
        f"DEBIAN_FRONTEND=noninteractive apt-get {options} install -y -qq --no-install-recommends "
        + " ".join(packages),
    ]
