"""The project's image policies (the ConstraintTemplates' Rego, templates/policies/)
evaluated two ways on the inputs of edgewasm.bench.cases, measured, never assumed:

- ``rego``: OPA's own Go evaluator, by ``opa bench`` (the query prepared once, the input
  parsed once, the result not rendered; Go's testing harness picks the number of
  evaluations, about a second's worth). ``per_op_us`` is Go's ns/op (every evaluation
  timed); the distribution is OPA's ``timer_rego_query_eval_ns`` histogram, which keeps
  an exponentially decaying sample of 1028 evaluations (go-metrics), not all of them.
  Memory: Go's bytes and allocations per evaluation.
- ``wasm``: the same Rego compiled by ``opa build -t wasm`` and run in Wasmtime from
  Python by our runner (edgewasm.bench.opa_wasm): one ``opa_eval`` per evaluation, which
  parses the input JSON, evaluates and dumps the result as JSON (what a host with a
  fresh admission request does), plus the host's steps around it (input written into the
  module's memory, the result read back).
- ``wasm_eval_only``: the same module with the input parsed once and the result left
  in place: one ``eval`` export call, the closest to what ``opa bench`` times.

Each Wasm figure is given raw (measured from Python with perf_counter_ns around the
call, Python's garbage collector off) and with the median of an empty call taken off
(the same host steps with the cheapest export instead of OPA's work, measured in the
same way): the raw figure is what a Python host pays, the other an estimate of the
engine's own time. Before timing, each engine's violations are compared with the other
engine's and with what the case expects; a failed engine reports its error, no figures.
"""

from __future__ import annotations

import datetime
import gc
import importlib.metadata
import json
import os
import platform
import re
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import yaml

from edgewasm.bench import stats
from edgewasm.bench.cases import POLICIES, Case, cases as default_cases
from edgewasm.bench.opa_wasm import OpaWasmError, OpaWasmPolicy
from edgewasm.policy import POLICY_TEMPLATES

# Gatekeeper templates are written in Rego v0 and Gatekeeper evaluates them so; OPA 1.x
# reads v1 unless told.
V0 = "--v0-compatible"
# Built-ins the host provides to the Wasm modules (opa_builtinN). OPA compiles every one
# the image policies use (concat, startswith, endswith, contains, trim_prefix, split,
# count, regex.match) into the module itself, so none is needed; a module that asks for
# one is refused at load (OpaWasmPolicy), never half-evaluated.
HOST_BUILTINS: dict[str, Callable] = {}


class BenchError(RuntimeError):
    """OPA could not compile or evaluate a policy."""


def rego(policy: str) -> str:
    """The template's own Rego, as Gatekeeper receives it."""
    path = next(p for p in POLICY_TEMPLATES if p.stem == policy)
    return yaml.safe_load(path.read_text())["spec"]["targets"][0]["rego"]


