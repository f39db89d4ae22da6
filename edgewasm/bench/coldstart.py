"""Pod cold start: bursts of ``concurrency`` pods running ``now`` (print the wall clock in
ns, exit), created by one ``kubectl create`` on the server, bound to the node under test.

Per pod, on the server's clock, from the stamp taken right before the create:
- ``started_ms``: the first watch event showing its container started (running or already
  terminated). The kubelet reports container state through its status loop (PLEG relists
  about every second), so this carries the kubelet's reporting delay;
- ``completed_ms``: the first event showing the pod Succeeded;
- ``in_container_start_ms``: the workload's own ``now`` minus the create stamp, the start
  as the container saw it. That reading is the NODE's clock: exact where the node is the
  first server (one clock), elsewhere off by the clocks' offset, which ``clock_offsets``
  bounds from the samples themselves (a start must lie between the create and the
  completion), so a skew too large for the figures shows, never passes as a fast start.

A pod that does not complete is a failure with its reason, never a sample of speed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edgewasm.bench import stats
from edgewasm.bench.cluster import KubectlError, Session
from edgewasm.bench.memory import Sampler, cpu_during
from edgewasm.bench.pods import Phase, Workload, pod_manifest, pod_name


@dataclass(frozen=True)
class Burst:
    node: str
    node_index: int
    handler: str
    concurrency: int
    round: int

    @property
    def phase(self) -> str:
        return f"cs{self.node_index}-{self.handler}-c{self.concurrency}-r{self.round}"


def _ms(later: int | None, earlier: int | None) -> float | None:
    return None if later is None or earlier is None else round((later - earlier) / 1e6, 3)


def burst(session: Session, workload: Workload, b: Burst, timeout: float, cpu_interval: float,
          say: Callable[[str], None]) -> dict:
    names = [pod_name(session.run_id, b.phase, i) for i in range(b.concurrency)]
    manifests = [pod_manifest(session, workload, b.handler, b.node, b.phase, i, ["now"])
                 for i in range(b.concurrency)]

    def progress(done: int) -> None:
        say(f"bench: {b.node} {b.handler} c={b.concurrency} round {b.round} {done}/{b.concurrency}")

    with Phase(session, b.phase, timeout) as phase, Sampler(lambda: session.summary(b.node), cpu_interval) as cpu:
        t0, refused = phase.create(manifests)
        if refused is None and not phase.follow(names, lambda pod: pod.finished_ns is not None, progress):
            phase.tracker.time_out(names, timeout, "finished")
    tracks = phase.tracker.pods
    logs: dict[str, str] = {}
    if any(tracks.get(n) and tracks[n].finished_ns for n in names):
        try:
            logs = session.logs(b.phase)
        except KubectlError as exc:
            say(f"bench: {b.phase}: logs unread ({exc})")
    left = session.delete_phase(b.phase, timeout)
    if left:
        say(f"bench: {left}")
    samples = []
    for index, name in enumerate(names):
        pod = tracks.get(name)
        line = logs.get(name, "")
        now = int(line) if line.isdigit() else None
        failure = refused or (pod.failure if pod else f"never seen within {timeout:.0f}s")
        samples.append({
            "pod": name, "node": b.node, "handler": b.handler, "concurrency": b.concurrency, "round": b.round,
            "index": index, "create_ns": t0, "seen_ns": pod and pod.seen_ns, "started_ns": pod and pod.started_ns,
            "finished_ns": pod and pod.finished_ns, "in_container_ns": now,
            "started_ms": _ms(pod and pod.started_ns, t0), "completed_ms": _ms(pod and pod.finished_ns, t0),
            "in_container_start_ms": _ms(now, t0), "ok": failure is None and bool(pod and pod.finished_ns),
            "failure": failure, "warnings": pod.warnings if pod else []})
    return {"phase": b.phase, "node": b.node, "handler": b.handler, "concurrency": b.concurrency, "round": b.round,
            "create_ns": t0, "samples": samples, "node_cpu": cpu_during(cpu.samples), "cpu_errors": cpu.errors}


def _dist_ms(values: list[float]) -> dict | None:
    """stats.distribution of millisecond figures, in ms (stats works in ns and gives us)."""
    if not values:
        return None
    us = stats.distribution([round(v * 1e6) for v in values])
    return {"n": us["n"], **{k: round(us[k] / 1000, 3) for k in stats.FIGURES}}


def summarize(samples: list[dict], same_clock: Callable[[str], bool]) -> list[dict]:
    """One row per (node, handler, concurrency): figures over the pods that completed,
    the failures with their reasons (counted), ``failed`` when any pod did not complete."""
    groups: dict[tuple, list[dict]] = {}
    for s in samples:
        groups.setdefault((s["node"], s["handler"], s["concurrency"]), []).append(s)
    rows = []
    for (node, handler, concurrency), group in groups.items():
        ok = [s for s in group if s["ok"]]
        reasons: dict[str, int] = {}
        for s in group:
            if not s["ok"]:
                reasons[s["failure"] or "unknown"] = reasons.get(s["failure"] or "unknown", 0) + 1
        first = min(group, key=lambda s: (s["round"], s["index"]))
        rows.append({
            "node": node, "handler": handler, "concurrency": concurrency, "pods": len(group), "completed": len(ok),
            "status": "ok" if len(ok) == len(group) else "failed", "failures": reasons,
            "started_ms": _dist_ms([s["started_ms"] for s in ok]),
            "completed_ms": _dist_ms([s["completed_ms"] for s in ok]),
            "in_container_start_ms": _dist_ms([s["in_container_start_ms"] for s in ok
                                               if s["in_container_start_ms"] is not None]),
            "in_container_clock": "server" if same_clock(node) else "node",
            "first_pod_started_ms": first["started_ms"] if first["ok"] else None})
    return rows


def clock_offsets(samples: list[dict]) -> dict[str, dict]:
    """Per node, the interval the node clock's offset from the server's must lie in, in ms:
    each container read its clock between the create and the completion the server saw,
    so offset >= now - completed and <= now - create, over every sample."""
    bounds: dict[str, list[float]] = {}
    for s in samples:
        if s["ok"] and s["in_container_ns"] is not None:
            lo, hi = s["in_container_ns"] - s["finished_ns"], s["in_container_ns"] - s["create_ns"]
            b = bounds.setdefault(s["node"], [lo, hi])
            b[0], b[1] = max(b[0], lo), min(b[1], hi)
    return {node: {"low_ms": round(lo / 1e6, 3), "high_ms": round(hi / 1e6, 3), "consistent": lo <= hi,
                   "zero_possible": lo <= 0 <= hi} for node, (lo, hi) in bounds.items()}
