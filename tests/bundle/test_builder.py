"""The bundle builder against a loopback mirror of upstream-shaped release trees."""

import json
import shutil

import pytest

from edgewasm import bundle
from edgewasm.bundle import BundleError


def build(mirror, out, **kw):
    return bundle.build("site", ["amd64", "arm64"], mirror=mirror.url, registry_mirror=mirror.registry,
                        registry_tls_verify=False, catalog=mirror.catalog, out=out, progress=False, **kw)


def test_two_arch_bundle_has_a_complete_manifest(mirror, tmp_path):
    manifest = build(mirror, tmp_path)
    site = tmp_path / "site"
    assert json.loads((site / "manifest.json").read_text()) == manifest
    entries = manifest["artifacts"]
    by_key = {(e["component"], e["name"], e["arch"]) for e in entries}
    for arch in ("amd64", "arm64"):
        for key in [("k3s", "binary"), ("k3s", "airgap-images"), ("wasmedge", "tarball"),
                    ("wasmtime", "tarball"), ("runwasi-wasmedge", "tarball"), ("runwasi-wasmtime", "tarball"),
                    ("hello-wasm", "image")]:
            assert (*key, arch) in by_key
    assert ("gatekeeper", "chart", "all") in by_key
    for arch in ("amd64", "arm64"):
        assert ("gatekeeper", "gatekeeper", arch) in by_key and ("gatekeeper", "gatekeeper-crds", arch) in by_key
    for e in entries:
        path = site / e["file"]
        assert path.stat().st_size == e["size"]
        assert bundle.sha256_of(path) == e["sha256"]
        if e["component"] == "hello-wasm":  # built here, from edgewasm/hello.wat
            assert e["source"] == "built by edgewasm (hello-wasm 0.1.0)"
            continue
        assert e["source"].startswith(mirror.url + "/" if e["kind"] == "file" else "docker://docker.io/")
    assert {"component", "version", "arch", "file", "size", "sha256", "source"} <= set(entries[0])
    assert bundle.verify(site) == []
    assert not (tmp_path / ".site.partial").exists()


def test_no_armv7_wasm_runtimes_are_reported_not_invented(mirror, tmp_path):
    manifest = bundle.build("pi32", ["arm"], mirror=mirror.url, catalog=mirror.catalog,
                            components=["k3s", "wasmedge", "runwasi-wasmedge"], out=tmp_path, progress=False)
    assert {e["component"] for e in manifest["artifacts"]} == {"k3s"}
    assert {(u["component"], u["arch"], u["wasm"]) for u in manifest["unavailable"]} == {
        ("wasmedge", "arm", True), ("runwasi-wasmedge", "arm", True)}


def test_rebuild_downloads_nothing_already_verified(mirror, tmp_path, capsys):
    build(mirror, tmp_path)
    mirror.handler.requests_seen.clear()
    build(mirror, tmp_path)
    downloads = [p for p, _ in mirror.handler.requests_seen if not p.endswith(("SHA256SUM", ".txt", "index.yaml"))]
    assert downloads == []
    assert "0 bytes downloaded" in capsys.readouterr().err.splitlines()[-1]


def test_tampered_file_is_named_with_expected_and_actual_hash(mirror, tmp_path):
    build(mirror, tmp_path)
    site = tmp_path / "site"
    entry = next(e for e in json.loads((site / "manifest.json").read_text())["artifacts"]
                 if e["component"] == "wasmtime" and e["arch"] == "arm64")
    with open(site / entry["file"], "r+b") as f:
        f.seek(100)
        f.write(b"\0evil\0")
    problems = bundle.verify(site)
    assert len(problems) == 1
    assert entry["file"] in problems[0] and entry["sha256"] in problems[0] and "actual" in problems[0]
    (site / entry["file"]).unlink()
    assert "missing" in bundle.verify(site)[0]


def test_truncated_download_is_resumed(mirror, tmp_path):
    # Large enough that the first half reaches the disk before the connection drops.
    wasmtime = "/github.com/bytecodealliance/wasmtime/releases/download/v49.0.3/wasmtime-v49.0.3-aarch64-linux.tar.xz"
    mirror.handler.faults[wasmtime] = "truncate"
    build(mirror, tmp_path)
    ranges = [r for p, r in mirror.handler.requests_seen if p == wasmtime]
    assert ranges[0] is None and ranges[1] and ranges[1].startswith("bytes=")
    assert bundle.verify(tmp_path / "site") == []


def test_checksum_mismatch_fails_and_leaves_no_bundle(mirror, tmp_path):
    version = mirror.catalog["wasmedge"]["version"]
    file = f"WasmEdge-{version}-manylinux_2_28_aarch64.tar.gz"
    mirror.handler.faults[f"/github.com/WasmEdge/WasmEdge/releases/download/{version}/{file}"] = "corrupt"
    with pytest.raises(BundleError, match=rf"checksum mismatch for {file}.*expected [0-9a-f]{{64}}, got [0-9a-f]{{64}}"):
        build(mirror, tmp_path)
    assert not (tmp_path / "site").exists()


def test_checksum_mismatch_keeps_the_previous_bundle_whole(mirror, tmp_path):
    build(mirror, tmp_path)
    before = (tmp_path / "site" / "manifest.json").read_text()
    mirror.catalog["wasmtime"]["files"][0]["sha256"]["amd64"] = "0" * 64
    with pytest.raises(BundleError, match="checksum mismatch"):
        build(mirror, tmp_path)
    assert (tmp_path / "site" / "manifest.json").read_text() == before
    assert bundle.verify(tmp_path / "site") == []


