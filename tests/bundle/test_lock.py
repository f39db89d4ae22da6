"""``edgewasm-bundle lock`` against the loopback mirror (GitHub's release JSON, checksum
files, the Helm index) and the real Debian docker-registry (multi-platform indexes)."""

import hashlib
import json
import shutil
import tomllib

import pytest

from edgewasm import bundle
from edgewasm.artifacts import CATALOG, CatalogError, load_catalog, resolve
from edgewasm.bundle import BundleError
from edgewasm.bundle.lock import Locker
from tests.fixtures.mirror import release_api_path
from tests.fixtures.registry import INDEX_MEDIA_TYPE, BearerRegistry

WASMTIME_AMD64 = "wasmtime-v49.0.3-x86_64-linux.tar.xz"


def catalogue_copy(tmp_path):
    """A fresh copy of the shipped catalogue, without a lock beside it."""
    path = tmp_path / "artifacts.toml"
    shutil.copyfile(CATALOG, path)
    return path


def lock(mirror, catalog, *args):
    return bundle.main(["lock", "--catalog", str(catalog), "--mirror", mirror.url, "--registry-mirror",
                        mirror.registry, "--registry-insecure", *args])


def served_release(mirror, component: str) -> tuple[str, dict]:
    path = release_api_path(component)
    return path, json.loads((mirror.root / path.lstrip("/")).read_text())


def serve_release(mirror, path: str, release: dict) -> None:
    mirror.handler.overrides[path] = json.dumps(release).encode()


def lock_pins(path) -> list[dict]:
    return tomllib.loads(path.read_text())["pins"]


def test_lock_then_build_with_no_hand_pin_verifies(mirror, tmp_path, capsys):
    catalog = catalogue_copy(tmp_path)
    raw = load_catalog(catalog, lock=False)
    assert raw["wasmtime"]["files"][0]["sha256"] == {} and raw["gatekeeper"]["images"][0]["digest"] == {}
    assert lock(mirror, catalog) == 0
    pins = lock_pins(tmp_path / "artifacts.lock.toml")
    wasmtime = next(p for p in pins if p["component"] == "wasmtime" and p["arch"] == "amd64")
    assert wasmtime["source"] == (f"{mirror.url}/api.github.com/repos/bytecodealliance/wasmtime/releases/tags/"
                                  f"v49.0.3 assets[name={WASMTIME_AMD64}].digest")
    assert wasmtime["signature"].startswith("not checked: upstream publishes no .sig/.pem")
    shim = next(p for p in pins if p["component"] == "runwasi-wasmedge" and p["arch"] == "arm64")
    assert "containerd-shim-wasmedge%2Fv0.6.0" in shim["source"]
    if shutil.which("cosign") is None:
        assert shim["signature"].startswith("not checked: cosign is not on PATH (upstream publishes "
                                            "containerd-shim-wasmedge-aarch64-linux-musl.tar.gz.sig")
    arm = next(p for p in pins if p["name"] == "gatekeeper" and p["arch"] == "arm")
    assert arm["kind"] == "image" and arm["source"].endswith("manifests[platform=linux/arm/v7].digest")
    assert {(p["component"], p["arch"]) for p in pins if p["component"] == "k3s"} == {
        ("k3s", "amd64"), ("k3s", "arm64"), ("k3s", "arm")}
    assert not any(p["component"] == "hello-wasm" for p in pins)  # built: nothing to lock

    merged = load_catalog(catalog)
    assert merged["wasmtime"]["files"][0]["sha256"]["amd64"] == wasmtime["sha256"]
    assert merged["gatekeeper"]["images"][0]["digest"]["arm"] == arm["digest"]
    manifest = bundle.build("site", ["amd64", "arm64"], mirror=mirror.url, registry_mirror=mirror.registry,
                            registry_tls_verify=False, catalog=merged, out=tmp_path / "bundles", progress=False)
    assert bundle.verify(tmp_path / "bundles" / "site") == []
    entry = next(e for e in manifest["artifacts"] if e["component"] == "wasmtime" and e["arch"] == "amd64")
    assert entry["sha256"] == wasmtime["sha256"]
    image = next(e for e in manifest["artifacts"] if e["name"] == "gatekeeper" and e["arch"] == "arm64")
    assert image["source"].endswith("@" + next(p["digest"] for p in pins
                                                if p["name"] == "gatekeeper" and p["arch"] == "arm64"))


def test_the_build_cli_reads_the_lock_beside_the_catalogue(mirror, tmp_path):
    catalog = catalogue_copy(tmp_path)
    assert lock(mirror, catalog, "--component", "wasmtime", "--component", "gatekeeper") == 0
    out = tmp_path / "bundles"
    assert bundle.main(["build", "cli", "--arch", "arm64", "--mirror", mirror.url, "--component", "wasmtime",
                        "--component", "gatekeeper", "--registry-mirror", mirror.registry, "--registry-insecure",
                        "--catalog", str(catalog), "--out", str(out)]) == 0
    assert bundle.verify(out / "cli") == []


