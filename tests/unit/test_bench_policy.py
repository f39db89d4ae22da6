"""edgewasm.bench.policy: the figures are computed right (a known sample), the inputs say
what they claim, Rego (OPA) and its Wasm compilation (our runner on Wasmtime) find the
same violations on every case, and a broken Wasm module shows as failed, never as fast.
The tests that need OPA get it as the other tests do (tests/fixtures/gotools.py: skipped
where it is not built, failed under ./run test)."""

import json
from pathlib import Path

import pytest
import wasmtime

from edgewasm.bench import cases, policy, stats
from edgewasm.bench.opa_wasm import OpaWasmError, OpaWasmPolicy
from tests.fixtures import gotools

# ------------------------------------------------------------------ without OPA


def test_distribution_of_a_known_sample():
    figures = stats.distribution([n * 1000 for n in range(100, 0, -1)])  # 1..100 us, shuffled order
    assert figures == {"n": 100, "p50": 50, "p95": 95, "p99": 99, "mean": 50.5, "min": 1, "max": 100}


def test_percentiles_are_nearest_rank_samples():
    assert [stats.percentile([10, 20, 30, 40], q) for q in (0, 25, 50, 51, 99, 100)] == [10, 10, 20, 30, 40, 40]
    assert stats.distribution([7000])["p99"] == 7
    with pytest.raises(ValueError):
        stats.percentile([], 50)


def test_overhead_is_taken_off_every_figure_never_below_zero():
    figures = {"n": 3, "p50": 10.0, "p95": 12.0, "p99": 13.0, "mean": 11.0, "min": 2.0, "max": 20.0}
    assert stats.minus(figures, 3.0) == {"n": 3, "p50": 7.0, "p95": 9.0, "p99": 10.0, "mean": 8.0, "min": 0.0,
                                         "max": 17.0}


def test_cases_expect_what_they_are_built_with():
    found = {c.name: c for c in cases.cases()}
    assert [(c.count(), c.expected) for c in found.values()] == [
        (1, {"k8sallowedrepos": 0, "k8sdisallowedtags": 0}),
        (7, {"k8sallowedrepos": 2, "k8sdisallowedtags": 2}),
        (50, {"k8sallowedrepos": 5, "k8sdisallowedtags": 8})]
    spec = found["complex"].pod()["spec"]
    assert {k: len(v) for k, v in spec.items()} == {"containers": 30, "initContainers": 10, "ephemeralContainers": 10}
    assert len(found["complex"].parameters()["k8sallowedrepos"]["repos"]) == 20
    assert "initContainers" in found["medium"].pod()["spec"]


def test_input_is_gatekeepers_shape_with_the_rendered_constraint_parameters():
    case = cases.medium()
    value = case.input("k8sdisallowedtags")
    assert value["review"]["object"] == case.pod()
    assert value["review"]["operation"] == "CREATE"
    assert value["parameters"] == {"tags": ["latest", "dev"]}
    assert cases.simple().input("k8sallowedrepos")["parameters"] == {"repos": ["registry.site-a.example"]}
    # The default disallowed tag comes from the project's settings, as the deploy renders it.
    assert cases.simple().parameters()["k8sdisallowedtags"] == {"tags": ["latest"]}


def test_the_runner_refuses_what_is_not_an_opa_module():
    with pytest.raises(OpaWasmError, match="not a Wasm module"):
        OpaWasmPolicy(b"not wasm")
    with pytest.raises(OpaWasmError, match="no env.memory"):
        OpaWasmPolicy(wasmtime.wat2wasm("(module)"))
    with pytest.raises(OpaWasmError, match="no export opa_eval"):
        OpaWasmPolicy(wasmtime.wat2wasm('(module (import "env" "memory" (memory 1)))'))


def test_the_table_shows_a_failed_engine_as_failed():
    row = {"expected_violations": 1, "violations": {"rego": 1}, "agree": False,
           "engines": {"wasm": {"ok": False, "error": "OpaWasmError: no entrypoint"}}}
    text = policy.table({"cases": {"simple": {"policies": {"k8sallowedrepos": row}}}})
    assert "FAILED: OpaWasmError: no entrypoint" in text and "DISAGREE" in text

# ------------------------------------------------------------------ with the built OPA


@pytest.fixture(scope="module")
def opa():
    return Path(gotools.need("opa"))


