import pytest

from edgewasm.artifacts import CatalogError, load_catalog, mirror_url, resolve
from edgewasm.pins import parse_sha256sum

CATALOG = load_catalog()


def pick(artifacts, component, name, arch):
    return next(a for a in artifacts if (a.component, a.name, a.arch) == (component, name, arch))


def test_k3s_urls_follow_upstream_asset_names():
    found, _ = resolve(CATALOG, ["amd64", "arm64", "arm"], components=["k3s"])
    version = CATALOG["k3s"]["version"]
    base = f"https://github.com/k3s-io/k3s/releases/download/{version.replace('+', '%2B')}"
    assert pick(found, "k3s", "binary", "amd64").url == f"{base}/k3s"
    assert pick(found, "k3s", "binary", "arm64").url == f"{base}/k3s-arm64"
    assert pick(found, "k3s", "binary", "arm").url == f"{base}/k3s-armhf"
    images = pick(found, "k3s", "airgap-images", "arm64")
    assert images.file == "k3s-airgap-images-arm64.tar.zst"
    assert images.checksum_url == f"{base}/sha256sum-arm64.txt"
    assert images.dest == "/var/lib/rancher/k3s/agent/images/k3s-airgap-images-arm64.tar.zst"
    assert pick(found, "k3s", "binary", "amd64").dest == f"/var/lib/edgewasm/artifacts/k3s/{version}/k3s"


def test_each_host_arch_gets_only_its_own_files():
    found, _ = resolve(CATALOG, ["arm64"])
    assert {a.arch for a in found} <= {"arm64", "all"}
    assert not any("x86_64" in a.file or a.file == "k3s" for a in found)


def test_armv7_has_no_wasm_runtimes_upstream():
    found, missing = resolve(CATALOG, ["arm"])
    assert {m.component for m in missing} >= {"wasmedge", "wasmtime", "runwasi-wasmedge", "runwasi-wasmtime",
                                              "gatekeeper/gatekeeper-crds"}
    assert {a.component for a in found if a.arch == "arm"} == {"k3s", "gatekeeper"}


def test_version_override_drops_pins_of_the_pinned_version():
    found, _ = resolve(CATALOG, ["amd64"], versions={"wasmtime": "50.0.0", "k3s": "v1.33.1+k3s1"},
                       components=["wasmtime", "k3s"])
    assert pick(found, "wasmtime", "tarball", "amd64").file == "wasmtime-v50.0.0-x86_64-linux.tar.xz"
    assert pick(found, "wasmtime", "tarball", "amd64").sha256 is None
    assert "v1.33.1%2Bk3s1" in pick(found, "k3s", "binary", "amd64").url


def test_mirror_keeps_upstream_host_and_path():
    assert mirror_url("https://github.com/k3s-io/k3s/releases/download/v1%2Bk3s1/k3s", "http://m.local/gh/") == \
        "http://m.local/gh/github.com/k3s-io/k3s/releases/download/v1%2Bk3s1/k3s"
    assert mirror_url("https://x/y", None) == "https://x/y"
    found, _ = resolve(CATALOG, ["amd64"], components=["k3s"], mirror="http://m")
    version = CATALOG["k3s"]["version"].replace("+", "%2B")
    assert pick(found, "k3s", "binary", "amd64").checksum_url == \
        f"http://m/github.com/k3s-io/k3s/releases/download/{version}/sha256sum-amd64.txt"


def test_unknown_component_is_refused():
    with pytest.raises(CatalogError, match="unknown components"):
        resolve(CATALOG, ["amd64"], components=["k3ss"])


def test_parse_sha256sum():
    text = f"{'a' * 64}  k3s\n{'b' * 64} *k3s-airgap-images-amd64.tar.zst\n\ngarbage\n"
    assert parse_sha256sum(text) == {"k3s": "a" * 64, "k3s-airgap-images-amd64.tar.zst": "b" * 64}
