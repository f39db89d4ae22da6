"""Reading `gator verify -v`, on output recorded from the real gator (tests/fixtures/gator)."""

from pathlib import Path

from tests.fixtures import policy_harness as harness

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "gator"


def test_one_failed_case_among_passing_ones():
    results = harness.parse_gator_verify((RECORDED / "verify-one-case-flipped.txt").read_text())
    assert len(results) == 36
    failed = {case: errors for case, errors in results.items() if errors}
    assert failed == {"trusted-repos/trusted registry": [
        "unexpected number of violations: got 0 violations but want at least 1: got messages []"]}
    assert results["disallowed-tags/latest in an ephemeralContainer"] == []


def test_a_refused_template_fails_its_whole_test():
    results = harness.parse_gator_verify((RECORDED / "verify-template-refused.txt").read_text())
    assert list(results) == ["x"]
    assert "rego_parse_error" in results["x"][0]


def test_engines_disagree_names_the_case_and_one_sided_cases():
    gator = {"t/a": [], "t/b": ["failed"], "t/c": []}
    rego_cpp = {"t/a": [], "t/b": [], "t/d": []}
    assert harness.engines_disagree(gator, rego_cpp) == ["t/b", "t/c", "t/d"]
    assert harness.engines_disagree(gator, dict(gator)) == []
