"""Node CPU and per-pod memory from the kubelet's summary API
(``/api/v1/nodes/NODE/proxy/stats/summary``), sampled while a phase runs.

What the summary holds is the kubelet's latest stats, refreshed by its housekeeping (about
every 10-15 s for pods, cAdvisor's dynamic housekeeping): sampling more often repeats a
figure, and a peak shorter than that interval can be missed. The working set is the pod
cgroup's memory usage minus inactive file pages, as the kubelet's eviction reads it; for a
runwasi pod it holds the shim's instance of the runtime, for runc the container's processes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from edgewasm.bench import stats


def node_figures(summary: dict) -> dict:
    """The node's CPU (nanocores) and memory figures of one summary, with their times."""
    node = summary.get("node", {})
    cpu, mem = node.get("cpu", {}), node.get("memory", {})
    return {"cpu_nano_cores": cpu.get("usageNanoCores"), "cpu_time": cpu.get("time"),
            "memory_working_set_bytes": mem.get("workingSetBytes"), "memory_available_bytes": mem.get("availableBytes"),
            "memory_time": mem.get("time")}


def pod_working_sets(summary: dict, namespace: str, prefix: str) -> dict[str, int]:
    """{pod: working set bytes} of the pods of ``namespace`` whose names start with ``prefix``
    (pods the kubelet has no memory figure for yet are left out: no figure, or 0, which a
    pod with a process in it cannot have; seen on the bed for new runwasi pods)."""
    found = {}
    for pod in summary.get("pods", []):
        ref = pod.get("podRef", {})
        ws = (pod.get("memory") or {}).get("workingSetBytes")
        if ref.get("namespace") == namespace and ref.get("name", "").startswith(prefix) and ws:
            found[ref["name"]] = ws
    return found


class Sampler:
    """Calls ``read`` every ``interval`` seconds in a thread of its own until ``stop``;
    keeps (seconds since start, what it returned); a failed read is kept as its error."""

    def __init__(self, read: Callable[[], dict], interval: float):
        self.read, self.interval = read, interval
        self.samples: list[tuple[float, dict]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._start = time.monotonic()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append((round(time.monotonic() - self._start, 3), self.read()))
            except Exception as exc:  # noqa: BLE001 - a sample lost is said, the phase goes on
                self.errors.append(str(exc)[:300])
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)


def cpu_during(samples: list[tuple[float, dict]]) -> dict:
    """Node CPU over a burst's samples: each (seconds, cores), and the mean and max cores
    of the distinct kubelet figures (a repeated figure, by its cpu time, counts once)."""
    seen, series = set(), []
    for at, summary in samples:
        figures = node_figures(summary)
        if figures["cpu_nano_cores"] is None or figures["cpu_time"] in seen:
            continue
        seen.add(figures["cpu_time"])
        series.append([at, round(figures["cpu_nano_cores"] / 1e9, 3)])
    cores = [c for _, c in series]
    return {"samples": series, "distinct": len(series),
            "mean_cores": round(sum(cores) / len(cores), 3) if cores else None, "max_cores": max(cores, default=None)}


def per_pod(samples: list[dict[str, int]]) -> dict:
    """Memory per pod from successive {pod: working set} samples: at rest (each pod's
    last figure, once everything has settled) and peak (each pod's largest), in bytes,
    with their distributions over the pods (nearest-rank, as stats does; in bytes)."""
    last: dict[str, int] = {}
    peak: dict[str, int] = {}
    for sample in samples:
        for pod, ws in sample.items():
            last[pod] = ws
            peak[pod] = max(ws, peak.get(pod, 0))

    def dist(values: dict[str, int]) -> dict | None:
        if not values:
            return None
        ordered = sorted(values.values())
        return {"n": len(ordered), "p50": stats.percentile(ordered, 50), "p95": stats.percentile(ordered, 95),
                "max": ordered[-1], "mean": round(sum(ordered) / len(ordered))}

    return {"at_rest_bytes": last, "peak_bytes": peak, "at_rest": dist(last), "peak": dist(peak)}
