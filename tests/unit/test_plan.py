"""The host artifact plan: one answer to "which files, from where, with which hash, which
runtimes" for deploys, the bundle builder and the compliance checks."""

import json

import pytest

from edgewasm.artifacts import load_catalog
from edgewasm.manifest import Bundle
from edgewasm.plan import ANY_ROLE, PlanError, fleet_handlers, handlers, plan, wanted_versions
from edgewasm.upstream import Source, UpstreamError

CATALOG = load_catalog()


class FakeUpstream:
    """Answers like edgewasm.upstream.Upstream without the network: a fixed hash per file,
    and an error for the files named in ``unverifiable``."""

    def __init__(self, unverifiable=()):
        self.unverifiable = set(unverifiable)
        self.asked = []

    def source(self, artifact):
        self.asked.append(artifact.file)
        if artifact.file in self.unverifiable:
            raise UpstreamError(f"no pinned sha256 for {artifact.file}")
        if artifact.kind == "image":
            return Source(None, "registry", artifact.image_ref)
        return Source("a" * 64, "url", artifact.url)


def write_bundle(tmp_path, arches=("amd64",), role_files=True):
    """A bundle directory whose manifest lists every catalogue file of ``arches``."""
    entries = []
    for arch in arches:
        for p in plan("b", {}, arch, ANY_ROLE, upstream=FakeUpstream()).placements:
            entries.append({"component": p.component, "version": p.version, "arch": p.artifact.arch,
                            "name": p.name, "kind": p.artifact.kind, "file": p.artifact.bundle_path,
                            "size": 1, "sha256": "b" * 64, "source": "x", "dest": p.dest,
                            "roles": list(p.artifact.roles) if p.artifact.roles else None})
    (tmp_path / "manifest.json").write_text(json.dumps({"artifacts": entries, "unavailable": []}))
    return Bundle.open(tmp_path)


def test_chart_is_for_servers_only():
    server = plan("s", {}, "amd64", "server", upstream=FakeUpstream())
    agent = plan("a", {}, "amd64", "agent", upstream=FakeUpstream())
    assert server.placement("gatekeeper", "chart").dest == ""  # read on the operator's machine only
    with pytest.raises(PlanError, match="a: the plan has no gatekeeper chart for amd64"):
        agent.placement("gatekeeper", "chart")
    image = agent.placement("gatekeeper", "gatekeeper")
    assert image.artifact.kind == "image" and image.source == "registry"


def test_plan_from_a_bundle_takes_hashes_and_paths_from_its_manifest(tmp_path):
    bundle = write_bundle(tmp_path)
    the_plan = plan("edge-1", {}, "amd64", "agent", bundle=bundle)
    assert not the_plan.refused
    binary = the_plan.placement("k3s", "binary")
    assert binary.source == "bundle" and binary.sha256 == "b" * 64
    assert binary.location == str(tmp_path / f"k3s/{binary.version}/amd64/k3s")
    assert binary.dest == f"/var/lib/edgewasm/artifacts/k3s/{binary.version}/k3s"
    assert {p.artifact.arch for p in the_plan.placements} <= {"amd64", "all"}


def test_plan_from_a_bundle_never_asks_upstream(tmp_path):
    upstream = FakeUpstream()
    plan("edge-1", {}, "amd64", "server", bundle=write_bundle(tmp_path), upstream=upstream)
    assert upstream.asked == []


def test_a_bundle_without_the_hosts_arch_refuses_it_with_the_fix(tmp_path):
    the_plan = plan("pi-1", {}, "arm64", "agent", bundle=write_bundle(tmp_path, ("amd64",)))
    assert the_plan.refused
    assert f"pi-1: bundle {tmp_path} has no k3s {CATALOG['k3s']['version']} for arm64; " \
           "fix: rebuild it with --arch arm64 (or --inventory)" in the_plan.refusals
    with pytest.raises(PlanError, match="the host was refused"):
        the_plan.placement("k3s", "binary")


def test_a_version_the_bundle_lacks_refuses_the_host(tmp_path):
    bundle = write_bundle(tmp_path)
    the_plan = plan("edge-1", {"artifact_versions": {"k3s": "v1.99.0+k3s1"}}, "amd64", "agent", bundle=bundle)
    assert [r for r in the_plan.refusals if "k3s v1.99.0+k3s1" in r]


def test_an_unverifiable_download_refuses_the_host_or_raises_for_the_builder():
    upstream = FakeUpstream(unverifiable={"wasmtime-v49.0.3-x86_64-linux.tar.xz"})
    the_plan = plan("edge-1", {}, "amd64", "agent", upstream=upstream)
    assert the_plan.refusals == ("edge-1: cannot verify wasmtime tarball: no pinned sha256 for "
                                 "wasmtime-v49.0.3-x86_64-linux.tar.xz",)
    with pytest.raises(UpstreamError):
        plan("bundle", {}, "amd64", ANY_ROLE, upstream=upstream, strict=True)


def test_armv7_is_warned_about_or_refused_under_require_wasm():
    warned = plan("pi32", {}, "arm", "agent", upstream=FakeUpstream())
    assert not warned.refused and warned.handlers == ()
    assert any("no wasmtime" in w and "WebAssembly workloads cannot run here" in w for w in warned.warnings)
    assert warned.shipped("wasmtime") is None and warned.shipped("k3s") == CATALOG["k3s"]["version"]
    refused = plan("pi32", {"edgewasm_require_wasm": True}, "arm", "agent", upstream=FakeUpstream())
    assert refused.refused and "edgewasm_require_wasm" in refused.refusals[0]


def test_components_and_versions_follow_the_hosts_data():
    data = {"artifact_components": ["k3s", "wasmtime"], "artifact_versions": {"k3s": "v1.32.3+k3s1"}}
    assert wanted_versions(data) == {"k3s": "v1.32.3+k3s1", "wasmtime": CATALOG["wasmtime"]["version"]}
    the_plan = plan("edge-1", data, "arm64", "agent", upstream=FakeUpstream())
    assert {p.component for p in the_plan.placements} == {"k3s", "wasmtime"}
    assert the_plan.placement("k3s", "binary").artifact.file == "k3s-arm64"
    assert the_plan.handlers == ()


def test_fleet_handlers_follow_components_and_crun():
    assert fleet_handlers([{}], CATALOG) == ["wasmedge", "wasmtime"]
    assert fleet_handlers([{"artifact_components": ["k3s"]}], CATALOG) == []
    assert fleet_handlers([{"artifact_components": ["k3s"]}, {"artifact_components": ["k3s"], "edgewasm_crun": True}],
                          CATALOG) == ["crun-wasm"]


def test_host_handlers_leave_out_what_upstream_does_not_build_for_the_arch():
    assert handlers({}, "arm64", CATALOG) == ["wasmedge", "wasmtime"]
    assert handlers({}, "arm", CATALOG) == []
    assert handlers({"edgewasm_crun": True}, "arm", CATALOG) == ["crun-wasm"]
    assert plan("pi-1", {}, "arm64", "agent", upstream=FakeUpstream()).handlers == ("wasmedge", "wasmtime")
