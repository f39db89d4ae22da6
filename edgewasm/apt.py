"""apt with private state for one OS release and dpkg arch: the archives' indexes, each
InRelease checked against the keyring os_releases.toml names (apt refuses an unsigned or
wrongly signed one), and .debs checked against the sha256 of the signed Packages index.

apt runs with private state (lists, dpkg status, package cache) under CACHE, so the
operator's own system is never touched, but with the operator's apt configuration
(proxies, Acquire settings). The bundle builder resolves and fetches the .deb closure of
preflight_packages with it (edgewasm/bundle/apt_closure.py); bench-native takes the one
pinned busybox-static .deb it is built from (edgewasm/bench_images.py), which is why it
sits here, below both.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from edgewasm import local_cache, templates
from edgewasm.manifest import sha256_of

CACHE = local_cache.APT


class ResolveError(RuntimeError):
    pass


@dataclass(frozen=True)
class Deb:
    package: str
    version: str
    filename: str  # the pool file's name, e.g. socat_1.7.4.4-2_arm64.deb
    size: int
    sha256: str  # from the signed Packages index
    url: str
    saved_as: str  # the name apt saves it under (an epoch as %3a)
    paragraph: tuple[tuple[str, str], ...]  # its Packages paragraph, fields in order


def parse_deb822(text: str) -> list[list[tuple[str, str]]]:
    """Paragraphs of ``Field: value`` lines (continuation lines kept, with their newline)."""
    paragraphs: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not line.strip():
            if current:
                paragraphs.append(current)
                current = []
        elif line[0] in " \t" and current:
            field, value = current[-1]
            current[-1] = (field, f"{value}\n{line}")
        else:
            field, _, value = line.partition(":")
            current.append((field, value.strip()))
    if current:
        paragraphs.append(current)
    return paragraphs


def parse_print_uris(text: str) -> list[tuple[str, str]]:
    """``apt-get --print-uris`` lines -> [(URL, file name)]."""
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0].startswith("'"):
            found.append((fields[0].strip("'"), fields[1]))
    return found


def required_names(paragraphs: list[list[tuple[str, str]]]) -> list[str]:
    """Packages every minimal host has: Priority: required or Essential: yes."""
    names = []
    for p in paragraphs:
        fields = dict(p)
        if fields.get("Priority") == "required" or fields.get("Essential") == "yes":
            names.append(fields["Package"])
    return names


class Resolver:
    """apt with private state for one release (os_releases.toml entry) and dpkg arch."""

    def __init__(self, release: str, spec: dict, dpkg_arch: str, cache: Path = CACHE):
        self.release, self.spec, self.dpkg_arch = release, spec, dpkg_arch
        self.dir = cache / f"{release}-{dpkg_arch}"
        self._available: dict[str, list[tuple[str, str]]] | None = None

    def _options(self, status: Path) -> list[str]:
        d = self.dir
        return [
            "-o", f"Dir::Etc::SourceList={d / 'sources.list'}", "-o", f"Dir::Etc::SourceParts={d / 'sources.list.d'}",
            "-o", f"Dir::Etc::Preferences={d / 'preferences'}", "-o", f"Dir::Etc::PreferencesParts={d / 'preferences.d'}",
            "-o", f"Dir::State::Lists={d / 'lists'}", "-o", f"Dir::State::status={status}",
            "-o", f"Dir::Cache={d / 'cache'}", "-o", f"Dir::Cache::archives={d / 'archives'}",
            "-o", f"APT::Architecture={self.dpkg_arch}", "-o", f"APT::Architectures::={self.dpkg_arch}",
            "-o", "Acquire::Languages=none", "-o", "Debug::NoLocking=1", "-o", "APT::Sandbox::User=root",
            "-o", "APT::Install-Recommends=0",
        ]

    def _apt(self, tool: str, *args: str, status: Path | None = None, warnings_fail: bool = False,
             cwd: Path | None = None) -> str:
        status = status or self.dir / "empty-status"
        result = subprocess.run([tool, *self._options(status), *args], capture_output=True, text=True, cwd=cwd,
                                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"})
        # apt-get update exits 0 when an index cannot be fetched or verified, and says so
        # only in W:/Err: lines: an archive must not silently drop out of the resolution.
        said = [line for line in (result.stdout + result.stderr).splitlines()
                if line.startswith(("W:", "E:", "Err:"))]
        if result.returncode != 0 or (warnings_fail and said):
            raise ResolveError(f"{self.release} {self.dpkg_arch}: {tool} {' '.join(args[:3])}...: "
                               + ("\n".join(said) or result.stderr.strip() or result.stdout.strip()))
        return result.stdout

    def update(self) -> None:
        """Fetch the archives' indexes; apt checks each InRelease against the keyring."""
        keyring = self.spec["keyring"]
        if not Path(keyring).exists():
            raise ResolveError(f"{self.release}: keyring {keyring} is missing on this machine; fix: "
                               f"apt-get install {self.spec['keyring_package']}")
        for sub in ("sources.list.d", "preferences.d", "lists/partial", "cache", "archives/partial"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        (self.dir / "empty-status").touch()
        sources = [{**s, "uri": s["uri"][self.dpkg_arch] if isinstance(s["uri"], dict) else s["uri"]}
                   for s in self.spec["sources"]]
        (self.dir / "sources.list").write_text(templates.render(
            "debs/sources.list.j2", sources=sources, dpkg_arch=self.dpkg_arch, keyring=keyring))
        self._apt("apt-get", "update", "-q", warnings_fail=True)
        self._available = None

    def available(self) -> dict[str, list[tuple[str, str]]]:
        """Package -> the Packages paragraph of its candidate version."""
        if self._available is None:
            text = self._apt("apt-cache", "dumpavail")
            self._available = {dict(p)["Package"]: p for p in parse_deb822(text)}
        return self._available

    def _debs(self, uris: list[tuple[str, str]]) -> list[Deb]:
        debs = []
        for url, name in uris:
            package = unquote(url.rsplit("/", 1)[1]).split("_", 1)[0]
            paragraph = self.available().get(package)
            fields = dict(paragraph or [])
            if not paragraph or not unquote(url).endswith("/" + fields.get("Filename", "?")):
                raise ResolveError(f"{self.release} {self.dpkg_arch}: apt chose {url}, which is not the "
                                   f"candidate {package} in the indexes")
            debs.append(Deb(package, fields["Version"], fields["Filename"].rsplit("/", 1)[1],
                            int(fields["Size"]), fields["SHA256"], url, name, tuple(paragraph)))
        return debs

    def minimal_status(self) -> Path:
        """A dpkg status of a minimal host of this release (see the module docstring)."""
        base = self._debs(parse_print_uris(self._apt(
            "apt-get", "install", "--print-uris", "-qq", *required_names(list(self.available().values())))))
        status = self.dir / "minimal-status"
        paragraphs = [[("Package", d.package), ("Status", "install ok installed"),
                       *[(f, v) for f, v in d.paragraph if f != "Package"]] for d in base]
        status.write_text(templates.render("debs/Packages.j2", paragraphs=paragraphs))
        return status

    def closure(self, packages: list[str]) -> list[Deb]:
        """The .debs a minimal host needs to install ``packages``."""
        status = self.minimal_status()
        return self._debs(parse_print_uris(self._apt("apt-get", "install", "--print-uris", "-qq", *packages,
                                                     status=status)))

    def download(self, packages: list[str], debs: list[Deb], dest: Path) -> int:
        """Let apt fetch ``debs`` into ``dest`` and check each against its signed index
        hash; return the bytes fetched. Files already there with the right hash (an earlier
        build's, linked in) are kept."""
        dest = dest.resolve()  # apt reads a relative path as relative to Dir::Cache
        (dest / "partial").mkdir(parents=True, exist_ok=True)
        kept = set()
        for deb in debs:
            pool, saved = dest / deb.filename, dest / deb.saved_as
            if pool.exists() and sha256_of(pool) == deb.sha256:
                kept.add(deb.filename)
                if saved != pool and not saved.exists():
                    os.link(pool, saved)  # apt looks for its own name (an epoch as %3a)
        self._apt("apt-get", "install", "--download-only", "-y", "-qq", "-o", f"Dir::Cache::archives={dest}",
                  *packages, status=self.dir / "minimal-status")
        (dest / "partial").rmdir()
        for deb in debs:
            saved = dest / deb.saved_as
            if saved.exists() and saved.name != deb.filename:
                saved.replace(dest / deb.filename)
            path = dest / deb.filename
            if not path.exists() or sha256_of(path) != deb.sha256:
                raise ResolveError(f"{self.release} {self.dpkg_arch}: {deb.filename} does not match the sha256 "
                                   f"{deb.sha256} of its signed index")
        return sum(d.size for d in debs if d.filename not in kept)

    def _paragraph(self, package: str, version: str) -> list[tuple[str, str]] | None:
        """The indexes' paragraph of ``package`` at exactly ``version`` (any suite)."""
        if not self._has_lists():
            return None
        try:
            text = self._apt("apt-cache", "show", package)  # every version the indexes hold
        except ResolveError:  # a package the indexes do not know
            return None
        found = [p for p in parse_deb822(text) if dict(p).get("Version") == version]
        return found[0] if found else None

    def _has_lists(self) -> bool:
        return (self.dir / "sources.list").exists() and any((self.dir / "lists").glob("*_Packages*"))

    def fetch(self, package: str, version: str, dest: Path) -> Path:
        """``package`` at exactly ``version`` (a pin) into ``dest``, checked against the
        sha256 of the signed Packages index, as every .deb of a bundle is; apt checks it
        too. A file already there with that hash is kept, against indexes fetched (and
        their InRelease verified) by an earlier update; otherwise the indexes are fetched
        again first. A pin the archive no longer has is refused, naming what it has."""
        paragraph = self._paragraph(package, version)
        if paragraph:
            fields = dict(paragraph)
            cached = dest / fields["Filename"].rsplit("/", 1)[1]
            if cached.exists() and sha256_of(cached) == fields["SHA256"]:
                return cached
        self.update()
        paragraph = self._paragraph(package, version)
        if not paragraph:
            try:
                have = self._apt("apt-cache", "madison", package).strip() or "none"
            except ResolveError:
                have = "none"
            raise ResolveError(f"{self.release} {self.dpkg_arch}: the archive has no {package} {version} (it has: "
                               f"{have}); fix: pin a version it has, after reading its changelog")
        fields = dict(paragraph)
        path = dest / fields["Filename"].rsplit("/", 1)[1]
        dest.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=dest) as tmp:
            # apt-get download saves into the working directory, under apt's own name (an
            # epoch's ':' as %3a).
            self._apt("apt-get", "download", "-q", f"{package}={version}", cwd=Path(tmp))
            (saved,) = list(Path(tmp).glob("*.deb"))
            if sha256_of(saved) != fields["SHA256"]:
                raise ResolveError(f"{self.release} {self.dpkg_arch}: {saved.name} does not match the sha256 "
                                   f"{fields['SHA256']} of its signed index")
            saved.replace(path)
        return path
