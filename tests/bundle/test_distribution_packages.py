"""Distribution packages in bundles, resolved by apt against Debian's real archives
(this machine's Debian registry), InRelease signatures checked."""

import hashlib
import io
import shutil
import sys

import pytest

from edgewasm import bundle, settings
from edgewasm.bundle import BundleError
from edgewasm.apt import ResolveError, Resolver, parse_deb822
from edgewasm.os_releases import COMPONENT, INDEX, releases

PACKAGES = settings.value({}, "preflight_packages")

pytestmark = pytest.mark.skipif(not shutil.which("apt-get"), reason="needs apt-get")


@pytest.fixture(scope="module")
def with_debs(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundles")
    manifest = bundle.build("site", ["amd64", "arm64"], components=["hello-wasm"], out=out, progress=False,
                            os_releases=["debian-bookworm"], os_packages=PACKAGES)
    return out / "site", manifest


def test_each_arch_gets_the_closure_a_minimal_host_lacks(with_debs):
    site, manifest = with_debs
    assert manifest["os_releases"] == ["debian-bookworm"]
    assert bundle.verify(site) == []
    for arch in ("amd64", "arm64"):
        entries = [e for e in manifest["artifacts"] if e["component"] == COMPONENT and e["arch"] == arch]
        debs = {e["package"]: e for e in entries if e["kind"] == "deb"}
        assert set(PACKAGES) <= set(debs), "every preflight package is carried"
        # A minimal host (debootstrap minbase) already has these: not carried.
        assert not {"libc6", "dpkg", "libssl3t64", "base-files"} & set(debs)
        for e in debs.values():
            assert e["file"].endswith("_" + arch + ".deb") or e["file"].endswith("_all.deb")
            assert e["dest"] == f"/var/lib/edgewasm/debs/debian-bookworm-{arch}/" + e["file"].rsplit("/", 1)[1]
            assert e["source"].startswith("http://deb.debian.org/debian")
        # The host's index lists exactly the carried files, with the archive's own hashes.
        index = next(e for e in entries if e["name"] == INDEX)
        paragraphs = [dict(p) for p in parse_deb822((site / index["file"]).read_text())]
        assert {p["Package"] for p in paragraphs} == set(debs)
        for p in paragraphs:
            deb = debs[p["Package"]]
            assert p["Filename"] == "./" + deb["file"].rsplit("/", 1)[1]
            assert p["SHA256"] == deb["sha256"] == hashlib.sha256((site / deb["file"]).read_bytes()).hexdigest()


def test_an_archive_signed_by_a_key_not_in_the_keyring_is_refused(tmp_path):
    spec = {**releases()["debian-bookworm"], "keyring": "/usr/share/keyrings/debian-archive-removed-keys.gpg"}
    with pytest.raises(ResolveError, match=r"(?s)debian-bookworm amd64: apt-get update.*NO_PUBKEY.*InRelease. is not signed"):
        Resolver("debian-bookworm", spec, "amd64", cache=tmp_path).update()


def test_a_missing_keyring_names_its_package(tmp_path):
    spec = {**releases()["ubuntu-noble"], "keyring": str(tmp_path / "none.gpg")}
    with pytest.raises(ResolveError, match="keyring .*none.gpg is missing on this machine; fix: apt-get install ubuntu-keyring"):
        Resolver("ubuntu-noble", spec, "amd64", cache=tmp_path).update()


def test_an_unknown_release_or_package_is_refused_and_leaves_no_bundle(tmp_path):
    with pytest.raises(BundleError, match="no OS release 'debian-buster' in edgewasm/os_releases.toml"):
        bundle.build("site", ["amd64"], components=["hello-wasm"], out=tmp_path, progress=False,
                     os_releases=["debian-buster"], os_packages=PACKAGES, log=sys.stderr)
    with pytest.raises(BundleError, match="Unable to locate package no-such-package"):
        bundle.build("site", ["amd64"], components=["hello-wasm"], out=tmp_path, progress=False,
                     os_releases=["debian-bookworm"], os_packages=["no-such-package"])
    assert not (tmp_path / "site").exists()


def test_a_rebuild_downloads_no_package_again(with_debs):
    site, manifest = with_debs
    log = io.StringIO()
    again = bundle.build("site", ["amd64", "arm64"], components=["hello-wasm"], out=site.parent, progress=False,
                         os_releases=["debian-bookworm"], os_packages=PACKAGES, log=log)
    assert [e for e in again["artifacts"] if e["component"] == COMPONENT] == \
        [e for e in manifest["artifacts"] if e["component"] == COMPONENT]
    assert log.getvalue().count(" 0 downloaded)") == 2, log.getvalue()
    assert bundle.verify(site) == []


def test_an_archive_that_cannot_be_fetched_is_refused_not_skipped(tmp_path):
    """apt-get update exits 0 when one archive fails; the builder must not resolve
    against the others as if nothing happened."""
    spec = releases()["debian-bookworm"]
    spec = {**spec, "sources": [*spec["sources"],
                                {"uri": "http://127.0.0.1:9/debian", "suites": ["bookworm"], "components": ["main"]}]}
    with pytest.raises(ResolveError, match=r"debian-bookworm amd64: apt-get update.*127.0.0.1:9"):
        Resolver("debian-bookworm", spec, "amd64", cache=tmp_path).update()


def test_bench_images_ride_in_a_bundle_only_when_asked(tmp_path):
    """--bench-images (or an inventory host with edgewasm_bench_images): bench-wasm and
    bench-native, built here (bench-native from the pinned busybox-static, checked against
    Debian's signed index), land in the manifest for K3s's images directory."""
    plain = bundle.build("plain", ["amd64"], out=tmp_path, progress=False, catalog=_bench_catalog())
    assert not [e for e in plain["artifacts"] if e["component"].startswith("bench-")]
    manifest = bundle.build("bench", ["amd64", "arm64"], out=tmp_path, progress=False, bench_images=True,
                            catalog=_bench_catalog())
    entries = {(e["component"], e["arch"]): e for e in manifest["artifacts"]}
    assert set(entries) == {(c, a) for c in ("hello-wasm", "bench-wasm", "bench-native") for a in ("amd64", "arm64")}
    native = entries[("bench-native", "arm64")]
    assert native["source"] == "built by edgewasm (bench-native 0.1.0)"
    assert native["dest"] == "/var/lib/rancher/k3s/agent/images/edgewasm-bench-native-0.1.0-arm64.tar"
    assert entries[("bench-wasm", "amd64")]["sha256"] == entries[("bench-wasm", "arm64")]["sha256"]
    assert bundle.verify(tmp_path / "bench") == []


def _bench_catalog():
    """The real catalogue's built components only (nothing to download from upstream)."""
    from edgewasm.artifacts import load_catalog

    return {k: v for k, v in load_catalog().items() if v["checksums"]["kind"] == "built"}