def test_404_is_a_clear_error(mirror, tmp_path):
    mirror.catalog["k3s"]["version"] = "v9.9.9+k3s1"
    with pytest.raises(BundleError, match=r"HTTP 404 for .*v9.9.9%2Bk3s1/sha256sum-a"):
        build(mirror, tmp_path)
    assert not (tmp_path / "site").exists()


def test_unpinned_artifact_is_refused_with_the_fix(mirror, tmp_path):
    mirror.catalog["runwasi-wasmtime"]["files"][0]["sha256"] = {}
    with pytest.raises(BundleError, match=r"no pinned sha256 .*fix: .*artifacts.toml"):
        build(mirror, tmp_path)


def test_disk_full_is_a_clear_error_and_leaves_nothing(mirror, tmp_path, monkeypatch):
    import errno

    real_open = open

    def full_disk_open(path, mode="r", *a, **kw):
        if str(path).endswith(".part") and "w" in mode or "a" in mode and str(path).endswith(".part"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, mode, *a, **kw)

    monkeypatch.setattr("builtins.open", full_disk_open)
    with pytest.raises(BundleError, match="disk full"):
        build(mirror, tmp_path)
    monkeypatch.undo()
    assert not (tmp_path / "site").exists() and not (tmp_path / ".site.partial").exists()


def test_cli_builds_and_verifies(mirror, tmp_path):
    catalog_file = tmp_path / "catalog.toml"  # the CLI reads the catalogue as TOML
    catalog_file.write_text(_to_toml(mirror.catalog))
    out = tmp_path / "bundles"
    assert bundle.main(["build", "cli", "--arch", "amd64", "--mirror", mirror.url,
                        "--registry-mirror", mirror.registry, "--registry-insecure",
                        "--catalog", str(catalog_file), "--out", str(out)]) == 0
    assert bundle.main(["verify", "cli", "--out", str(out)]) == 0
    shutil.rmtree(out / "cli" / "wasmtime")
    assert bundle.main(["verify", "cli", "--out", str(out)]) == 1


def _to_toml(catalog) -> str:
    """Just enough TOML writing for the catalogue's shapes."""
    import json as j

    def value(v):
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k!r} = {value(x)}".replace("'", '"') for k, x in v.items()) + " }"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return j.dumps(v)

    lines = []
    for name, entry in catalog.items():
        lines.append(f'["{name}"]')
        for k, v in entry.items():
            if k not in ("files", "images"):
                lines.append(f"{k} = {value(v)}")
        for table in ("files", "images"):
            for item in entry.get(table, []):
                lines.append(f'[["{name}".{table}]]')
                lines.extend(f"{k} = {value(v)}" for k, v in item.items())
    return "\n".join(lines) + "\n"


def test_images_are_docker_archives_k3s_can_import(mirror, tmp_path):
    import tarfile

    manifest = build(mirror, tmp_path, components=["gatekeeper"])
    image = next(e for e in manifest["artifacts"] if e["name"] == "gatekeeper" and e["arch"] == "arm64")
    gatekeeper = mirror.catalog["gatekeeper"]["version"]
    assert image["dest"] == f"/var/lib/rancher/k3s/agent/images/gatekeeper-{gatekeeper}-arm64.tar"
    with tarfile.open(tmp_path / "site" / image["file"]) as tar:
        index = json.load(tar.extractfile("manifest.json"))
        config = json.load(tar.extractfile(index[0]["Config"]))
    assert index[0]["RepoTags"] == [f"docker.io/openpolicyagent/gatekeeper:v{gatekeeper}"]
    assert config["architecture"] == "arm64"


def test_wrong_image_digest_is_refused(mirror, tmp_path):
    mirror.catalog["gatekeeper"]["images"][0]["digest"]["amd64"] = "sha256:" + "1" * 64
    with pytest.raises(BundleError, match=r"cannot copy image .*gatekeeper@sha256:1111"):
        build(mirror, tmp_path, components=["gatekeeper"])
    assert not (tmp_path / "site").exists()


def test_cli_takes_arches_and_mirror_from_the_inventory(mirror, tmp_path):
    inventory = tmp_path / "site.py"
    inventory.write_text(
        "from edgewasm.config import check_inventory\n"
        f"_m = {{'artifact_mirror': {mirror.url!r}, 'policy_allowed_repos': ['docker.io/edgewasm/']}}\n"
        "k3s_servers = [('srv', {'ssh_hostname': '192.0.2.1', 'edgewasm_arch': 'amd64', **_m})]\n"
        "k3s_agents = [('pi', {'ssh_hostname': '192.0.2.2', 'edgewasm_arch': 'arm64', **_m})]\n"
        "check_inventory(__file__)\n"
    )
    catalog_file = tmp_path / "catalog.toml"
    catalog_file.write_text(_to_toml(mirror.catalog))
    out = tmp_path / "bundles"
    assert bundle.main(["build", "inv", "--inventory", str(inventory), "--registry-mirror", mirror.registry,
                        "--registry-insecure", "--catalog", str(catalog_file), "--out", str(out)]) == 0
    manifest = bundle.load_manifest(out / "inv")
    assert manifest["arches"] == ["amd64", "arm64"] and manifest["mirror"] == mirror.url


def test_a_reused_image_tarball_is_verified_again(mirror, tmp_path):
    manifest = build(mirror, tmp_path, components=["gatekeeper"])
    image = next(e for e in manifest["artifacts"] if e["kind"] == "image" and e["arch"] == "amd64")
    path = tmp_path / "site" / image["file"]
    path.write_bytes(b"tampered while the bundle sat on a shelf")
    rebuilt = build(mirror, tmp_path, components=["gatekeeper"])
    again = next(e for e in rebuilt["artifacts"] if e["file"] == image["file"])
    assert again["sha256"] == image["sha256"] and bundle.sha256_of(path) == image["sha256"]