def _opa(opa: Path, *args: str, timeout: int = 300) -> str:
    done = subprocess.run([str(opa), *args], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise BenchError(f"opa {args[0]} failed (exit {done.returncode}): {(done.stderr or done.stdout).strip()[-800:]}")
    return done.stdout


def compile_wasm(opa: Path, rego_file: Path, entrypoint: str, workdir: Path) -> bytes:
    """``opa build -t wasm``'s module for ``entrypoint`` (``pkg/rule``)."""
    bundle = workdir / f"{rego_file.stem}.tar.gz"
    _opa(opa, "build", V0, "-t", "wasm", "-e", entrypoint, "-o", str(bundle), str(rego_file))
    with tarfile.open(bundle) as tar:
        member = next(m for m in tar.getmembers() if m.name.lstrip("/") == "policy.wasm")
        return tar.extractfile(member).read()


def rego_violations(opa: Path, rego_file: Path, input_file: Path, policy: str) -> list[str]:
    out = json.loads(_opa(opa, "eval", V0, "--format", "json", "-d", str(rego_file), "-i", str(input_file),
                          f"data.{policy}.violation"))
    return sorted(v["msg"] for v in out["result"][0]["expressions"][0]["value"])


def rego_bench(opa: Path, rego_file: Path, input_file: Path, policy: str) -> dict:
    """``opa bench``'s figures, in microseconds."""
    out = json.loads(_opa(opa, "bench", V0, "--format", "json", "--benchmem", "--metrics", "-d", str(rego_file),
                          "-i", str(input_file), f"data.{policy}.violation", timeout=600))
    n, extra = out["N"], out["Extra"]
    hist = "histogram_timer_rego_query_eval_ns_"
    ns = {"p50": extra[hist + "median"], "p95": extra[hist + "95%"], "p99": extra[hist + "99%"],
          "mean": extra[hist + "mean"], "min": extra[hist + "min"], "max": extra[hist + "max"]}
    return {"ok": True, "n": n, "per_op_us": round(out["T"] / n / 1000, 3),
            "distribution_us": {"n_sampled": min(n, 1028), **{k: round(v / 1000, 3) for k, v in ns.items()}},
            "memory": {"bytes_per_op": round(out["MemBytes"] / n), "allocs_per_op": round(out["MemAllocs"] / n)}}


def _timed(step: Callable[[], object], iterations: int, before: Callable[[], object] | None = None) -> list[int]:
    """Nanoseconds of each of ``iterations`` calls of ``step`` (``before`` runs untimed)."""
    samples, clock = [], time.perf_counter_ns
    for _ in range(iterations):
        if before:
            before()
        start = clock()
        step()
        samples.append(clock() - start)
    return samples


def wasm_bench(module: OpaWasmPolicy, entrypoint: str, value: object, iterations: int, warmup: int) -> dict:
    """Both Wasm measurements of one module and input (see the module's docstring)."""
    ep = module.entrypoint_id(entrypoint)
    raw = json.dumps(value).encode()
    gc_was = gc.isenabled()
    gc.disable()  # Python's collector is the host's noise, not the engine's
    try:
        for _ in range(warmup):
            module.eval_json(ep, raw)
            module.eval_json(ep, raw, empty=True)
        full = _timed(lambda: module.eval_json(ep, raw), iterations)
        full_empty = _timed(lambda: module.eval_json(ep, raw, empty=True), iterations)
        # Prepared only now: eval_json writes its input where a prepared context lives.
        prepared = module.prepare(entrypoint, value)
        module.run_prepared(prepared)
        eval_only_heap = module.empty_call() - prepared.heap_after_input
        for _ in range(warmup):
            module.reset(prepared)
            module.run_prepared(prepared)
        only = _timed(lambda: module.run_prepared(prepared), iterations, lambda: module.reset(prepared))
        only_empty = _timed(lambda: module.empty_call(), iterations)
    finally:
        if gc_was:
            gc.enable()
    memory = {"linear_memory_pages": module.memory_pages(), "linear_memory_bytes": module.memory_pages() * 65536,
              "static_heap_bytes": module.base_heap}
    rows = {}
    for name, samples, empty, heap in (("wasm", full, full_empty, module.max_heap_used),
                                       ("wasm_eval_only", only, only_empty, eval_only_heap)):
        raw_figures, overhead = stats.distribution(samples), stats.distribution(empty)
        rows[name] = {"ok": True, "raw_us": raw_figures, "empty_call_us": overhead,
                      "minus_empty_call_us": stats.minus(raw_figures, overhead["p50"]),
                      "memory": {**memory, "heap_bytes_per_eval": heap}}
    return rows


def _failed(error: Exception) -> dict:
    return {"ok": False, "error": f"{type(error).__name__}: {error}"}


def _wasm_violations(module: OpaWasmPolicy, entrypoint: str, value: object) -> list[str]:
    results = module.evaluate(entrypoint, value)
    if len(results) != 1:
        raise OpaWasmError(f"expected one result, got {results!r}")
    return sorted(v["msg"] for v in results[0]["result"])


def run_case(opa: Path, case: Case, policy: str, wasm: bytes, workdir: Path, iterations: int, warmup: int) -> dict:
    rego_file, input_file = workdir / f"{policy}.rego", workdir / f"{case.name}-{policy}.json"
    value = case.input(policy)
    input_file.write_text(json.dumps(value))
    entrypoint = f"{policy}/violation"
    found, engines = {}, {}
    try:
        found["rego"] = rego_violations(opa, rego_file, input_file, policy)
        engines["rego"] = rego_bench(opa, rego_file, input_file, policy)
    except BenchError as e:
        engines["rego"] = _failed(e)
    try:
        module = OpaWasmPolicy(wasm, HOST_BUILTINS)
        found["wasm"] = _wasm_violations(module, entrypoint, value)
        engines.update(wasm_bench(module, entrypoint, value, iterations, warmup))
    except OpaWasmError as e:
        engines["wasm"] = engines["wasm_eval_only"] = _failed(e)
    counts = {engine: len(v) for engine, v in found.items()}
    agree = len(found) == 2 and found["rego"] == found["wasm"] and set(counts.values()) == {case.expected[policy]}
    row = {"expected_violations": case.expected[policy], "violations": counts, "agree": agree, "engines": engines}
    if not agree:
        row["messages"] = found
    return row


def hardware() -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    cores = {(m.group(1), c.group(1)) for m, c in zip(re.finditer(r"^physical id\s*:\s*(\d+)", cpuinfo, re.M),
                                                        re.finditer(r"^core id\s*:\s*(\d+)", cpuinfo, re.M))}
    return {"cpu_model": model.group(1).strip() if model else platform.processor(),
            "logical_cpus": len(re.findall(r"^processor\s*:", cpuinfo, re.M)) or os.cpu_count(),
            "physical_cores": len(cores) or None, "machine": platform.machine()}


def versions(opa: Path) -> dict:
    out = _opa(opa, "version")
    return {"opa": re.search(r"^Version:\s*(\S+)", out, re.M).group(1),
            "opa_wasm_runtime": re.search(r"^WebAssembly:\s*(.+)$", out, re.M).group(1).strip(),
            "wasmtime_python": importlib.metadata.version("wasmtime"), "python": platform.python_version()}


def run(opa: Path, iterations: int, warmup: int = 200, cases: list[Case] | None = None,
        modules: Mapping[str, bytes] | None = None) -> dict:
    """Measure every policy on every case; JSON-able. ``modules``: a Wasm module per policy
    instead of compiling the template (a test gives a broken one); ``ok`` is False when
    an engine failed or the engines disagree."""
    chosen = cases if cases is not None else default_cases()
    result = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "versions": versions(opa), "hardware": hardware(), "iterations": iterations, "warmup": warmup,
              "host_builtins": sorted(HOST_BUILTINS), "cases": {}}
    with tempfile.TemporaryDirectory(prefix="edgewasm-bench-") as tmp:
        workdir = Path(tmp)
        wasm = {}
        for policy in POLICIES:
            (workdir / f"{policy}.rego").write_text(rego(policy))
            if modules and policy in modules:
                wasm[policy] = modules[policy]
            else:
                wasm[policy] = compile_wasm(opa, workdir / f"{policy}.rego", f"{policy}/violation", workdir)
        for case in chosen:
            result["cases"][case.name] = {
                "containers": case.count(), "input_bytes": {p: len(json.dumps(case.input(p))) for p in POLICIES},
                "policies": {p: run_case(opa, case, p, wasm[p], workdir, iterations, warmup) for p in POLICIES}}
    rows = [r for c in result["cases"].values() for r in c["policies"].values()]
    result["ok"] = all(r["agree"] and all(e["ok"] for e in r["engines"].values()) for r in rows)
    return result


