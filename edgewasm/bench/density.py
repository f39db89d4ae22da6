"""Density: how many pods of one handler a node holds. Pods running ``sleep`` are added
``step`` at a time, bound to the node, until one of:

- ``not-ready``: a pod is not Ready within ``ready_timeout`` (the reason: its container's
  waiting reason, its exit, a fatal Warning event such as FailedCreatePodSandBox, or the
  kubelet refusing it: OutOfpods, OutOfmemory);
- ``memory-pressure``: the node reports its MemoryPressure condition True;
- ``density-max``: the operator's bound (--density-max) is reached;
- ``phase-timeout``: the phase's time is up.

After each step the kubelet's summary gives the curve's point (pods Ready, node working
set and available memory, the pods' working sets); at the end the pods' memory at rest
and their peak over every sample of the phase (edgewasm.bench.memory.per_pod).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from edgewasm.bench import memory
from edgewasm.bench.cluster import NAMESPACE, KubectlError, Session
from edgewasm.bench.pods import Phase, Workload, pod_manifest, pod_name

SETTLE_SAMPLES = 3  # summaries taken at rest, SETTLE_EVERY apart, once every pod is Ready
SETTLE_EVERY = 5.0


def memory_pressure(node: dict) -> str | None:
    """The MemoryPressure condition's message when it is True, else None."""
    for c in node.get("status", {}).get("conditions", []):
        if c.get("type") == "MemoryPressure" and c.get("status") == "True":
            return f"MemoryPressure: {c.get('message') or c.get('reason') or 'True'}"
    return None


def run(session: Session, workload: Workload, node: str, node_index: int, handler: str, max_pods: int, step: int,
        ready_timeout: float, timeout: float, say: Callable[[str], None],
        sleep: Callable[[float], None] = time.sleep) -> dict:
    phase_name = f"dn{node_index}-{handler}"
    prefix = pod_name(session.run_id, phase_name, 0)[:-1]
    args = ["sleep", str(workload.deadline)]
    curve: list[dict] = []
    pod_samples: list[dict[str, int]] = []
    bounded = {"by": "density-max", "detail": f"{max_pods} pods (--density-max)"}
    names: list[str] = []
    ready_ms: list[float] = []

    def sample() -> dict:
        summary = session.summary(node)
        pods = memory.pod_working_sets(summary, NAMESPACE, prefix)
        pod_samples.append(pods)
        return {**memory.node_figures(summary), "pods_measured": len(pods)}

    with Phase(session, phase_name, timeout) as phase:
        while len(names) < max_pods:
            batch = [pod_name(session.run_id, phase_name, i) for i in range(len(names), min(max_pods, len(names) + step))]
            t0, refused = phase.create([pod_manifest(session, workload, handler, node, phase_name,
                                                     int(n.rsplit("-", 1)[1]), args) for n in batch])
            if refused:
                bounded = {"by": "not-ready", "pod": batch[0], "detail": refused}
                break
            names += batch
            step_deadline = phase.clock() + ready_timeout
            saved, phase.deadline = phase.deadline, min(phase.deadline, step_deadline)
            all_ready = phase.follow(batch, lambda pod: pod.ready_ns is not None,
                                     lambda done: say(f"bench: {node} {handler} density {len(names) - len(batch) + done}"
                                                      f"/{max_pods}"))
            phase.deadline = saved
            if not all_ready:
                if phase.clock() >= saved:
                    bounded = {"by": "phase-timeout", "detail": f"phase time ({timeout:.0f}s) up at {len(names)} pods"}
                phase.tracker.time_out(batch, ready_timeout, "Ready")
            failed = next((n for n in batch if phase.tracker.pods.get(n) and phase.tracker.pods[n].failure), None)
            ready_ms += [(phase.tracker.pods[n].ready_ns - t0) / 1e6 for n in batch
                         if phase.tracker.pods.get(n) and phase.tracker.pods[n].ready_ns]
            if failed and bounded["by"] != "phase-timeout":
                bounded = {"by": "not-ready", "pod": failed, "detail": phase.tracker.pods[failed].failure}
            ready = sum(1 for n in names if phase.tracker.pods.get(n) and phase.tracker.pods[n].ready_ns
                        and not phase.tracker.pods[n].failure)
            try:
                curve.append({"pods_ready": ready, **sample()})
            except KubectlError as exc:
                curve.append({"pods_ready": ready, "error": str(exc)[:300]})
            if failed or not all_ready:
                break
            pressure = memory_pressure(session.json("get", "node", node))
            if pressure:
                bounded = {"by": "memory-pressure", "detail": pressure}
                break
        for _ in range(SETTLE_SAMPLES):
            sleep(SETTLE_EVERY)
            try:
                sample()
            except KubectlError:
                pass
    left = session.delete_phase(phase_name, timeout)
    if left:
        say(f"bench: {left}")
    ready = sum(1 for n in names if phase.tracker.pods.get(n) and phase.tracker.pods[n].ready_ns
                and not phase.tracker.pods[n].failure)
    return {"node": node, "handler": handler, "pods_ready": ready, "pods_created": len(names), "bounded_by": bounded,
            "curve": curve, "ready_ms": [round(v, 3) for v in ready_ms], "memory": memory.per_pod(pod_samples),
            "failures": {n: p.failure for n, p in phase.tracker.pods.items() if p.failure}}
