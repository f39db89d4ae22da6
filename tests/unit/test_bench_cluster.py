"""edgewasm-bench INVENTORY (edgewasm/bench/: cluster, watch, pods, coldstart, density,
memory, target, run, report) against the FIXTURE fake server of tests/fixtures/fake_kubectl.py:
no cluster. Proven here: figures computed from watch events (known stamps -> known
percentiles), a handler that cannot start a pod reported failed with its reason and
never timed, density stopping at the first pod not Ready (and at memory pressure, and at
the operator's bound) saying why, the run's pods deleted after an error, Ctrl-C and
SIGTERM, an unreachable cluster refused (exit 2, host and fix named), the images checked
first, the manifests valid for the pinned Kubernetes, and the reports written."""

from __future__ import annotations

import json
import re
import socket

import pytest

from edgewasm.bench import __main__ as cli
from edgewasm.bench import density as density_mod
from edgewasm.bench import report, run
from edgewasm.bench.cluster import Session
from edgewasm.bench.pods import HANDLERS, Workload, pod_manifest, sentinel_manifest
from edgewasm.bench.target import IMAGES_FIX, Refused
from edgewasm.bench.watch import Tracker
from edgewasm.config import InventoryHost
from tests.fixtures.fake_kubectl import CREATE_GAP, T0, FakeServer, PodPlan, node

WASM = "docker.io/edgewasm/bench-wasm:0.1.0"
NATIVE = "docker.io/edgewasm/bench-native:0.1.0"
NO_RUNTIME = ('FailedCreatePodSandBox: Failed to create pod sandbox: rpc error: code = Unknown desc = failed to get '
              'sandbox runtime: no runtime for "wasmedge" is configured')


@pytest.fixture(autouse=True)
def quick_settle(monkeypatch):
    monkeypatch.setattr(density_mod, "SETTLE_EVERY", 0.0)


def hosts(bench_images: bool = True, **data) -> list[InventoryHost]:
    base = {"ssh_hostname": "127.0.0.1", "edgewasm_bench_images": bench_images, **data}
    return [InventoryHost("s1", ["k3s_servers"], dict(base))]


def options(**kw) -> run.Options:
    base = dict(handlers=["wasmtime"], concurrency=[1, 10], rounds=1, density=False, conformance=False, phase_timeout=5,
                ready_timeout=1, cpu_interval=0.05, density_max=20, density_step=5)
    return run.Options(**{**base, **kw})


def coldstart_plan(doc, index) -> PodPlan:
    """Pod i starts at 100*(i+1) ms, completes 50 ms later; its own clock reads 10 ms
    before the server saw it started."""
    if doc["spec"]["containers"][0]["args"][0] == "sleep":
        return PodPlan(started=30.0, finished=None, ready=30.0)
    started = 100.0 * (index + 1)
    return PodPlan(started=started, finished=started + 50, in_container=started - 10)


def bench(server: FakeServer, opts: run.Options | None = None, **data) -> dict:
    return run.bench(hosts(**data), "inventories/fake.py", opts or options(), lambda line: None, runner=server,
                     run_id="x")


# ------------------------------------------------------------------------------ timings

def test_cold_start_figures_come_from_the_watch_events():
    server = FakeServer([node("s1", ["wasmtime"], [WASM, NATIVE])], coldstart_plan)
    result = bench(server)
    rows = {r["concurrency"]: r for r in result["coldstart"]["summary"]}
    assert rows[1]["status"] == rows[10]["status"] == "ok"
    assert rows[1]["started_ms"]["p50"] == 100.0 and rows[1]["completed_ms"]["p50"] == 150.0
    ten = rows[10]
    # starts at 100, 200, ... 1000 ms: nearest-rank p50 is the 5th, p95 and p99 the 10th
    assert (ten["started_ms"]["p50"], ten["started_ms"]["p95"], ten["started_ms"]["p99"]) == (500.0, 1000.0, 1000.0)
    assert (ten["completed_ms"]["p50"], ten["completed_ms"]["max"]) == (550.0, 1050.0)
    assert ten["in_container_start_ms"]["p50"] == 490.0 and ten["in_container_clock"] == "server"
    samples = [s for s in result["coldstart"]["samples"] if s["concurrency"] == 10]
    assert {s["create_ns"] for s in samples} == {T0 + CREATE_GAP}  # the stamp before the second create
    assert samples[3]["started_ns"] == T0 + CREATE_GAP + 400_000_000
    # the node clock agrees with the server's (offset interval holds 0)
    assert result["coldstart"]["clock_offsets"]["s1"]["zero_possible"] is True
    assert [b["node_cpu"]["max_cores"] for b in result["coldstart"]["bursts"]] == [0.5, 0.5]


