"""Pure parts of locking: release JSON, checksum lists, image indexes, comparing pins,
the lock document and merging it into the catalogue."""

import shutil
import tomllib

import pytest

from edgewasm import pins as P
from edgewasm.artifacts import CATALOG, CatalogError, load_catalog, lock_path, resolve
from edgewasm.pins import Pin

HEX = "ab" * 32


def pin(**kw) -> Pin:
    base = dict(component="wasmtime", version="49.0.3", arch="amd64", kind="file", name="tarball",
                target="wasmtime-v49.0.3-x86_64-linux.tar.xz", value=HEX, source="s", signature="not checked: x")
    return Pin(**{**base, **kw})


def test_github_release_is_parsed_from_the_catalogue_url_with_the_tag_decoded():
    found, _ = resolve(load_catalog(lock=False), ["amd64"], components=["runwasi-wasmedge"])
    release = P.github_release(found[0].url)
    assert release == P.GitHubRelease("containerd", "runwasi", "containerd-shim-wasmedge/v0.6.0")
    assert release.api_url() == ("https://api.github.com/repos/containerd/runwasi/releases/tags/"
                                 "containerd-shim-wasmedge%2Fv0.6.0")
    assert P.github_release("https://open-policy-agent.github.io/gatekeeper/charts/x.tgz") is None
    assert P.github_release("https://github.com/a/b/archive/x.tgz") is None


def test_asset_digest_is_read_only_when_it_is_a_sha256():
    assert P.asset_sha256({"digest": f"sha256:{HEX.upper()}"}) == HEX
    assert P.asset_sha256({"digest": None}) is None
    assert P.asset_sha256({}) is None
    assert P.asset_sha256({"digest": "sha512:" + "a" * 128}) is None
    assert P.asset_sha256({"digest": "sha256:abc"}) is None


def test_sums_assets_prefer_the_files_own_sha256_then_release_lists():
    release = {"assets": [{"name": n} for n in ("f.tgz", "checksums.txt", "f.tgz.sha256", "other.tgz.sha256",
                                                 "SHA256SUMS", "sha256sum-amd64.txt", "notes.txt", "f.tgz.sig")]}
    assert [a["name"] for a in P.sums_assets(release, "f.tgz")] == [
        "f.tgz.sha256", "checksums.txt", "SHA256SUMS", "sha256sum-amd64.txt"]


def test_sha256_in_sums_reads_lists_and_lone_hashes():
    assert P.sha256_in_sums(f"{HEX}  f.tgz\n{'cd' * 32} *g.tgz\n", "g.tgz") == "cd" * 32
    assert P.sha256_in_sums(f"{HEX}\n", "f.tgz") == HEX
    assert P.sha256_in_sums(f"{HEX}  other\n", "f.tgz") is None


def test_image_location_maps_docker_hub_and_mirrors():
    hub = P.image_location("docker.io/openpolicyagent/gatekeeper:v3.23.0")
    assert hub.manifest_url() == "https://registry-1.docker.io/v2/openpolicyagent/gatekeeper/manifests/v3.23.0"
    assert P.image_location("busybox:1.36").manifest_url() == \
        "https://registry-1.docker.io/v2/library/busybox/manifests/1.36"
    assert P.image_location("ghcr.io/a/b:1").manifest_url() == "https://ghcr.io/v2/a/b/manifests/1"
    mirrored = P.image_location("docker.io/openpolicyagent/gatekeeper:v3.23.0", "reg.corp:5000", insecure=True)
    assert mirrored.manifest_url() == "http://reg.corp:5000/v2/openpolicyagent/gatekeeper/manifests/v3.23.0"
    with pytest.raises(P.LockError, match="has no tag"):
        P.image_location("docker.io/a/b")


def _index(*platforms):
    return {"schemaVersion": 2, "mediaType": P.INDEX_TYPES[0], "manifests": [
        {"digest": f"sha256:{str(i) * 64}", "platform": p} for i, p in enumerate(platforms, start=1)]}


