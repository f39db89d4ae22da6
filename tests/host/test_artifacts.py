"""Each host holds exactly its own arch's artifacts, with the hashes its plan names."""

from edgewasm.compliance import applies, files
from edgewasm.manifest import Bundle


@applies.only(applies.from_bundle)
def test_bundle_artifacts_in_place_with_their_hashes(host, host_data, plan):
    """Every artifact of the host's plan is in place with its hash; no upload left half-way.

    Fix: run the deploy for this host: it re-uploads each artifact whose hash differs."""
    assert not plan.refused, plan.refusals
    assert plan.placements, f"the bundle has nothing for {plan.arch}"
    placed = [p for p in plan.placements if p.dest]  # "" : read on the operator's machine only
    partials = [f"{d}/.{n}.edgewasm-upload" for d, _, n in (p.dest.rpartition("/") for p in placed)]
    found = files.states(host, [p.dest for p in placed] + partials)
    for p in placed:
        assert found[p.dest] == files.FileState(p.dest, "file", 0o644, "root", p.sha256), p.dest
    assert [found[p].kind for p in partials] == ["missing"] * len(partials), "no upload left half-way"


@applies.only(applies.from_bundle)
def test_no_other_arch_files(host, host_data, plan):
    """No file of another arch's artifacts is on the host.

    Fix: check edgewasm_arch for this host, remove the foreign files, run the deploy."""
    manifest = Bundle.open(host_data["edgewasm_bundle"]).manifest
    own = {e["dest"] for e in manifest["artifacts"] if e["arch"] in (plan.arch, "all")}
    # An arch-independent file (the wasip1/wasm hello image) has one dest for every arch.
    foreign = {e["dest"] for e in manifest["artifacts"] if e["arch"] not in (plan.arch, "all")} - own
    assert [path for path, state in files.states(host, sorted(foreign)).items() if state.kind != "missing"] == []
