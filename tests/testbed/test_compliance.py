"""edgewasm-check on the test bed: a converged fleet is compliant with zero drift; four hand
edits show up as drift and failed checks on their host only, and as "fixed" once
converged; a host powered off is reported unreachable while the others are checked in
full; the HTML report renders in real headless Chromium; the metrics parse."""

import shutil
import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from edgewasm import testbed as tb
from edgewasm.k3s import AGENT_TOKEN_FILE, CONFIG_DIR, K3S_BIN
from edgewasm.wasm import SHIM_DIR
from tests.testbed.helpers import REPORTS, compliance, deploy, pis

pytestmark = pytest.mark.testbed

# What may be skipped on the test bed: checks that cannot be made here, each saying why.
TESTBED_SKIPS = ("test bed: the K3s stand-in has no Kubernetes API", "test bed: WasmEdge cannot be downloaded here")
SHIM = "containerd-shim-wasmtime-v1"


def by_host(report):
    return {h["name"]: h for h in report["hosts"]}


def outcomes(host):
    return {(c["component"], c["check"]): c["outcome"] for c in host["checks"]}


@pytest.fixture(scope="module")
def converged(testbed):
    code, results, log = deploy()
    assert code == 0, log[-5000:]
    return testbed


@pytest.fixture(scope="module")
def reports():
    path = REPORTS / "check-testbed"
    shutil.rmtree(path, ignore_errors=True)
    return path


def test_converged_fleet_is_compliant_with_zero_drift_and_no_role_skips(converged, reports):
    run = compliance(reports)
    assert run.code == 0, run.output[-4000:]
    report = run.report
    assert report["compliant"] and report["totals"]["drift"] == 0 and report["totals"]["failed"] == 0
    hosts = by_host(report)
    assert set(hosts) == {h.name for h in converged}
    for h in hosts.values():
        assert h["drift"] == {"known": True, "reason": None, "operations": [], "versions": []}, h["name"]
        versions = {v["component"] for c in h["checks"] for v in c["versions"]}
        assert {"k3s", "wasmtime"} <= versions or h["role"] is None
    skips = [(c["host"], c["check"], c["message"]) for h in hosts.values() for c in h["checks"]
             if c["outcome"] == "skipped"]
    assert all(message.startswith(TESTBED_SKIPS) for _, _, message in skips), skips
    # Checks that do not apply to a host are not there at all: counted, not skipped.
    ran = [c["check"] for h in hosts.values() for c in h["checks"]]
    servers = [h for h in converged if h.role == "server"]
    assert ran.count("test_raspberry_pi_boot_line_has_cgroup_flags_once") == len(pis(converged))
    assert ran.count("test_no_agent_holds_the_server_token") == len([h for h in converged if h.role == "agent"])
    assert ran.count("test_helmchart_carries_the_pinned_chart_and_edge_values") == len(servers)
    assert ran.count("test_every_inventory_node_joined_and_is_ready") == 1
    assert ran.count("reachable") == len(converged)
    for name in ("junit.xml", "report.html", "summary.md", "metrics.prom", "report.json"):
        path = run.run_dir / name
        assert path.is_file() and path.stat().st_mode & 0o777 == 0o600, name
    assert run.run_dir.stat().st_mode & 0o777 == 0o700
    assert "compliant." in (run.run_dir / "summary.md").read_text()


def _edit(converged):
    server = next(h for h in converged if h.role == "server")
    agent = next(h for h in converged if h.role == "agent" and h.board is None)
    pi = pis(converged)[0]
    # A config changed (the agent's join URL), a binary replaced (the Pi's K3s, one byte
    # more), a token file chmod-ed 0644 (the server's agent token), a shim link deleted.
    tb.ssh(agent.address, f"sed -i 's#^server: .*#server: \"https://10.231.0.99:6443\"#' {CONFIG_DIR}/config.yaml")
    tb.ssh(pi.address, f"printf '\\n' >> {K3S_BIN}")
    tb.ssh(server.address, f"chmod 0644 {AGENT_TOKEN_FILE}")
    tb.ssh(agent.address, f"rm {SHIM_DIR}/{SHIM}")
    return {
        agent.name: {("k3s", "test_config_names_the_right_server_and_token_files"),
                     ("wasm", "test_runwasi_shims_are_where_k3s_finds_them")},
        pi.name: {("k3s", "test_binary_is_the_pinned_release")},
        server.name: {("k3s", "test_secrets_are_root_only")},
    }


