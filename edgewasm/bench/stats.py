"""Latency figures from samples: nearest-rank percentiles (each figure is a latency that
was measured, none interpolated), in microseconds."""

from __future__ import annotations

import math
from collections.abc import Sequence

FIGURES = ("p50", "p95", "p99", "mean", "min", "max")


def percentile(ordered: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile of ``ordered`` (sorted ascending): the
    smallest sample with at least q% of the samples at or below it."""
    if not ordered:
        raise ValueError("no samples")
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def distribution(samples_ns: Sequence[int]) -> dict:
    """n, p50/p95/p99, mean, min and max of nanosecond samples, in microseconds."""
    ordered = sorted(samples_ns)
    us = {"p50": percentile(ordered, 50), "p95": percentile(ordered, 95), "p99": percentile(ordered, 99),
          "mean": sum(ordered) / len(ordered), "min": ordered[0], "max": ordered[-1]}
    return {"n": len(ordered), **{k: round(v / 1000, 3) for k, v in us.items()}}


def minus(figures: dict, overhead_us: float) -> dict:
    """``figures`` with a constant cost (the host's empty call's median) taken off each:
    an estimate of the engine's own time, never below zero."""
    return {"n": figures["n"], **{k: round(max(0.0, figures[k] - overhead_us), 3) for k in FIGURES}}
