"""Each host holds exactly its own arch's artifacts, with the hashes its plan names."""

from edgewasm.compliance import applies
from edgewasm.manifest import Bundle


@applies.only(applies.from_bundle)
def test_bundle_artifacts_in_place_with_their_hashes(host, host_data, plan):
    """Every artifact of the host's plan is in place with its hash; no upload left half-way.

    Fix: run the deploy for this host: it re-uploads each artifact whose hash differs."""
    assert not plan.refused, plan.refusals
    assert plan.placements, f"the bundle has nothing for {plan.arch}"
    for p in (p for p in plan.placements if p.dest):  # "" : read on the operator's machine only
        f = host.file(p.dest)
        assert f.is_file, p.dest
        assert f.sha256sum == p.sha256, p.dest
        assert f.mode == 0o644 and f.user == "root"
        directory, _, name = p.dest.rpartition("/")
        assert not host.file(f"{directory}/.{name}.edgewasm-upload").exists, "no upload left half-way"


@applies.only(applies.from_bundle)
def test_no_other_arch_files(host, host_data, plan):
    """No file of another arch's artifacts is on the host.

    Fix: check edgewasm_arch for this host, remove the foreign files, run the deploy."""
    manifest = Bundle.open(host_data["edgewasm_bundle"]).manifest
    own = {e["dest"] for e in manifest["artifacts"] if e["arch"] in (plan.arch, "all")}
    # An arch-independent file (the wasip1/wasm hello image) has one dest for every arch.
    foreign = {e["dest"] for e in manifest["artifacts"] if e["arch"] not in (plan.arch, "all")} - own
    assert not [d for d in foreign if host.file(d).exists]
