"""Each host holds exactly its own arch's artifacts, with the hashes its plan names."""

from edgewasm.compliance import applies, files, reads
from edgewasm.manifest import Bundle


@applies.only(applies.from_bundle)
def test_bundle_artifacts_in_place_with_their_hashes(host, host_data, plan):
    """Every artifact of the host's plan is in place with its hash; no upload left half-way.

    Fix: run the deploy for this host: it re-uploads each artifact whose hash differs."""
    assert not plan.refused, plan.refusals
    assert plan.placements, f"the bundle has nothing for {plan.arch}"
    placed, partials = reads.artifact_paths(plan)
    found = files.states(host, [p.dest for p in placed] + partials)
    for p in placed:
        assert found[p.dest] == files.FileState(p.dest, "file", 0o644, "root", p.sha256), p.dest
    assert [found[p].kind for p in partials] == ["missing"] * len(partials), "no upload left half-way"


@applies.only(applies.from_bundle)
def test_no_other_arch_files(host, host_data, plan):
    """No file of another arch's artifacts is on the host.

    Fix: check edgewasm_arch for this host, remove the foreign files, run the deploy."""
    foreign = reads.foreign_paths(plan, Bundle.open(host_data["edgewasm_bundle"]).manifest)
    assert [path for path, state in files.states(host, foreign).items() if state.kind != "missing"] == []