def test_a_node_clock_off_by_seconds_shows_in_the_offsets():
    def skewed(doc, index):
        plan = coldstart_plan(doc, index)
        plan.in_container = plan.started + 3000  # the node's clock 3 s ahead
        return plan
    result = bench(FakeServer([node("s1", ["wasmtime"], [WASM, NATIVE])], skewed))
    offsets = result["coldstart"]["clock_offsets"]["s1"]
    assert offsets["zero_possible"] is False and offsets["low_ms"] >= 2900


def test_the_watch_line_shape_is_parsed():
    tracker = Tracker("eb-x-p-")
    tracker.feed(["17 @pid 99", "18 eb-x-sentinel\x1fPending\x1f\x1f\x1f[]\x1f",
                  '20 eb-x-p-0\x1fPending\x1f\x1f\x1f[]\x1f[{"state":{"waiting":{"reason":"ContainerCreating"}}}]',
                  '25 eb-x-p-0\x1fSucceeded\x1f\x1f\x1f[]\x1f[{"state":{"terminated":{"exitCode":0}}}]',
                  "garbage without a stamp"])
    pod = tracker.pods["eb-x-p-0"]
    assert (tracker.pid, tracker.sentinel_seen) == (99, True)
    assert (pod.seen_ns, pod.started_ns, pod.finished_ns, pod.failure) == (20, 25, 25, None)


# ------------------------------------------------------------------------------ failures

def test_a_handler_that_cannot_start_a_pod_is_failed_with_the_reason_never_fast():
    def plan(doc, index):
        if doc["spec"].get("runtimeClassName") == "edgewasm-wasmedge":
            return PodPlan(started=None, finished=None, in_container=None, warnings=[NO_RUNTIME])
        return coldstart_plan(doc, index)
    server = FakeServer([node("s1", ["wasmtime", "wasmedge"], [WASM, NATIVE])], plan)
    result = bench(server, options(handlers=["wasmtime", "wasmedge"], density=True))
    rows = {(r["handler"], r["concurrency"]): r for r in result["coldstart"]["summary"]}
    bad = rows[("wasmedge", 1)]
    assert bad["status"] == "failed" and bad["completed"] == 0
    assert bad["started_ms"] is None and bad["completed_ms"] is None  # no figure for it at all
    assert list(bad["failures"]) == [NO_RUNTIME]
    assert ("wasmedge", 10) not in rows  # a handler that started nothing is not tried harder
    assert "no pod of c=1" in result["skipped"]["s1/wasmedge density"]
    assert rows[("wasmtime", 10)]["status"] == "ok"
    assert [d["handler"] for d in result["density"]] == ["wasmtime"]
    assert "FAILED x1: " + NO_RUNTIME in report.table(result)


def test_a_pod_that_exits_non_zero_is_a_failure():
    plan = lambda doc, index: PodPlan(started=100, finished=120, exit_code=3)  # noqa: E731
    result = bench(FakeServer([node("s1", ["wasmtime"], [WASM, NATIVE])], plan), options(concurrency=[1]))
    (row,) = result["coldstart"]["summary"]
    assert row["status"] == "failed" and list(row["failures"]) == ["exit 3 (Error)"]


def test_a_pod_never_seen_to_finish_times_out_with_what_is_known():
    plan = lambda doc, index: PodPlan(started=None, finished=None, waiting="ContainerCreating")  # noqa: E731
    result = bench(FakeServer([node("s1", ["wasmtime"], [WASM, NATIVE])], plan),
                   options(concurrency=[1], phase_timeout=1))
    (row,) = result["coldstart"]["summary"]
    assert list(row["failures"]) == ["not finished within 1s (ContainerCreating)"]


# ------------------------------------------------------------------------------ density

def density_plan(not_ready_from: int | None = None):
    def plan(doc, index):
        if doc["spec"]["containers"][0]["args"][0] != "sleep":
            return coldstart_plan(doc, index)
        if not_ready_from is not None and index >= not_ready_from:
            return PodPlan(started=None, finished=None, ready=None, waiting="ContainerCreating")
        return PodPlan(started=30.0, finished=None, ready=30.0)
    return plan