def test_platform_digest_picks_linux_and_arm_v7():
    index = _index({"os": "linux", "architecture": "amd64"}, {"os": "windows", "architecture": "arm64"},
                   {"os": "linux", "architecture": "arm", "variant": "v6"},
                   {"os": "linux", "architecture": "arm", "variant": "v7"},
                   {"os": "linux", "architecture": "arm64", "variant": "v8"},
                   {"os": "unknown", "architecture": "unknown"})
    assert P.platform_digest(index, "amd64") == "sha256:" + "1" * 64
    assert P.platform_digest(index, "arm") == "sha256:" + "4" * 64
    assert P.platform_digest(index, "arm64") == "sha256:" + "5" * 64
    assert P.platform_digest(_index({"os": "linux", "architecture": "arm"}), "arm") is None
    assert P.index_platforms(index)[2] == "linux/arm/v6"
    assert P.is_index(index) and P.is_index({"manifests": []}, P.INDEX_TYPES[1])
    assert not P.is_index({"mediaType": P.MANIFEST_TYPES[0], "config": {}})


def test_bearer_challenge():
    assert P.parse_bearer_challenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                                    'scope="repository:a/b:pull"') == {
        "realm": "https://auth.docker.io/token", "service": "registry.docker.io", "scope": "repository:a/b:pull"}
    assert P.parse_bearer_challenge('Basic realm="x"') is None


def test_compare_names_missing_and_changed_pins():
    assert P.compare([pin()], [pin()]) == []
    (missing,) = P.compare([pin(arch="arm64")], [pin()])
    assert missing.startswith("wasmtime 49.0.3 arm64 file tarball") and "missing from the lock" in missing
    (changed,) = P.compare([pin(value="cd" * 32)], [pin()])
    assert f"the lock pins {HEX}, upstream now publishes {'cd' * 32}" in changed
    assert P.compare([], [pin()]) == []  # extra lock entries (other versions) are not problems


def test_lock_document_round_trips(tmp_path):
    pins = [pin(), pin(kind="image", name="gatekeeper", target="docker.io/o/g:v1", value="sha256:" + HEX)]
    path = tmp_path / "x.lock.toml"
    P.write_lock(path, pins, "x.toml")
    document = tomllib.loads(path.read_text())
    assert document["about"]["catalog"] == "x.toml"
    assert document["pins"][1] == {"component": "wasmtime", "version": "49.0.3", "arch": "amd64", "kind": "image",
                                   "name": "gatekeeper", "image": "docker.io/o/g:v1", "digest": "sha256:" + HEX,
                                   "source": "s", "signature": "not checked: x"}
    assert sorted(P.pins_from_document(document, "x"), key=lambda p: p.kind) == sorted(pins, key=lambda p: p.kind)
    assert [p.name for p in tmp_path.iterdir()] == ["x.lock.toml"]


def test_write_lock_leaves_the_old_file_when_the_rename_fails(tmp_path, monkeypatch):
    path = tmp_path / "x.lock.toml"
    path.write_text("old")

    def fail(*a):
        raise OSError("disk gone")

    monkeypatch.setattr(P.os, "replace", fail)
    with pytest.raises(OSError):
        P.write_lock(path, [pin()], "x.toml")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["x.lock.toml"]


def test_malformed_lock_entries_name_the_file_and_fix():
    with pytest.raises(P.LockError, match=r"f: pins\[0\] lacks 'sha256'; fix: run edgewasm-bundle lock"):
        P.pins_from_document({"pins": [{"component": "c", "version": "1", "arch": "a", "kind": "file",
                                        "name": "n", "file": "f"}]}, "f")
    with pytest.raises(P.LockError, match="malformed value"):
        P.pins_from_document({"pins": [{"component": "c", "version": "1", "arch": "a", "kind": "image",
                                        "name": "n", "image": "i", "digest": HEX}]}, "f")


