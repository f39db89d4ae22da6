"""What the watch lines of edgewasm.bench.cluster say about each pod, on the server's clock.

A line is ``<server ns> <name>␟<phase>␟<reason>␟<deletion>␟<conditions>␟<containerStatuses>``
(␟: cluster.FIELD_SEP)
(the last two JSON), or ``<server ns> @pid <n>``. Each pod gets the stamp of the first
event that shows it (``seen``), that shows its container started (running, or already
terminated: a short pod may never be seen running), that shows it Ready, and that shows
it finished (Succeeded or Failed); a pod that cannot run gets the reason (its container's
waiting reason, its exit, the kubelet's status reason, or a Warning event of the kinds
that do not heal by waiting).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from edgewasm.bench.cluster import FIELD_SEP, SENTINEL_PHASE

# A container waiting for one of these will not start by waiting longer.
FATAL_WAITING = frozenset({"ErrImageNeverPull", "ErrImagePull", "ImagePullBackOff", "InvalidImageName",
                           "ImageInspectError", "CreateContainerError", "CreateContainerConfigError",
                           "RunContainerError", "StartError", "CrashLoopBackOff"})
# Warning events that mean the pod will not run: no sandbox for the handler ("no runtime
# for ... is configured"), an image kubelet may not pull, a container that failed.
FATAL_EVENTS = ("FailedCreatePodSandBox", "ErrImageNeverPull", "InspectFailed", "Failed", "OutOfmemory",
                "OutOfpods", "OutOfcpu", "UnexpectedAdmissionError")


@dataclass
class PodTrack:
    name: str
    seen_ns: int | None = None
    started_ns: int | None = None
    ready_ns: int | None = None
    finished_ns: int | None = None
    phase: str = ""
    waiting: str = ""  # the container's last waiting reason, for a timeout's message
    failure: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.finished_ns is not None or self.failure is not None


def parse(line: str) -> tuple[int, list[str]] | None:
    """(server ns, fields) of a watch line, or None for anything else."""
    stamp, _, rest = line.partition(" ")
    if not stamp.isdigit() or not rest:
        return None
    return int(stamp), rest.split(FIELD_SEP)


def _json(text: str):
    try:
        return json.loads(text) if text else []
    except ValueError:
        return []


def _exit(status: dict) -> str:
    term = status.get("state", {}).get("terminated") or status.get("lastState", {}).get("terminated") or {}
    why = term.get("reason") or "terminated"
    message = (term.get("message") or "").strip()
    return f"exit {term.get('exitCode')} ({why}){': ' + message if message else ''}"


class Tracker:
    """Every pod of one phase, fed watch lines as they come."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.pods: dict[str, PodTrack] = {}
        self.sentinel_seen = False
        self.pid: int | None = None

    def feed(self, lines: list[str]) -> None:
        for line in lines:
            parsed = parse(line)
            if parsed is None:
                continue
            stamp, fields = parsed
            if fields[0].startswith("@pid "):
                self.pid = int(fields[0].split()[1])
            elif SENTINEL_PHASE in fields[0]:
                self.sentinel_seen = True
            elif fields[0].startswith(self.prefix) and len(fields) >= 6:
                self.event(stamp, *fields[:6])

    def event(self, stamp: int, name: str, phase: str, reason: str, deleting: str, conditions: str,
              statuses: str) -> None:
        pod = self.pods.setdefault(name, PodTrack(name))
        pod.phase = phase
        if pod.seen_ns is None:
            pod.seen_ns = stamp
        containers = _json(statuses)
        for status in containers:
            state = status.get("state", {})
            if (state.get("running") or state.get("terminated")) and pod.started_ns is None:
                pod.started_ns = stamp
            waiting = state.get("waiting") or {}
            if waiting.get("reason"):
                pod.waiting = f"{waiting['reason']}: {(waiting.get('message') or '').strip()}".rstrip(": ")
                if waiting["reason"] in FATAL_WAITING and pod.failure is None:
                    pod.failure = pod.waiting
            if state.get("terminated") and state["terminated"].get("exitCode") not in (0, None) \
                    and pod.failure is None:
                pod.failure = _exit(status)
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in _json(conditions)) \
                and pod.ready_ns is None:
            pod.ready_ns = stamp
        if phase == "Succeeded" and pod.finished_ns is None:
            pod.finished_ns = stamp
            if pod.started_ns is None:
                pod.started_ns = stamp
        if phase == "Failed" and pod.failure is None:
            pod.failure = (reason and f"pod {reason}") or next((_exit(s) for s in containers), "pod Failed")
        if deleting and not pod.done:
            pod.failure = "deleted before it finished"

    def warn(self, warnings: dict[str, list[str]]) -> None:
        """Warning events by pod (Session.warnings): kept, and the fatal ones fail the pod."""
        for name, found in warnings.items():
            if not name.startswith(self.prefix):
                continue  # another phase's pod (events outlive their pods)
            pod = self.pods.setdefault(name, PodTrack(name))
            pod.warnings = list(dict.fromkeys(found))
            fatal = next((w for w in pod.warnings if w.split(":", 1)[0] in FATAL_EVENTS), None)
            if fatal and pod.failure is None and pod.finished_ns is None and pod.ready_ns is None:
                pod.failure = fatal

    def time_out(self, names: list[str], seconds: float, what: str) -> None:
        """Pods of ``names`` not ``what`` (finished / Ready) in time: failed, with what is known."""
        for name in names:
            pod = self.pods.setdefault(name, PodTrack(name))
            reached = pod.finished_ns if what == "finished" else pod.ready_ns
            if reached is None and pod.failure is None:
                known = "; ".join(x for x in [pod.waiting, *pod.warnings] if x) or f"phase {pod.phase or 'unseen'}"
                pod.failure = f"not {what} within {seconds:.0f}s ({known})"