def test_a_release_digest_that_does_not_match_the_file_makes_build_refuse_it(mirror, tmp_path):
    path, release = served_release(mirror, "wasmtime")
    asset = next(a for a in release["assets"] if a["name"] == WASMTIME_AMD64)
    asset["digest"] = "sha256:" + "0" * 64
    serve_release(mirror, path, release)
    catalog = catalogue_copy(tmp_path)
    assert lock(mirror, catalog, "--component", "wasmtime") == 0  # lock cannot know: it reads no files
    with pytest.raises(BundleError, match=rf"checksum mismatch for {WASMTIME_AMD64} .*expected 0{{64}}"):
        bundle.build("site", ["amd64"], mirror=mirror.url, components=["wasmtime"], catalog=load_catalog(catalog),
                     out=tmp_path / "bundles", progress=False)
    assert not (tmp_path / "bundles" / "site").exists()


def test_check_passes_after_lock_and_names_a_changed_pin(mirror, tmp_path, capsys):
    catalog = catalogue_copy(tmp_path)
    assert lock(mirror, catalog) == 0
    before = (tmp_path / "artifacts.lock.toml").read_bytes()
    capsys.readouterr()
    assert lock(mirror, catalog, "--check") == 0
    assert "all 20 pins match upstream" in capsys.readouterr().err

    path, release = served_release(mirror, "runwasi-wasmtime")
    asset = next(a for a in release["assets"] if a["name"] == "containerd-shim-wasmtime-aarch64-linux-musl.tar.gz")
    asset["digest"] = "sha256:" + "e" * 64
    serve_release(mirror, path, release)
    assert lock(mirror, catalog, "--check") == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("lock --check: runwasi-wasmtime 0.6.0 arm64 file tarball "
                           "(containerd-shim-wasmtime-aarch64-linux-musl.tar.gz): the lock pins ")
    assert "upstream now publishes " + "e" * 64 in line
    assert (tmp_path / "artifacts.lock.toml").read_bytes() == before  # --check writes nothing


def test_check_reports_pins_missing_from_the_lock(mirror, tmp_path, capsys):
    catalog = catalogue_copy(tmp_path)
    assert lock(mirror, catalog, "--component", "k3s", "--arch", "amd64") == 0
    capsys.readouterr()
    assert lock(mirror, catalog, "--check", "--component", "k3s") == 1
    err = capsys.readouterr().err
    k3s = load_catalog(lock=False)["k3s"]["version"]
    assert f"k3s {k3s} arm64 file binary (k3s-arm64): missing from the lock; fix: run edgewasm-bundle lock" in err
    assert "amd64" not in err
    assert lock(mirror, catalog, "--check", "--component", "wasmtime") == 1
    assert not (tmp_path / "nolock.toml").exists()
    assert lock(mirror, catalog, "--check", "--lock", str(tmp_path / "nolock.toml"), "--component", "k3s") == 1
    assert not (tmp_path / "nolock.toml").exists()


def test_an_asset_without_digest_falls_back_to_the_releases_checksum_list(mirror, tmp_path, capsys):
    path, release = served_release(mirror, "wasmtime")
    for asset in release["assets"]:
        del asset["digest"]  # what releases from before June 2025 look like
    catalog = catalogue_copy(tmp_path)
    serve_release(mirror, path, release)
    assert lock(mirror, catalog, "--component", "wasmtime") == 1
    err = capsys.readouterr().err
    assert (f"wasmtime 49.0.3 amd64 {WASMTIME_AMD64}: GitHub release v49.0.3 of bytecodealliance/wasmtime gives no "
            f"digest for {WASMTIME_AMD64} and publishes no checksum list naming it; fix: download it on a trusted "
            "connection, check upstream's signature, and pin it by hand in the catalogue "
            '([[wasmtime.files]] sha256 = { amd64 = "..." })') in err
    assert not (tmp_path / "artifacts.lock.toml").exists()

    # With a SHA256SUMS asset in the same release, its line is the pin.
    expected = {a.arch: a for a in resolve(load_catalog(catalog, lock=False), ["amd64", "arm64"],
                                              components=["wasmtime"])[0]}
    lines = [f"{shutil_sha256(mirror, a.url)}  {a.file}" for a in expected.values()]
    sums_url = "https://github.com/bytecodealliance/wasmtime/releases/download/v49.0.3/SHA256SUMS"
    release["assets"].append({"name": "SHA256SUMS", "size": 1, "browser_download_url": sums_url})
    serve_release(mirror, path, release)
    mirror.handler.overrides["/github.com/bytecodealliance/wasmtime/releases/download/v49.0.3/SHA256SUMS"] = \
        ("\n".join(lines) + "\n").encode()
    assert lock(mirror, catalog, "--component", "wasmtime") == 0
    pin = next(p for p in lock_pins(tmp_path / "artifacts.lock.toml") if p["arch"] == "arm64")
    assert pin["sha256"] == shutil_sha256(mirror, expected["arm64"].url)
    assert pin["source"] == (f"{mirror.url}/github.com/bytecodealliance/wasmtime/releases/download/v49.0.3/SHA256SUMS"
                             " (checksum list asset SHA256SUMS; the asset has no digest)")