@pytest.fixture(scope="module")
def modules(opa, tmp_path_factory):
    """Each template's Rego and ``opa build -t wasm``'s module of it."""
    out = tmp_path_factory.mktemp("bench")
    built = {}
    for name in cases.POLICIES:
        (out / f"{name}.rego").write_text(policy.rego(name))
        built[name] = policy.compile_wasm(opa, out / f"{name}.rego", f"{name}/violation", out)
    return out, built


@pytest.mark.parametrize("case", cases.cases(), ids=lambda c: c.name)
@pytest.mark.parametrize("name", cases.POLICIES)
def test_rego_and_wasm_find_the_same_violations(opa, modules, case, name):
    workdir, built = modules
    value = case.input(name)
    (workdir / "input.json").write_text(json.dumps(value))
    on_rego = policy.rego_violations(opa, workdir / f"{name}.rego", workdir / "input.json", name)
    module = OpaWasmPolicy(built[name], policy.HOST_BUILTINS)
    on_wasm = sorted(v["msg"] for v in module.evaluate(f"{name}/violation", value)[0]["result"])
    assert on_wasm == on_rego
    assert len(on_rego) == case.expected[name]


def test_an_untrusted_image_is_a_violation_on_both_engines(opa, modules):
    workdir, built = modules
    case = cases.Case("untrusted", {"policy_allowed_repos": ["registry.site-a.example"]})
    case.add("containers", "app", "registry.site-a.example-evil.io/app:latest")
    for name in cases.POLICIES:
        (workdir / "input.json").write_text(json.dumps(case.input(name)))
        on_rego = policy.rego_violations(opa, workdir / f"{name}.rego", workdir / "input.json", name)
        on_wasm = OpaWasmPolicy(built[name]).evaluate(f"{name}/violation", case.input(name))[0]["result"]
        assert len(on_rego) == 1 and sorted(v["msg"] for v in on_wasm) == on_rego


def test_the_policies_need_no_host_builtins(modules):
    """Every built-in the templates use is compiled into the module by OPA."""
    assert all(OpaWasmPolicy(w).builtin_ids == {} for w in modules[1].values())


def test_host_builtins_are_called_and_a_missing_one_refused(opa, tmp_path):
    """sprintf is not in OPA's Wasm library (the templates use concat for that reason)."""
    (tmp_path / "t.rego").write_text('package t\n\nx := sprintf("%s-%d", [input.a, count(input.b)])\n\ny := time.now_ns()\n')
    wasm = policy.compile_wasm(opa, tmp_path / "t.rego", "t/x", tmp_path)
    with pytest.raises(OpaWasmError, match="does not provide: sprintf"):
        OpaWasmPolicy(wasm)
    calls = []
    module = OpaWasmPolicy(wasm, {"sprintf": lambda fmt, args: calls.append((fmt, args)) or "q-2",
                                  "time.now_ns": lambda: 0})
    assert module.evaluate("t/x", {"a": "q", "b": [1, 2]}) == [{"result": "q-2"}]
    assert calls == [("%s-%d", ["q", 2])]


def test_a_broken_module_reports_failure_not_a_latency(opa, modules):
    """The allowed-repos module replaced by the tags one: its entrypoint is missing."""
    result = policy.run(opa, iterations=20, warmup=2, cases=[cases.simple()],
                        modules={"k8sallowedrepos": modules[1]["k8sdisallowedtags"]})
    assert result["ok"] is False
    broken = result["cases"]["simple"]["policies"]["k8sallowedrepos"]
    for engine in ("wasm", "wasm_eval_only"):
        assert broken["engines"][engine] == {
            "ok": False, "error": "OpaWasmError: no entrypoint 'k8sallowedrepos/violation' in the module "
                                  "(it has ['k8sdisallowedtags/violation'])"}
    assert broken["agree"] is False and broken["engines"]["rego"]["ok"] is True
    good = result["cases"]["simple"]["policies"]["k8sdisallowedtags"]
    assert good["agree"] and all(e["ok"] for e in good["engines"].values())
    assert good["engines"]["wasm"]["raw_us"]["n"] == 20 and good["engines"]["rego"]["n"] > 0
    assert set(result["versions"]) >= {"opa", "wasmtime_python"} and result["hardware"]["logical_cpus"] >= 1
    json.dumps(result)  # JSON-able
    assert "FAILED" in policy.table(result)


def test_a_module_that_aborts_is_an_error(modules):
    module = OpaWasmPolicy(modules[1]["k8sallowedrepos"])
    with pytest.raises(OpaWasmError, match="opa_abort: internal: illegal entrypoint id"):
        module.eval_json(7, b"{}")
