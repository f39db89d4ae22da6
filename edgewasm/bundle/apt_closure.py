"""Resolve and fetch the .deb closure of preflight_packages for one OS release and arch,
with apt's own resolver against the release's real archives (edgewasm/apt.py: private
state, each archive's InRelease checked against the keyring os_releases.toml names, and
every .deb against the signed Packages index). The closure is what a *minimal* host
lacks: the dpkg status apt resolves against holds every Priority: required / Essential:
yes package and its dependencies (debootstrap's minbase), resolved by apt from the same
archives. A real host with more installed simply takes fewer of the files.
"""

from __future__ import annotations

from pathlib import Path

from edgewasm import templates
from edgewasm.apt import Deb, Resolver
from edgewasm.manifest import sha256_of
from edgewasm.os_releases import COMPONENT, INDEX, repo_dir


def index_paragraph(deb: Deb) -> list[tuple[str, str]]:
    """The Packages paragraph of ``deb`` in the host's flat repository (file beside it)."""
    return [(f, f"./{deb.filename}" if f == "Filename" else v) for f, v in deb.paragraph]


def bundle_os_packages(staging: Path, release: str, spec: dict, dpkg_arch: str, packages: list[str],
                       log) -> tuple[list[dict], int]:
    """Resolve, fetch and index the closure into ``staging``; return its manifest entries
    and the bytes downloaded."""
    resolver = Resolver(release, spec, dpkg_arch)
    resolver.update()
    debs = resolver.closure(packages)
    folder = Path(COMPONENT) / release / dpkg_arch
    downloaded = resolver.download(packages, debs, staging / folder)
    index = staging / folder / INDEX
    index.write_text(templates.render("debs/Packages.j2", paragraphs=[index_paragraph(d) for d in debs]))
    repo = repo_dir(release, dpkg_arch)
    entries = [{
        "component": COMPONENT, "version": release, "arch": dpkg_arch, "name": d.package, "kind": "deb",
        "file": (folder / d.filename).as_posix(), "size": d.size, "sha256": d.sha256,
        "source": f"{d.url} (sha256 from the {release} Packages index, InRelease signed)",
        "dest": f"{repo}/{d.filename}", "roles": None, "package": d.package, "package_version": d.version,
    } for d in debs]
    entries.append({
        "component": COMPONENT, "version": release, "arch": dpkg_arch, "name": INDEX, "kind": "deb-index",
        "file": (folder / INDEX).as_posix(), "size": index.stat().st_size, "sha256": sha256_of(index),
        "source": f"built by edgewasm from the {release} {dpkg_arch} indexes", "dest": f"{repo}/{INDEX}",
        "roles": None, "package": None, "package_version": None,
    })
    print(f"bundle: {release} {dpkg_arch}: {len(debs)} packages for {', '.join(packages)} "
          f"({sum(d.size for d in debs)} bytes, {downloaded} downloaded)", file=log)
    return entries, downloaded
