"""The distribution route: which Wasm runtimes a host takes from its OS release."""

import json

from edgewasm.packaged_runtimes import crun_refusal, host_packages, packaged, packaged_runtime
from edgewasm.plan import plan, wanted_versions
from edgewasm.templates import render
from edgewasm.upstream import Source

CRUN = {"edgewasm_crun": True}


def test_trixie_ships_a_crun_that_runs_wasm_on_64_bit_arches_only():
    assert packaged_runtime("debian-trixie", "crun", "amd64").wasm == "wasmedge"
    assert packaged_runtime("debian-trixie", "crun", "arm64").version == "1.21"
    assert packaged_runtime("debian-trixie", "crun", "arm").wasm is None


def test_bookworm_ships_a_crun_without_wasm_and_no_wasmedge():
    assert packaged_runtime("debian-bookworm", "crun", "amd64").wasm is None
    assert packaged_runtime("debian-bookworm", "wasmedge", "amd64") is None


def test_trixie_host_takes_wasmedge_and_on_the_crun_route_crun_from_the_release():
    data = CRUN
    found = packaged(data, "debian-trixie", "amd64", wanted_versions(data))
    assert sorted(found) == ["crun", "wasmedge"]
    assert found["crun"].packages == ("crun", "libwasmedge0")  # crun only Suggests the library it loads
    assert packaged({}, "debian-trixie", "amd64", wanted_versions({})).keys() == {"wasmedge"}


def test_upstream_route_and_bookworm_take_nothing_from_the_release():
    data = {**CRUN, "edgewasm_wasm_runtimes_from": "upstream"}
    assert packaged(data, "debian-trixie", "amd64", wanted_versions(data)) == {}
    assert packaged(CRUN, "debian-bookworm", "amd64", wanted_versions(CRUN)) == {}
    assert packaged(CRUN, None, "amd64", wanted_versions(CRUN)) == {}


def test_operator_crun_packages_win_over_the_release():
    data = {**CRUN, "edgewasm_crun_packages": ["crun-wasmedge"]}
    assert "crun" not in packaged(data, "debian-trixie", "amd64", wanted_versions(data))


def test_wasmedge_not_wanted_is_not_taken():
    data = {"artifact_components": ["k3s", "wasmtime"]}
    assert packaged(data, "debian-trixie", "amd64", wanted_versions(data)) == {}


def test_host_packages_add_the_runtimes_after_preflight_packages():
    found = packaged(CRUN, "debian-trixie", "amd64", wanted_versions(CRUN))
    wanted = host_packages(CRUN, found)
    assert wanted[:6] == ["ca-certificates", "iptables", "conntrack", "socat", "xz-utils", "sudo"]
    assert wanted[6:] == ["wasmedge", "crun", "libwasmedge0"]


def test_bookworm_crun_route_is_refused_naming_its_crun_and_the_fix():
    reason = crun_refusal("pi-1", CRUN, "debian-bookworm", "arm64")
    assert reason.startswith("pi-1: the crun route needs a crun with a wasm handler and debian-bookworm ships "
                             "crun 1.8.1 without a wasm handler; fix:")
    assert "debian-trixie (crun 1.21 +WASM:wasmedge)" in reason
    assert "runwasi route (edgewasm_crun = False" in reason


def test_trixie_crun_route_is_not_refused_and_upstream_route_leaves_it_to_the_binary():
    assert crun_refusal("box", CRUN, "debian-trixie", "amd64") is None
    assert crun_refusal("box", {**CRUN, "edgewasm_wasm_runtimes_from": "upstream"}, "debian-bookworm", "amd64") is None


def test_unknown_release_names_that_it_ships_no_crun():
    assert "ubuntu-noble ships no crun for amd64" in crun_refusal("box", CRUN, "ubuntu-noble", "amd64")


class FixtureUpstream:
    """FIXTURE: vouches for every artifact with a made-up digest (no network here)."""

    def source(self, artifact):
        return Source("0" * 64, "url", f"https://example.invalid/{artifact.name}")


def test_plan_on_trixie_takes_the_release_wasmedge_version_and_no_tarball():
    p = plan("box", {}, "amd64", "agent", upstream=FixtureUpstream(), release="debian-trixie")
    assert p.versions["wasmedge"] == "0.14.1" and p.shipped("wasmedge") == "0.14.1"
    assert not [x for x in p.placements if x.component == "wasmedge"]
    assert p.packaged["wasmedge"].packages == ("wasmedge",)
    bookworm = plan("box", {}, "amd64", "agent", upstream=FixtureUpstream(), release="debian-bookworm")
    assert [x.name for x in bookworm.placements if x.component == "wasmedge"] == ["tarball"]
    assert bookworm.packaged == {}


def test_crun_hello_bundle_config_is_an_oci_config_with_the_wasm_annotation():
    config = json.loads(render("wasm/crun-hello.json.j2", module="hello.wasm"))
    assert config["process"]["args"] == ["/hello.wasm"]
    assert config["annotations"] == {"module.wasm.image/variant": "compat-smart"}
    assert config["root"] == {"path": "rootfs", "readonly": True}
