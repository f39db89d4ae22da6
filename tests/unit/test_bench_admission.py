"""edgewasm.bench.admission on /metrics text shaped as the API server prints it."""

import pytest

from edgewasm.bench import admission

M = admission.METRIC
LABELS = 'name="validation.gatekeeper.sh",operation="CREATE",rejected="false",type="validating"'


def metrics(counts: dict[str, int], total: float) -> str:
    lines = ["# HELP x", f'{M}_sum{{{LABELS}}} {total}', f'{M}_count{{{LABELS}}} {counts["+Inf"]}',
             'apiserver_request_total{code="200"} 5']
    lines += [f'{M}_bucket{{{LABELS},le="{le}"}} {n}' for le, n in counts.items()]
    return "\n".join(lines)


def test_the_runs_calls_are_the_difference_of_two_scrapes():
    before = admission.parse(metrics({"0.005": 360, "0.025": 540, "0.1": 575, "+Inf": 578}, 4.6))
    after = admission.parse(metrics({"0.005": 380, "0.025": 620, "0.1": 675, "+Inf": 678}, 6.6))
    (row,) = admission.difference(before, after, "validation.gatekeeper")
    assert row["calls"] == 100 and row["mean_ms"] == pytest.approx(20.0)
    assert row["buckets_ms"] == {"5": 20, "25": 80, "100": 100, "+Inf": 100}
    # rank 50 lies in (5, 25] ms, 30 of its 60 calls in: 5 + 20 * 30/60.
    assert row["p50_ms"] == pytest.approx(15.0)
    assert row["p95_ms"] == pytest.approx(25 + 75 * 15 / 20)


def test_no_call_during_the_run_is_no_row_and_beyond_the_last_bucket_is_its_bound():
    same = admission.parse(metrics({"0.005": 1, "+Inf": 1}, 0.001))
    assert admission.difference(same, same) == []
    assert admission.quantile(0.99, {0.005: 0, 0.025: 0, float("inf"): 10}) == 0.025
    assert admission.quantile(0.5, {}) is None