def test_hand_pin_conflicts():
    assert P.hand_pin_conflicts([pin()], {pin().key: HEX}) == []
    (problem,) = P.hand_pin_conflicts([pin()], {pin().key: "cd" * 32})
    assert f"the catalogue pins {'cd' * 32} by hand, upstream publishes {HEX}" in problem


def _catalogue_with_lock(tmp_path, pins):
    catalog = tmp_path / "artifacts.toml"
    shutil.copyfile(CATALOG, catalog)
    P.write_lock(lock_path(catalog), pins, catalog.name)
    return catalog


GATEKEEPER = load_catalog(lock=False)["gatekeeper"]["version"]


def test_the_loader_merges_pins_of_the_pinned_version_only(tmp_path):
    catalog = _catalogue_with_lock(tmp_path, [
        pin(), pin(version="48.0.0", arch="arm64"),
        pin(component="gatekeeper", version=GATEKEEPER, arch="arm", kind="image", name="gatekeeper",
            target=f"docker.io/openpolicyagent/gatekeeper:v{GATEKEEPER}", value="sha256:" + HEX)])
    assert lock_path(catalog).name == "artifacts.lock.toml"
    merged = load_catalog(catalog)
    assert merged["wasmtime"]["files"][0]["sha256"] == {"amd64": HEX}  # the 48.0.0 pin is ignored
    assert merged["gatekeeper"]["images"][0]["digest"] == {"arm": "sha256:" + HEX}
    assert load_catalog(catalog, lock=False)["wasmtime"]["files"][0]["sha256"] == {}
    found, _ = resolve(merged, ["amd64"], components=["wasmtime"])
    assert found[0].sha256 == HEX
    overridden, _ = resolve(merged, ["amd64"], {"wasmtime": "50.0.0"}, ["wasmtime"])
    assert overridden[0].sha256 is None  # a pin is only for the version it was made for


def test_the_loader_sees_a_rewritten_lock_and_refuses_a_conflicting_hand_pin(tmp_path):
    catalog = _catalogue_with_lock(tmp_path, [pin()])
    assert load_catalog(catalog)["wasmtime"]["files"][0]["sha256"]["amd64"] == HEX
    P.write_lock(lock_path(catalog), [pin(value="cd" * 32)], catalog.name)
    assert load_catalog(catalog)["wasmtime"]["files"][0]["sha256"]["amd64"] == "cd" * 32
    catalog.write_text(catalog.read_text().replace(
        'file = "wasmtime-v{version}-{arch_name}-linux.tar.xz"\n  sha256 = {}',
        f'file = "wasmtime-v{{version}}-{{arch_name}}-linux.tar.xz"\n  sha256 = {{ amd64 = "{HEX}" }}'))
    with pytest.raises(CatalogError, match=rf"wasmtime 49.0.3 amd64 tarball: .*artifacts.toml pins sha256 {HEX} "
                                           rf"by hand, .*artifacts.lock.toml pins {'cd' * 32}; fix: remove"):
        load_catalog(catalog)


def test_a_broken_lock_is_a_catalogue_error(tmp_path):
    catalog = _catalogue_with_lock(tmp_path, [])
    lock_path(catalog).write_text("pins = [ {")
    with pytest.raises(CatalogError, match="artifacts.lock.toml"):
        load_catalog(catalog)


def test_the_shipped_lock_loads():
    assert lock_path().exists()
    load_catalog()


def test_every_data_file_beside_the_code_is_package_data():
    """An installed edgewasm (pip install, not the checkout) reads these at run time."""
    package = CATALOG.parent
    with open(package.parent / "pyproject.toml", "rb") as f:
        listed = set(tomllib.load(f)["tool"]["setuptools"]["package-data"]["edgewasm"])
    data = {p.name for p in package.iterdir() if p.is_file() and p.suffix not in (".py", ".pyc")}
    assert data <= listed, f"add {sorted(data - listed)} to [tool.setuptools.package-data] edgewasm"