def table(result: dict) -> str:
    """The result as a plain-text table, microseconds per evaluation."""
    head = (f"{'case':8} {'policy':18} {'engine':15} {'n':>7} {'p50':>9} {'p95':>9} {'p99':>9} {'mean':>9} "
            f"{'min':>9} {'max':>9}  memory")
    lines = [head]
    for case, c in result["cases"].items():
        for policy, row in c["policies"].items():
            for engine, e in row["engines"].items():
                if not e["ok"]:
                    lines.append(f"{case:8} {policy:18} {engine:15} FAILED: {e['error']}")
                    continue
                if engine == "rego":
                    figs = [e["distribution_us"]]
                    mem = f"{e['memory']['bytes_per_op']} B/op, {e['memory']['allocs_per_op']} allocs/op; ns/op mean {e['per_op_us']} us"
                    labels = [engine]
                    n = [e["n"]]
                else:
                    figs = [e["raw_us"], e["minus_empty_call_us"]]
                    m = e["memory"]
                    mem = f"{m['linear_memory_pages']} pages, heap {m['heap_bytes_per_eval']} B/eval"
                    labels = [engine, "  - empty call"]
                    n = [e["raw_us"]["n"]] * 2
                for label, f, count in zip(labels, figs, n):
                    lines.append(f"{case:8} {policy:18} {label:15} {count:>7} " + " ".join(
                        f"{f[k]:>9.1f}" for k in stats.FIGURES) + f"  {mem if label == engine else ''}")
            lines.append(f"{'':8} {policy:18} violations {row['violations']} expected {row['expected_violations']}: "
                         f"{'agree' if row['agree'] else 'DISAGREE'}")
    return "\n".join(lines)
