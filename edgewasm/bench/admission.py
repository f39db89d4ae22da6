"""Gatekeeper's real admission latency on the cluster: the API server's own histogram of its
calls to validating webhooks (``apiserver_admission_webhook_admission_duration_seconds``,
labelled by webhook name, operation and whether it rejected), read from ``/metrics`` before
and after the run. The difference is the run's pod creations and nothing older; the mean is
exact (sum over count), the quantiles are interpolated within the histogram's buckets as
Prometheus' histogram_quantile does, so they are only as fine as the buckets (5 ms, 25 ms,
100 ms, ...): the report gives the buckets with them.
"""

from __future__ import annotations

import re

from edgewasm.bench.cluster import KubectlError, Session

METRIC = "apiserver_admission_webhook_admission_duration_seconds"
QUANTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}
_LINE = re.compile(rf"^{METRIC}_(bucket|sum|count)\{{([^}}]*)\}} (\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse(text: str) -> dict[tuple, dict]:
    """{(webhook, operation, type, rejected): {"sum": s, "count": n, "buckets": {le: n}}}."""
    found: dict[tuple, dict] = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        kind, labels, value = m.group(1), dict(_LABEL.findall(m.group(2))), float(m.group(3))
        key = (labels.get("name", ""), labels.get("operation", ""), labels.get("type", ""), labels.get("rejected", ""))
        entry = found.setdefault(key, {"sum": 0.0, "count": 0.0, "buckets": {}})
        if kind == "bucket":
            entry["buckets"][float(labels["le"])] = value
        else:
            entry[kind] = value
    return found


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """histogram_quantile over cumulative ``buckets`` {upper bound: count}, in seconds."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank, lower, below = q * buckets[bounds[-1]], 0.0, 0.0
    for upper in bounds:
        if buckets[upper] >= rank:
            if upper == float("inf"):
                return lower  # beyond the last finite bucket: its bound is all that is known
            inside = buckets[upper] - below
            return lower + (upper - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = upper, buckets[upper]
    return None


def difference(before: dict[tuple, dict], after: dict[tuple, dict], webhook_prefix: str = "") -> list[dict]:
    """One row per (webhook, operation, type, rejected) that answered during the run."""
    rows = []
    for key, now in sorted(after.items()):
        if not key[0].startswith(webhook_prefix):
            continue
        was = before.get(key, {"sum": 0.0, "count": 0.0, "buckets": {}})
        count = now["count"] - was["count"]
        if count <= 0:
            continue
        buckets = {le: n - was["buckets"].get(le, 0.0) for le, n in now["buckets"].items()}
        row = {"webhook": key[0], "operation": key[1], "type": key[2], "rejected": key[3] == "true",
               "calls": int(count), "mean_ms": round((now["sum"] - was["sum"]) / count * 1000, 3),
               "buckets_ms": {("+Inf" if le == float("inf") else f"{le * 1000:g}"): int(n)
                              for le, n in sorted(buckets.items())}}
        for name, q in QUANTILES.items():
            value = quantile(q, buckets)
            row[f"{name}_ms"] = None if value is None else round(value * 1000, 3)
        rows.append(row)
    return rows


def scrape(session: Session) -> dict[tuple, dict] | str:
    """The API server's webhook histograms now, or why they cannot be read."""
    try:
        return parse(session.kubectl("get", "--raw", "/metrics", timeout=60))
    except (KubectlError, TimeoutError) as exc:
        return f"the API server's /metrics unread: {str(exc)[:300]}"
