"""Handler conformance: does a Wasm workload behave under a handler as the same workload
does in a container under runc? One pod per case, all of a (node, handler) at once, the
bench images' subcommands (edgewasm/bench.wat, edgewasm/bench.sh) doing the same on both
sides, judged from what Kubernetes shows: the pod's phase, its container's exit status
and reason, and ``kubectl logs``.

runc runs the very cases with bench-native: a case runc fails is a fault of the case or
the cluster, not of a Wasm handler, and the table shows it as such.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from edgewasm.bench.cluster import KubectlError, Session
from edgewasm.bench.pods import Phase, Workload, pod_manifest, pod_name

ENV_NAME, ENV_VALUE = "EDGEWASM_CONFORMANCE", "set in the pod spec"
ARGS = ("two words", "--flag=x", "ünïcode", "")
PODINFO = "/etc/podinfo"
LIMIT = "128Mi"
LOG_SETTLE = 5  # seconds: containerd copies a container's output after it reports the exit


@dataclass(frozen=True)
class Observed:
    phase: str
    exit_code: int | None
    reason: str
    lines: list[str]


@dataclass(frozen=True)
class Case:
    name: str
    what: str  # what Kubernetes must show, as the table says it
    args: tuple[str, ...]
    judge: Callable[[Observed, str], str | None]  # (observed, pod name) -> the problem, or None
    env: dict[str, str] = field(default_factory=dict)
    podinfo: bool = False
    memory_limit: str | None = None
    needs_logs: bool = True


def _succeeded_with(lines: Callable[[str], list[str]]):
    def judge(o: Observed, pod: str) -> str | None:
        if o.phase != "Succeeded" or o.exit_code != 0:
            return f"phase {o.phase or '?'}, exit {o.exit_code} ({o.reason or 'no reason'}); want Succeeded, exit 0"
        want = lines(pod)
        return None if o.lines == want else f"logs {o.lines!r}; want {want!r}"
    return judge


def _exit_status(o: Observed, pod: str) -> str | None:
    if o.phase == "Failed" and o.exit_code == 3:
        return None
    return f"phase {o.phase or '?'}, exit {o.exit_code} ({o.reason or 'no reason'}); want Failed, exit 3"


def _limit_enforced(o: Observed, pod: str) -> str | None:
    if o.phase == "Succeeded" or any(line.startswith("allocated ") for line in o.lines):
        return f"phase {o.phase}, logs {o.lines!r}: 512 MiB held under a {LIMIT} limit"
    if o.phase != "Failed":
        return f"phase {o.phase or '?'}; want Failed (the limit's OOM kill, or the runtime refusing the memory)"
    return None


CASES = (
    Case("stdout", "stdout in kubectl logs", ("stdout", "conformance: stdout"),
         _succeeded_with(lambda pod: ["conformance: stdout"])),
    Case("stderr", "stderr in kubectl logs", ("stderr", "conformance: stderr"),
         _succeeded_with(lambda pod: ["conformance: stderr"])),
    Case("exit-status", "exit 3: pod Failed, exit code 3", ("exit", "3"), _exit_status, needs_logs=False),
    Case("args", "args, as given", ("args", *ARGS), _succeeded_with(lambda pod: list(ARGS))),
    Case("env", "env from the pod spec", ("env", ENV_NAME), _succeeded_with(lambda pod: [ENV_VALUE]),
         env={ENV_NAME: ENV_VALUE}),
    Case("volume", "a mounted volume (downward API) readable", ("cat", f"{PODINFO}/name"),
         _succeeded_with(lambda pod: [pod]), podinfo=True),
    Case("memory-within", f"32 MiB under a {LIMIT} limit: runs", ("alloc", "32"),
         _succeeded_with(lambda pod: ["allocated 32 MiB"]), memory_limit=LIMIT),
    Case("memory-limit", f"512 MiB over a {LIMIT} limit: stopped", ("alloc", "512"), _limit_enforced,
         memory_limit=LIMIT, needs_logs=False),
)


def observe(pod: dict | None, lines: list[str]) -> Observed:
    if pod is None:
        return Observed("", None, "pod gone", lines)
    status = pod.get("status", {})
    statuses = status.get("containerStatuses") or [{}]
    state = statuses[0].get("state", {})
    term = state.get("terminated") or {}
    reason = term.get("reason") or (state.get("waiting") or {}).get("reason") or status.get("reason") or ""
    return Observed(status.get("phase", ""), term.get("exitCode"), reason, lines)


def _lines(session: Session, pod: str) -> list[str]:
    """The pod's log lines; none for a pod whose container never started (kubectl refuses)."""
    try:
        return session.log(pod).splitlines()
    except KubectlError:
        return []


def run(session: Session, workload: Workload, node: str, node_index: int, handler: str, timeout: float,
        say: Callable[[str], None], sleep: Callable[[float], None] = time.sleep) -> list[dict]:
    """One row per case: ok, the problem (None when it conforms), what was observed."""
    phase_name = f"cf{node_index}-{handler}"
    names = [pod_name(session.run_id, phase_name, i) for i in range(len(CASES))]
    manifests = [pod_manifest(session, workload, handler, node, phase_name, i, list(c.args), env=c.env or None,
                              podinfo=PODINFO if c.podinfo else None, memory_limit=c.memory_limit)
                 for i, c in enumerate(CASES)]
    with Phase(session, phase_name, timeout) as phase:
        _, refused = phase.create(manifests)
        if refused is None:
            phase.follow(names, lambda pod: pod.phase in ("Succeeded", "Failed"),
                         lambda done: say(f"bench: {node} {handler} conformance {done}/{len(names)}"))
    rows = []
    try:
        pods = {} if refused else session.pods(phase_name)
        output = {n: _lines(session, n) for n in pods}
        late = [n for c, n in zip(CASES, names) if c.needs_logs and n in pods and not output[n]]
        if late:
            sleep(LOG_SETTLE)
            output.update({n: _lines(session, n) for n in late})
    except KubectlError as exc:
        pods, output, refused = {}, {}, f"pods unread: {exc}"
    for case, name in zip(CASES, names):
        observed = observe(pods.get(name), output.get(name, []))
        problem = refused or case.judge(observed, name)
        if problem and not refused and phase.tracker.pods.get(name) and not observed.phase:
            problem = phase.tracker.pods[name].failure or problem
        rows.append({"node": node, "handler": handler, "case": case.name, "what": case.what, "ok": problem is None,
                     "problem": problem, "phase": observed.phase, "exit_code": observed.exit_code,
                     "reason": observed.reason, "logs": observed.lines[:5]})
    left = session.delete_phase(phase_name, timeout)
    if left:
        say(f"bench: {left}")
    return rows


def table(rows: list[dict]) -> list[dict]:
    """The conformance table: one row per case, {node/handler: "ok" | problem}."""
    columns = list(dict.fromkeys(f"{r['node']}/{r['handler']}" for r in rows))
    by_case: dict[str, dict] = {}
    for r in rows:
        entry = by_case.setdefault(r["case"], {"case": r["case"], "what": r["what"], **{c: None for c in columns}})
        entry[f"{r['node']}/{r['handler']}"] = "ok" if r["ok"] else r["problem"]
    return list(by_case.values())