def test_density_stops_at_the_first_pod_not_ready_and_says_why():
    server = FakeServer([node("s1", [], [WASM, NATIVE])], density_plan(not_ready_from=7))
    result = bench(server, options(handlers=["runc"], concurrency=[1], density=True))
    (d,) = result["density"]
    assert d["pods_ready"] == 7 and d["pods_created"] == 10
    assert d["bounded_by"]["by"] == "not-ready" and d["bounded_by"]["pod"] == "eb-x-dn0-runc-7"
    assert d["bounded_by"]["detail"] == "not Ready within 1s (ContainerCreating)"
    assert [p["pods_ready"] for p in d["curve"]] == [5, 7]
    assert d["memory"]["at_rest"]["n"] == 7 and 6 * 2**20 <= d["memory"]["at_rest"]["p50"] < 7 * 2**20


def test_density_stops_at_memory_pressure():
    server = FakeServer([node("s1", [], [WASM, NATIVE])], density_plan(), memory_pressure_after=10)
    (d,) = bench(server, options(handlers=["runc"], concurrency=[1], density=True))["density"]
    assert d["bounded_by"] == {"by": "memory-pressure", "detail": "MemoryPressure: available memory below 100Mi"}
    assert d["pods_ready"] == 10


def test_density_stops_at_the_operators_bound():
    (d,) = bench(FakeServer([node("s1", [], [WASM, NATIVE])], density_plan()),
                 options(handlers=["runc"], concurrency=[1], density=True, density_max=8))["density"]
    assert (d["pods_ready"], d["bounded_by"]["by"]) == (8, "density-max")
    assert [p["pods_ready"] for p in d["curve"]] == [5, 8]


# ------------------------------------------------------------------------------ cleanup

def _cleaned(server: FakeServer) -> bool:
    deletes = [c for c in server.commands if re.search(r"delete pods -l bench.edgewasm.io/run=[0-9a-f x]+ ", c)]
    return bool(deletes) and not server.pods and server.closed


@pytest.mark.parametrize("exc", [RuntimeError("the API server went away"), KeyboardInterrupt()])
def test_the_runs_pods_are_deleted_after_an_error_and_ctrl_c(exc):
    server = FakeServer([node("s1", ["wasmtime"], [WASM, NATIVE])], coldstart_plan,
                        raise_on={"logs": exc})  # mid-run, with pods created
    with pytest.raises(type(exc)):
        bench(server)
    assert _cleaned(server)
    assert any("delete namespace edgewasm-bench" in c for c in server.commands)


def test_sigterm_and_ctrl_c_through_the_command_clean_up(monkeypatch, tmp_path, capsys):
    inventory = tmp_path / "inventory.py"
    inventory.write_text("")
    monkeypatch.setattr(cli, "inventory_hosts", lambda path: hosts())
    for exc, status in ((cli.Stopped(), 128 + 15), (KeyboardInterrupt(), 130)):
        server = FakeServer([node("s1", ["wasmtime"], [WASM, NATIVE])], coldstart_plan, raise_on={"logs": exc})
        monkeypatch.setattr(run, "connect", lambda s, server=server: server)
        assert cli.main([str(inventory), "--handlers", "wasmtime", "--concurrency", "1", "--rounds", "1",
                         "--density-max", "0", "--no-conformance", "--out", str(tmp_path / "out")]) == status
        assert _cleaned(server)
    assert "its pods were deleted" in capsys.readouterr().err