def shutil_sha256(mirror, url: str) -> str:
    from edgewasm.artifacts import mirror_url
    from tests.fixtures.mirror import sha256

    return sha256((mirror.root / mirror_url(url, "x").split("/", 1)[1]).read_bytes())


def test_a_failed_lock_leaves_the_earlier_lock_whole(mirror, tmp_path, capsys):
    catalog = catalogue_copy(tmp_path)
    assert lock(mirror, catalog) == 0
    before = (tmp_path / "artifacts.lock.toml").read_bytes()
    mirror.handler.overrides[release_api_path("runwasi-wasmedge")] = b"<html>not JSON</html>"
    assert lock(mirror, catalog) == 1
    err = capsys.readouterr().err
    assert "runwasi-wasmedge 0.6.0:" in err and "is not JSON" in err and "not written (2 problems)" in err
    assert (tmp_path / "artifacts.lock.toml").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artifacts.lock.toml", "artifacts.toml"]


def test_a_hand_pin_that_disagrees_with_upstream_is_refused(mirror, tmp_path, capsys):
    catalog = catalogue_copy(tmp_path)
    text = catalog.read_text().replace('file = "wasmtime-v{version}-{arch_name}-linux.tar.xz"\n  sha256 = {}',
                                       'file = "wasmtime-v{version}-{arch_name}-linux.tar.xz"\n'
                                       f'  sha256 = {{ amd64 = "{"a" * 64}" }}')
    assert text != catalog.read_text()
    catalog.write_text(text)
    assert lock(mirror, catalog, "--component", "wasmtime") == 1
    err = capsys.readouterr().err
    assert f"wasmtime 49.0.3 amd64 file tarball ({WASMTIME_AMD64}): the catalogue pins {'a' * 64} by hand" in err
    assert not (tmp_path / "artifacts.lock.toml").exists()


def test_docker_hub_token_flow(tmp_path):
    index = {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1, "digest": "sha256:" + c * 64,
         "platform": {"os": "linux", "architecture": arch, **({"variant": v} if v else {})}}
        for c, arch, v in (("1", "amd64", None), ("2", "arm64", None), ("3", "arm", "v6"), ("4", "arm", "v7"),
                           ("5", "unknown", None))]}
    catalog = load_catalog(lock=False)
    images = [a for a in resolve(catalog, ["amd64", "arm64", "arm"], components=["gatekeeper"])[0]
              if a.kind == "image" and a.name == "gatekeeper"]
    with BearerRegistry({("openpolicyagent/gatekeeper", f"v{catalog['gatekeeper']['version']}"): index}) as registry:
        pins = Locker(registry_mirror=registry.address, registry_insecure=True).image_pins(images)
    assert {p.arch: p.value for p in pins} == {"amd64": "sha256:" + "1" * 64, "arm64": "sha256:" + "2" * 64,
                                               "arm": "sha256:" + "4" * 64}
    assert registry.token_queries == [{"service": "registry.docker.io",
                                       "scope": "repository:openpolicyagent/gatekeeper:pull"}]
    # Authorization headers compared by digest: a failure must not print a token.
    manifest_requests = [auth and hashlib.sha256(auth.encode()).hexdigest()
                         for path, auth in registry.seen if "/manifests/" in path]
    assert manifest_requests == [None, hashlib.sha256(f"Bearer {BearerRegistry.TOKEN}".encode()).hexdigest()]


def test_a_hand_pin_conflicting_with_the_lock_is_a_catalogue_error(mirror, tmp_path):
    catalog = catalogue_copy(tmp_path)
    assert lock(mirror, catalog, "--component", "wasmtime", "--arch", "amd64") == 0
    catalog.write_text(catalog.read_text().replace(
        'file = "wasmtime-v{version}-{arch_name}-linux.tar.xz"\n  sha256 = {}',
        f'file = "wasmtime-v{{version}}-{{arch_name}}-linux.tar.xz"\n  sha256 = {{ amd64 = "{"b" * 64}" }}'))
    with pytest.raises(CatalogError, match=rf"wasmtime 49.0.3 amd64 tarball: .*artifacts.toml pins sha256 b{{64}} "
                                           rf"by hand, .*artifacts.lock.toml pins [0-9a-f]{{64}}"):
        load_catalog(catalog)
