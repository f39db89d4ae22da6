"""``edgewasm-bundle lock``: pin what upstream publishes for the catalogue's versions.

Every network call of locking is here; the parsing and comparing is edgewasm/pins.py.
Sources per checksum kind (docs/offline.md, "Lock"):

- pinned files on GitHub releases: the release's ``assets[].digest`` from the GitHub REST
  API ("Get a release by tag name"), or a checksum list asset of the same release when
  the asset has no digest (releases before June 2025);
- sha256sum files: the upstream checksum file the catalogue names;
- helm-index charts: the digest in index.yaml;
- images: the per-platform manifest digest in the registry's image index;
- built artifacts: nothing (edgewasm makes them).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlencode

from edgewasm import pins as P
from edgewasm.artifacts import Artifact, CatalogError, load_catalog, lock_path, mirror_url, resolve
from edgewasm.download import DownloadError, fetch_file, fetch_text, http_get
from edgewasm.manifest import sha256_of
from edgewasm.pins import LockError, Pin
from edgewasm.upstream import Upstream, UpstreamError

GITHUB_API = "https://api.github.com"
# GitHub Actions' OIDC issuer: who signs runwasi's keyless cosign signatures.
GITHUB_OIDC_ISSUER = "https://token.actions.githubusercontent.com"


class Locker:
    """Asks upstream for pins; each release, checksum file and registry token once."""

    def __init__(self, mirror: str | None = None, registry_mirror: str | None = None,
                 registry_insecure: bool = False):
        self.mirror = mirror
        self.registry_mirror = registry_mirror
        self.registry_insecure = registry_insecure
        self.upstream = Upstream(mirror)
        self._json: dict[str, dict] = {}
        self._tokens: dict[tuple[str, str, str], str] = {}

    # --- GitHub releases ---------------------------------------------------------------

    def _github_headers(self, url: str) -> dict[str, str]:
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        token = os.environ.get("GITHUB_TOKEN")
        # The token goes to GitHub itself only: a mirror is another party.
        if token and url.startswith(GITHUB_API + "/"):
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def release(self, artifact: Artifact, release: P.GitHubRelease) -> tuple[dict, str]:
        url = mirror_url(release.api_url(), self.mirror)
        if url not in self._json:
            try:
                self._json[url] = json.loads(fetch_text(url, headers=self._github_headers(url)))
            except DownloadError as exc:
                hint = (" (HTTP 403/429 is GitHub's rate limit: set GITHUB_TOKEN)"
                        if any(f"HTTP {c}" in str(exc) for c in (403, 429)) else "")
                raise LockError(f"{artifact.component} {artifact.version}: cannot read GitHub release "
                                f"{release.owner}/{release.repo} {release.tag}: {exc}{hint}; fix: check the "
                                f"component's base_url and version in the catalogue") from None
            except ValueError:
                raise LockError(f"{artifact.component} {artifact.version}: {url} is not JSON; fix: point "
                                "--mirror at a mirror that serves api.github.com") from None
        return self._json[url], url

    def github_pin(self, artifact: Artifact) -> Pin:
        where = f"{artifact.component} {artifact.version} {artifact.arch} {artifact.file}"
        release = P.github_release(artifact.url)
        if release is None:
            raise LockError(f"{where}: checksums.kind = \"pinned\" but {artifact.url} is not a GitHub release "
                            "download, so lock cannot read a digest for it; fix: pin its sha256 by hand in "
                            "the catalogue ([[C.files]] sha256)")
        data, api_url = self.release(artifact, release)
        asset = P.release_asset(data, artifact.file)
        if asset is None:
            names = sorted(a.get("name", "") for a in data.get("assets", []))
            raise LockError(f"{where}: GitHub release {release.tag} of {release.owner}/{release.repo} has no asset "
                            f"{artifact.file} (it has {names}); fix: correct the file template in the catalogue")
        sha256 = P.asset_sha256(asset)
        source = f"{api_url} assets[name={artifact.file}].digest"
        if sha256 is None:
            sha256, source = self._from_sums(data, artifact, where, release)
        return Pin(artifact.component, artifact.version, artifact.arch, "file", artifact.name, artifact.file,
                   sha256, source, self.signature(data, artifact, sha256, release))

    def _from_sums(self, data: dict, artifact: Artifact, where: str, release: P.GitHubRelease) -> tuple[str, str]:
        """An asset without ``digest`` (published before GitHub computed them): its hash
        from a checksum list of the same release."""
        for sums in P.sums_assets(data, artifact.file):
            url = mirror_url(sums["browser_download_url"], self.mirror)
            try:
                found = P.sha256_in_sums(fetch_text(url), artifact.file)
            except DownloadError as exc:
                raise LockError(f"{where}: cannot read the release's checksum list {sums['name']}: {exc}") from None
            if found:
                return found, f"{url} (checksum list asset {sums['name']}; the asset has no digest)"
        raise LockError(
            f"{where}: GitHub release {release.tag} of {release.owner}/{release.repo} gives no digest for "
            f"{artifact.file} and publishes no checksum list naming it; fix: download it on a trusted connection, "
            f"check upstream's signature, and pin it by hand in the catalogue "
            f"([[{artifact.component}.files]] sha256 = {{ {artifact.arch} = \"...\" }})")

    def signature(self, data: dict, artifact: Artifact, sha256: str, release: P.GitHubRelease) -> str:
        """Verify a cosign signature published beside the file when cosign is here;
        otherwise say why nothing was checked."""
        sig, cert = P.signature_assets(data, artifact.file)
        if not sig or not cert:
            return "not checked: upstream publishes no .sig/.pem signature beside the file"
        cosign = shutil.which("cosign")
        if not cosign:
            return f"not checked: cosign is not on PATH (upstream publishes {sig['name']} and {cert['name']})"
        identity = f"^https://github.com/{release.owner}/{release.repo}/"
        with tempfile.TemporaryDirectory(prefix="edgewasm-lock-") as tmp:
            paths = {}
            for key, asset in (("file", {"name": artifact.file, "browser_download_url": artifact.url}),
                               ("sig", sig), ("cert", cert)):
                paths[key] = Path(tmp) / asset["name"]
                fetch_file(mirror_url(asset["browser_download_url"], self.mirror), paths[key], progress=False)
            if sha256_of(paths["file"]) != sha256:
                raise LockError(f"{artifact.component} {artifact.version} {artifact.arch} {artifact.file}: the "
                                f"downloaded file does not have the published sha256 {sha256}; fix: retry, or "
                                "find out which copy is wrong")
            result = subprocess.run(
                [cosign, "verify-blob", "--signature", str(paths["sig"]), "--certificate", str(paths["cert"]),
                 "--certificate-identity-regexp", identity, "--certificate-oidc-issuer", GITHUB_OIDC_ISSUER,
                 str(paths["file"])], capture_output=True, text=True)
        if result.returncode != 0:
            raise LockError(f"{artifact.component} {artifact.version} {artifact.arch} {artifact.file}: cosign "
                            f"verify-blob failed with {sig['name']} and {cert['name']}: "
                            f"{(result.stderr or result.stdout).strip()}; fix: do not pin it; ask upstream")
        return (f"verified: cosign verify-blob with {sig['name']} and {cert['name']} "
                f"(identity {identity}, issuer {GITHUB_OIDC_ISSUER})")

    # --- Checksum files and Helm indexes ----------------------------------------------

    def upstream_pin(self, artifact: Artifact) -> Pin:
        """sha256sum and helm-index kinds: the value the builder would trust anyway,
        recorded so that ``--check`` notices upstream changing it."""
        mirrored = dataclasses.replace(
            artifact, url=mirror_url(artifact.url, self.mirror), sha256=None,
            checksum_url=mirror_url(artifact.checksum_url, self.mirror) if artifact.checksum_url else None)
        try:
            source = self.upstream.source(mirrored)
        except (UpstreamError, DownloadError) as exc:
            raise LockError(f"{artifact.component} {artifact.version} {artifact.arch} {artifact.file}: {exc}") from None
        if artifact.checksum_kind == "helm-index":
            where = f"{mirrored.checksum_url} entries.{artifact.helm_chart}[version={artifact.version}].digest"
        else:
            where = f"{mirrored.checksum_url} (line for {artifact.file})"
        return Pin(artifact.component, artifact.version, artifact.arch, "file", artifact.name, artifact.file,
                   source.sha256, where,
                   f"not checked: edgewasm checks no signature for {artifact.checksum_kind} checksums; "
                   "the checksum file is trusted as served over HTTPS")

    # --- Registries -------------------------------------------------------------------

    def _registry_get(self, url: str, accept: str) -> tuple[bytes, dict]:
        """GET from a registry, answering a Bearer challenge with an anonymous token
        (the Docker registry token flow Docker Hub uses)."""
        headers = {"Accept": accept}
        response = http_get(url, headers)
        if response.status_code == 401:
            challenge = P.parse_bearer_challenge(response.headers.get("WWW-Authenticate", ""))
            if not challenge or "realm" not in challenge:
                raise DownloadError(f"HTTP 401 for {url} and no Bearer challenge to answer")
            headers["Authorization"] = f"Bearer {self._token(challenge)}"
            response = http_get(url, headers)
        if response.status_code >= 400:
            raise DownloadError(f"HTTP {response.status_code} for {url}")
        return response.content, dict(response.headers)

    def _token(self, challenge: dict[str, str]) -> str:
        key = (challenge["realm"], challenge.get("service", ""), challenge.get("scope", ""))
        if key not in self._tokens:
            query = urlencode({k: v for k, v in (("service", key[1]), ("scope", key[2])) if v})
            answer = json.loads(fetch_text(f"{key[0]}?{query}" if query else key[0]))
            token = answer.get("token") or answer.get("access_token")
            if not token:
                raise DownloadError(f"{key[0]} gave no token")
            self._tokens[key] = token
        return self._tokens[key]

    def image_pins(self, artifacts: list[Artifact]) -> list[Pin]:
        """One manifest request per image reference, a pin per arch asked for."""
        first = artifacts[0]
        where = f"{first.component} {first.version} image {first.image_ref}"
        location = P.image_location(first.image_ref, self.registry_mirror, self.registry_insecure)
        url = location.manifest_url()
        try:
            body, headers = self._registry_get(url, ", ".join(P.INDEX_TYPES + P.MANIFEST_TYPES))
            manifest = json.loads(body)
        except (DownloadError, ValueError) as exc:
            raise LockError(f"{where}: cannot read its manifest: {exc}; fix: check the image ref in the "
                            "catalogue (and --registry-mirror)") from None
        pins = []
        for a in artifacts:
            if P.is_index(manifest, headers.get("Content-Type", "")):
                digest = P.platform_digest(manifest, a.arch)
                if digest is None:
                    raise LockError(f"{where} ({a.arch}): the index at {url} has no linux/"
                                    f"{'/'.join(x for x in P.PLATFORMS[a.arch] if x)} manifest (it has "
                                    f"{P.index_platforms(manifest)}); fix: drop {a.arch} from the image's "
                                    "arches in the catalogue")
                arch, variant = P.PLATFORMS[a.arch]
                field = f"manifests[platform=linux/{arch}{'/' + variant if variant else ''}].digest"
            else:
                digest, field = self._single_manifest_digest(body, headers, manifest, location, a, where, url)
            pins.append(Pin(a.component, a.version, a.arch, "image", a.name, a.image_ref, digest,
                            f"{url} {field}",
                            "not checked: lock verifies no image signatures; the digest is what the "
                            "registry's index names for the platform"))
        return pins

    def _single_manifest_digest(self, body: bytes, headers: dict, manifest: dict, location: P.ImageLocation,
                                a: Artifact, where: str, url: str) -> tuple[str, str]:
        """A tag naming one manifest (no index): it pins only the arch its config says."""
        try:
            config_body, _ = self._registry_get(location.blob_url(manifest["config"]["digest"]), "*/*")
            config = json.loads(config_body)
        except (KeyError, DownloadError, ValueError) as exc:
            raise LockError(f"{where} ({a.arch}): cannot read the config of {url}: {exc}") from None
        if not P.config_matches(config, a.arch):
            raise LockError(f"{where} ({a.arch}): the tag names one manifest, for {config.get('os')}/"
                            f"{config.get('architecture')}; fix: drop {a.arch} from the image's arches")
        return "sha256:" + hashlib.sha256(body).hexdigest(), "(single manifest: sha256 of its body)"


def _hand_pins(catalog: dict) -> dict[tuple, str]:
    """Pins written by hand in the catalogue (its own [[C.files]] sha256 and [[C.images]] digest)."""
    hand = {}
    for component, entry in catalog.items():
        for spec in entry.get("files", []):
            for arch, value in spec.get("sha256", {}).items():
                hand[(component, entry["version"], arch, "file", spec["name"])] = value
        for spec in entry.get("images", []):
            for arch, value in spec.get("digest", {}).items():
                hand[(component, entry["version"], arch, "image", spec["name"])] = value
    return hand


def upstream_pins(locker: Locker, catalog: dict, arches: Iterable[str],
                  components: list[str] | None) -> tuple[list[Pin], list[str]]:
    """Every pin of the catalogue's versions for ``arches``, and the errors of those that
    could not be pinned (all of them, not just the first)."""
    artifacts, _ = resolve(catalog, arches, components=components)
    found: list[Pin] = []
    errors: list[str] = []
    images: dict[tuple[str, str], list[Artifact]] = {}
    for a in artifacts:
        try:
            if a.kind == "image":
                images.setdefault((a.component, a.image_ref), []).append(a)
            elif a.checksum_kind == "pinned":
                found.append(locker.github_pin(a))
            elif a.checksum_kind in ("sha256sum", "helm-index"):
                found.append(locker.upstream_pin(a))
        except LockError as exc:
            errors.append(str(exc))
    for group in images.values():
        try:
            found += locker.image_pins(group)
        except LockError as exc:
            errors.append(str(exc))
    return found, errors


def run(catalog_path: Path, lock_file: Path | None = None, mirror: str | None = None,
        registry_mirror: str | None = None, registry_insecure: bool = False,
        components: list[str] | None = None, arches: list[str] | None = None, check: bool = False,
        out=None) -> int:
    """Lock (or with ``check`` compare) and report; the exit code of ``edgewasm-bundle lock``."""
    out = out or sys.stderr
    lock_file = lock_file or lock_path(catalog_path)
    catalog = load_catalog(catalog_path, lock=False)
    arches = arches or sorted({a for e in catalog.values() for a in e["arches"] if a != "all"})
    locker = Locker(mirror, registry_mirror, registry_insecure)
    found, errors = upstream_pins(locker, catalog, arches, components)
    errors += P.hand_pin_conflicts(found, _hand_pins(catalog))
    try:
        locked = _read_lock(lock_file)
    except LockError as exc:
        errors.append(str(exc))
        locked = []
    if check:
        problems = errors + P.compare(found, locked)
        for line in problems:
            print(f"lock --check: {line}", file=out)
        if not problems:
            print(f"lock --check: {lock_file}: all {len(found)} pins match upstream", file=out)
        return 1 if problems else 0
    if errors:
        for line in errors:
            print(f"lock: {line}", file=out)
        print(f"lock: {lock_file} not written ({len(errors)} problems)", file=out)
        return 1
    write = _merged(found, locked, catalog)
    P.write_lock(lock_file, write, Path(catalog_path).name)
    for pin in found:
        print(f"lock: {pin.label}: {pin.value} ({pin.signature})", file=out)
    print(f"lock: wrote {len(write)} pins to {lock_file}", file=out)
    return 0


def _read_lock(path: Path) -> list[Pin]:
    if not path.exists():
        return []
    try:
        document = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise LockError(f"{path}: not TOML ({exc}); fix: delete it and run edgewasm-bundle lock") from None
    return P.pins_from_document(document, str(path))


def _merged(found: list[Pin], locked: list[Pin], catalog: dict) -> list[Pin]:
    """The new pins, plus earlier pins this run did not ask about (other --component or
    --arch) that are still for the catalogue's versions; pins of versions the catalogue no
    longer names are dropped (the loader would ignore them)."""
    new = {p.key: p for p in found}
    kept = [p for p in locked if p.key not in new
            and p.component in catalog and catalog[p.component]["version"] == p.version]
    return list(new.values()) + kept


__all__ = ["CatalogError", "LockError", "Locker", "run", "upstream_pins"]
