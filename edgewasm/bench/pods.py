"""The bench's pods (rendered from templates/bench/pod.yaml.j2) and one phase of them: a
watch started and proven live, the pods created, their events followed until a condition
holds or the phase's time is up.

A watch lists before it watches, and every object created after its list is delivered;
the run's sentinel (a pod held by a scheduling gate: never scheduled, never run) is in
every phase's selector, so its line proves the list is done before anything is created.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from edgewasm.bench.cluster import NAMESPACE, SENTINEL_PHASE, KubectlError, Session, pod_prefix
from edgewasm.bench.watch import Tracker
from edgewasm.templates import render
from edgewasm.wasm import CRUN_WASM, runtime_class_name

RUNC = "runc"
WASM_HANDLERS = ("wasmtime", "wasmedge", CRUN_WASM)
HANDLERS = (*WASM_HANDLERS, RUNC)
SENTINEL_WAIT = 60
WARNINGS_EVERY = 3.0


class BenchError(RuntimeError):
    """The bench cannot go on (a watch that never started, a cluster that stopped answering)."""


@dataclass(frozen=True)
class Workload:
    wasm_image: str
    native_image: str
    deadline: int  # activeDeadlineSeconds: every pod ends by itself, whatever happens to the bench
    cpu_request: str = "10m"
    memory_request: str = "16Mi"
    memory_limit: str = "128Mi"

    def image(self, handler: str) -> str:
        return self.native_image if handler == RUNC else self.wasm_image


def pod_name(run_id: str, phase: str, index: int) -> str:
    return f"{pod_prefix(run_id)}{phase}-{index}"


def pod_manifest(session: Session, workload: Workload, handler: str, node: str, phase: str, index: int,
                 args: list[str], env: dict[str, str] | None = None, podinfo: str | None = None,
                 memory_limit: str | None = None) -> str:
    """``env``: the container's environment; ``podinfo``: where a downward API volume with
    the pod's name (file ``name``) is mounted; ``memory_limit``: instead of the workload's."""
    return render("bench/pod.yaml.j2", name=pod_name(session.run_id, phase, index), namespace=NAMESPACE,
                  labels=session.labels(phase), crun=handler == CRUN_WASM,
                  runtime_class=None if handler == RUNC else runtime_class_name(handler), node=node, gated=False,
                  deadline=workload.deadline, image=workload.image(handler), args=args, env=env, podinfo=podinfo,
                  cpu_request=workload.cpu_request, memory_request=workload.memory_request,
                  memory_limit=memory_limit or workload.memory_limit)


def sentinel_manifest(session: Session, workload: Workload) -> str:
    return render("bench/pod.yaml.j2", name=f"{pod_prefix(session.run_id)}{SENTINEL_PHASE}", namespace=NAMESPACE,
                  labels=session.labels(SENTINEL_PHASE), crun=False, runtime_class=None, node=None, gated=True,
                  deadline=workload.deadline, image=workload.wasm_image, args=["sleep", "1"], env=None, podinfo=None,
                  cpu_request=workload.cpu_request, memory_request=workload.memory_request,
                  memory_limit=workload.memory_limit)


class Phase:
    """``with Phase(session, "cs0-wasmtime-c10-r1", timeout) as p: t0 = p.create(...)``."""

    def __init__(self, session: Session, phase: str, timeout: float, clock: Callable[[], float] = time.monotonic):
        self.session, self.phase, self.timeout, self.clock = session, phase, timeout, clock
        self.tracker = Tracker(pod_name(session.run_id, phase, 0)[:-1])
        self.stream = None
        self._warned = 0.0

    def __enter__(self) -> "Phase":
        self.stream = self.session.watch(self.phase, self.timeout + SENTINEL_WAIT + 60)
        deadline = self.clock() + SENTINEL_WAIT
        while not self.tracker.sentinel_seen:
            if self.clock() > deadline:
                self.close()
                raise BenchError(f"the pod watch on the server showed nothing within {SENTINEL_WAIT}s "
                                 f"(phase {self.phase}); is the API server answering?")
            self.tracker.feed(self.stream.lines(1.0))
        self.deadline = self.clock() + self.timeout
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None
        if self.tracker.pid:
            self.session.stop(self.tracker.pid)

    def create(self, manifests: list[str]) -> tuple[int | None, str | None]:
        """(server ns before the create, None) or (None, why kubectl refused them)."""
        try:
            return self.session.create(manifests), None
        except KubectlError as exc:
            return None, f"kubectl create refused the pods: {exc}"

    def follow(self, names: list[str], reached: Callable, progress: Callable[[int], None] | None = None) -> bool:
        """Feed events until ``reached(pod)`` or a failure holds for every pod of ``names``,
        or the phase's time is up (False); Warning events read every few seconds."""
        shown = -1
        while True:
            done = sum(1 for n in names if n in self.tracker.pods and
                       (reached(self.tracker.pods[n]) or self.tracker.pods[n].failure))
            if progress and done != shown:
                shown = done
                progress(done)
            if done == len(names):
                return True
            if self.clock() > self.deadline:
                return False
            self.tracker.feed(self.stream.lines(0.5))
            if self.clock() - self._warned > WARNINGS_EVERY:
                self._warned = self.clock()
                try:
                    self.tracker.warn(self.session.warnings())
                except KubectlError:
                    pass  # events are a help for the reason, not the measurement