def test_hand_edits_drift_and_fail_on_their_host_only_then_show_as_fixed(converged, reports):
    expected = _edit(converged)
    run = compliance(reports)
    assert run.code == 1, run.output[-4000:]
    hosts = by_host(run.report)
    for name, host in hosts.items():
        failed = {k for k, v in outcomes(host).items() if v in ("failed", "error")}
        assert failed == expected[name], name
        assert host["drift"]["known"] and host["drift_count"] > 0, name
    drift = {name: set(h["drift"]["operations"]) for name, h in hosts.items()}
    assert any("K3s config" in op for op in drift[next(n for n in expected if ("k3s", "test_config_names_the_right_server_and_token_files") in expected[n])])
    server = next(h.name for h in converged if h.role == "server")
    assert any("agent token" in op for op in drift[server]), drift[server]
    pi = pis(converged)[0].name
    assert any("K3s binary" in op or "k3s" in op.lower() for op in drift[pi]), drift[pi]
    assert {c["host"] for c in run.report["changes"]["new"]} == set(expected)
    html = (run.run_dir / "report.html").read_text()
    assert "Not compliant" in html and "test_secrets_are_root_only" in html
    _screenshot(run.run_dir / "report.html")

    code, results, log = deploy()
    assert code == 0, log[-5000:]
    fixed = compliance(reports)
    assert fixed.code == 0, fixed.output[-4000:]
    gone = {(c["host"], c["item"]) for c in fixed.report["changes"]["fixed"]}
    for name, checks in expected.items():
        for component, check in checks:
            assert (name, f"check:{component}/{check}") in gone
    assert fixed.report["changes"]["new"] == []
    summary = (fixed.run_dir / "summary.md").read_text()
    assert "Fixed since last run:" in summary and "test_secrets_are_root_only" in summary
    assert "Fixed since last run" in (fixed.run_dir / "report.html").read_text()


def _screenshot(page):
    """The report in real headless Chromium (Debian's): it renders, the failure is in the
    rendered page, and a screenshot lands under reports/."""
    chromium = shutil.which("chromium")
    assert chromium, "./run test installs Debian's chromium"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={page.parent / '.chromium'}", "--window-size=1400,1800"]
    dom = subprocess.run([chromium, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'class="verdict bad"' in dom.stdout and 'class="failure"' in dom.stdout
    shot = REPORTS / "compliance-report.png"
    shot.unlink(missing_ok=True)
    done = subprocess.run([chromium, *flags, f"--screenshot={shot}", page.as_uri()], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    png = shot.read_bytes()
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and (width, height) == (1400, 1800)
    shutil.rmtree(page.parent / ".chromium", ignore_errors=True)


def test_a_host_powered_off_is_unreachable_and_the_others_are_checked_in_full(converged, reports):
    complete = by_host(compliance(reports).report)
    agent = next(h for h in converged if h.role == "agent" and h.board is None)
    tb.power_off(agent.name)
    try:
        run = compliance(reports)
    finally:
        tb.power_on(agent)
    assert run.code == 1
    hosts = by_host(run.report)
    down = hosts[agent.name]
    assert not down["reachable"] and outcomes(down) == {("host", "reachable"): "failed"}
    assert "no SSH connection" in down["checks"][0]["message"]
    for name, host in hosts.items():
        if name != agent.name:
            assert outcomes(host) == outcomes(complete[name]), name
            assert host["compliant"], name
    families = {f.name: f for f in text_string_to_metric_families((run.run_dir / "metrics.prom").read_text())}
    reachable = {s.labels["host"]: s.value for s in families["edgewasm_compliance_host_reachable"].samples}
    assert reachable == {name: float(name != agent.name) for name in hosts}