def test_an_unreachable_cluster_is_refused_naming_host_and_fix(monkeypatch, tmp_path, capsys):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inventory = tmp_path / "inventory.py"
    inventory.write_text("")
    monkeypatch.setattr(cli, "inventory_hosts", lambda path: hosts(ssh_port=port,
                                                                   ssh_known_hosts_file=str(tmp_path / "kh")))
    assert cli.main([str(inventory), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"first server s1 (root@127.0.0.1:{port})" in err and "unreachable" in err
    assert f"fix: check that 127.0.0.1 port {port} is reachable" in err
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------ refusals

def test_a_cluster_whose_kubectl_fails_is_refused_before_anything_is_made():
    refused = "The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?"
    server = FakeServer([], coldstart_plan, fail_on={"get nodes": refused})
    with pytest.raises(Refused, match="K3s's kubectl on s1 \\(127.0.0.1\\) failed: The connection .* fix: check"):
        bench(server)
    assert not [c for c in server.commands if "delete" in c or "create" in c] and server.closed


def test_nodes_without_the_bench_images_are_refused_with_the_fix():
    with pytest.raises(Refused, match=f"s1 \\(its containerd lacks {WASM}, {NATIVE}; edgewasm_bench_images is "
                                      "not set for it\\)") as found:
        bench(FakeServer([node("s1", ["wasmtime"], [])], coldstart_plan), bench_images=False)
    assert IMAGES_FIX in str(found.value)
    # the node's image list decides: images deployed with --data edgewasm_bench_images=True are used
    assert bench(FakeServer([node("s1", ["wasmtime"], [WASM, NATIVE])], coldstart_plan), options(concurrency=[1]),
                 bench_images=False)["coldstart"]["summary"][0]["status"] == "ok"
    server = FakeServer([node("s1", ["wasmtime"], [WASM])], coldstart_plan)
    with pytest.raises(Refused, match=f"its containerd lacks {NATIVE}"):
        bench(server)
    assert not server.pods  # refused before any pod


def test_handlers_come_from_node_labels_and_test_bed_fixtures_are_left_out():
    server = FakeServer([node("s1", ["wasmtime", "wasmedge"], [WASM, NATIVE])], coldstart_plan)
    result = bench(server, options(handlers=list(HANDLERS), concurrency=[1]), testbed_handlers_left_out={"wasmedge": "its FIXTURE shim runs no Wasm"})
    assert sorted({r["handler"] for r in result["coldstart"]["summary"]}) == ["runc", "wasmtime"]
    assert result["skipped"] == {"s1/wasmedge": "test bed: its FIXTURE shim runs no Wasm"}
    env = result["environment"]["nodes"]["s1"]
    assert env["arch"] == "amd64" and env["k3s"] == "v1.35.1+k3s1" and "runwasi-wasmtime" in env["handlers"]["wasmtime"]
    assert result["images"]["server_archives"]["edgewasm-bench-wasm-0.1.0.tar"] == 3584


# ------------------------------------------------------------------------------ manifests, reports

def test_manifests_render_and_pass_the_pinned_kubernetes_schema():
    pytest.importorskip("kubernetes_validate")
    from edgewasm.compliance.schema import validate_manifest  # tests may use the checker's schema check
    from edgewasm.templates import render

    session = Session(FakeServer([], coldstart_plan), "x")
    load = Workload(WASM, NATIVE, deadline=900)
    for handler in HANDLERS:
        (pod,) = validate_manifest(pod_manifest(session, load, handler, "s1", "cs0-h-c1-r1", 0, ["now"]))
        assert pod["spec"]["nodeName"] == "s1" and pod["spec"]["restartPolicy"] == "Never"
        assert pod["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "edgewasm-bench"
        assert pod["metadata"]["labels"]["bench.edgewasm.io/run"] == "x"
        assert ("runtimeClassName" in pod["spec"]) == (handler != "runc")
        assert pod["spec"]["containers"][0]["image"] == (NATIVE if handler == "runc" else WASM)
    (sentinel,) = validate_manifest(sentinel_manifest(session, load))
    assert sentinel["spec"]["schedulingGates"] and "nodeName" not in sentinel["spec"]
    validate_manifest(render("bench/namespace.yaml.j2", namespace="edgewasm-bench", managed_by="edgewasm-bench"))


def test_reports_hold_raw_samples_summaries_and_plots(tmp_path):
    def plan(doc, index):
        if doc["spec"].get("runtimeClassName") == "edgewasm-wasmedge":
            return PodPlan(started=None, finished=None, warnings=[NO_RUNTIME])
        return density_plan()(doc, index)
    server = FakeServer([node("s1", ["wasmtime", "wasmedge"], [WASM, NATIVE])], plan)
    result = bench(server, options(handlers=["wasmtime", "wasmedge", "runc"], density=True, density_max=5))
    written = report.write(result, tmp_path)
    data = json.loads(written["json"].read_text())
    assert len(data["coldstart"]["samples"]) == 1 + 10 + 1 + 1 + 10  # wasmtime, wasmedge (c=1 only), runc
    assert data["environment"]["k3s"] == ["v1.35.1+k3s1"]
    # Every pod of the run, and only those, went through the webhook (the fake's 4 ms each).
    (hook,) = data["admission"]["webhooks"]
    assert hook["webhook"] == "validation.gatekeeper.sh" and hook["calls"] == 1 + 10 + 1 + 1 + 10 + 5 + 5
    assert hook["mean_ms"] == 4.0 and hook["p50_ms"] <= 5
    html = written["html"].read_text()
    assert "Admission webhooks during the run" in html
    assert "FAILED" in html and "no runtime for &#34;wasmedge&#34;" in html  # escaped, never markup
    if "coldstart" in written:  # matplotlib installed (the extra `bench`)
        assert written["coldstart"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "data:image/png;base64," in html
