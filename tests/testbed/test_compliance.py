"""edgewasm-check on the test bed: a converged fleet is compliant with zero drift; four hand
edits show up as drift and failed checks on their host only, and as "fixed" once
converged; a host powered off is reported unreachable while the others are checked in
full; the HTML report renders in real headless Chromium; the metrics parse."""

import json
import shutil
import subprocess
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from edgewasm import testbed as tb
from edgewasm.k3s import AGENT_TOKEN_FILE, CONFIG_DIR, K3S_BIN
from edgewasm.wasm import SHIM_DIR
from tests.testbed.helpers import REPORTS, compliance, deploy, pis

pytestmark = pytest.mark.testbed

# What may be skipped on the test bed: checks that cannot be made here, each saying why; and
# the one finding the bed really has (crun's wasmedge handler reports a failed module as
# Succeeded: test_a_failing_wasm_module_fails_its_pod), shown on every run, never passed.
TESTBED_SKIPS = ("test bed: WasmEdge cannot be downloaded here", "test bed: no node runs Wasm through",
                 "test bed: this machine runs the light K3s stand-in", "no node of the fleet runs the crun-wasm",
                 "FINDING: edge-agent-1/crun-wasm: a module that exits 3 shows as pod Succeeded, exit code 0")
SHIM = "containerd-shim-wasmtime-v1"


def by_host(report):
    return {h["name"]: h for h in report["hosts"]}


def outcomes(host):
    return {(c["component"], c["check"]): c["outcome"] for c in host["checks"]}


@pytest.fixture(scope="module")
def converged(testbed):
    code, results, log = deploy()
    # K3s's helm-controller installs Gatekeeper from the deploy's HelmChart.
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
    # The cluster was really checked: nodes Ready, hello-wasm completed as a pod under the
    # real wasmtime shim, and the headline counts the skips instead of "every check passed".
    cluster = outcomes(hosts[servers[0].name])
    assert cluster[("cluster", "test_every_inventory_node_joined_and_is_ready")] == "passed"
    assert cluster[("cluster", "test_hello_wasm_pod_completes_on_every_wasm_node[wasmtime]")] == "passed"
    assert cluster[("policies", "test_untrusted_pod_is_denied_and_trusted_pod_admitted")] == "passed"
    # Debian trixie's own crun (+WASM:wasmedge) and WasmEdge ran hello-wasm on the trixie
    # host, and the crun one also as a pod through the crun-wasm RuntimeClass.
    assert cluster[("cluster", "test_hello_wasm_pod_completes_on_every_wasm_node[crun-wasm]")] == "passed"
    # ... and the real wasmedge shim (tests/shims/wasmedge) ran it as a pod on the trixie
    # agent; the bookworm server, whose libc cannot load trixie's libwasmedge0, is left out.
    assert cluster[("cluster", "test_hello_wasm_pod_completes_on_every_wasm_node[wasmedge]")] == "passed"
    trixie = outcomes(hosts[next(h.name for h in converged if h.suite == "trixie")])
    for check in ("test_crun_on_the_crun_route_runs_wasm", "test_hello_wasm_runs_under_crun",
                  "test_wasmedge_reports_the_pinned_version", "test_hello_wasm_runs_under_wasmedge",
                  "test_runtimes_from_the_release_are_its_packages"):
        assert trixie[("wasm", check)] == "passed", check
    summary = (run.run_dir / "summary.md").read_text()
    assert f"compliant, {report['totals']['skipped']} checks skipped." in summary, summary


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
        # The agent without its shim cannot run hello-wasm: the cluster check (on the first
        # server) fails, naming that node only.
        server.name: {("k3s", "test_secrets_are_root_only"),
                      ("cluster", "test_hello_wasm_pod_completes_on_every_wasm_node[wasmtime]"),
                      ("cluster", "test_a_failing_wasm_module_fails_its_pod[wasmtime]")},
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
    hello = next(c for c in hosts[server]["checks"]
                 if c["check"] == "test_hello_wasm_pod_completes_on_every_wasm_node[wasmtime]")
    agent = next(h.name for h in converged if h.role == "agent" and h.board is None)
    assert f"{agent}/wasmtime" in hello["message"] and f"{server}/wasmtime" not in hello["message"], hello["message"]
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
    server_host = next(h for h in converged if h.role == "server")
    gatekeeper_nodes = set(tb.ssh(server_host.address, f"{K3S_BIN} kubectl -n gatekeeper-system get pods "
                                  "-o jsonpath='{.items[*].spec.nodeName}'").stdout.split())
    tb.power_off(agent.name)
    try:
        _until_node_ready(server_host, agent.name, False)
        run = compliance(reports)
    finally:
        tb.power_on(agent)
    _until_node_ready(server_host, agent.name, True)  # the later tests want it back
    assert run.code == 1
    hosts = by_host(run.report)
    down = hosts[agent.name]
    assert not down["reachable"] and outcomes(down) == {("host", "reachable"): "failed"}
    assert "no SSH connection" in down["checks"][0]["message"]
    server = next(h.name for h in converged if h.role == "server")
    for name, host in hosts.items():
        if name == agent.name:
            continue
        got, want = outcomes(host), outcomes(complete[name])
        if name != server:
            assert got == want and host["compliant"], name
            continue
        # The cluster is real: the server's cluster checks see the lost node, and fail
        # naming it and nothing else; the server's own checks are as before. The lost
        # agent is a wasmtime node and (on trixie) the crun-wasm one.
        lost = {k for k in got if got[k] != want[k]}
        # Gatekeeper's webhook lives in its pods: if the scheduler had put them on the lost
        # node, admission is really down and the smoke test rightly fails with it.
        smoke = ("policies", "test_untrusted_pod_is_denied_and_trusted_pod_admitted")
        allowed = {("cluster", "test_every_inventory_node_joined_and_is_ready"),
                   ("cluster", "test_hello_wasm_pod_completes_on_every_wasm_node[wasmtime]"),
                   ("cluster", "test_hello_wasm_pod_completes_on_every_wasm_node[crun-wasm]"),
                   ("cluster", "test_hello_wasm_pod_completes_on_every_wasm_node[wasmedge]")}
        exit_checks = {("cluster", f"test_a_failing_wasm_module_fails_its_pod[{h}]")
                       for h in ("wasmtime", "wasmedge", "crun-wasm")}
        assert lost <= allowed | exit_checks | ({smoke} if agent.name in gatekeeper_nodes else set()), \
            (lost, gatekeeper_nodes)
        # With admission down, a hello-wasm pod on a node still up is refused by the API
        # server's call to the unreachable webhook: that, and only that, may name the server.
        admission_down = agent.name in gatekeeper_nodes
        # The exit-status check leaves a lost node out: a handler only that node runs is
        # skipped naming it; the pods on the nodes still up fail only when admission is down.
        for check in host["checks"]:
            message = check["message"]
            if (check["component"], check["check"]) in exit_checks & lost:
                if check["outcome"] == "skipped":
                    assert f"{agent.name} not Ready" in message, message
                else:
                    assert admission_down and "failed calling webhook" in message, message
            elif (check["component"], check["check"]) in lost - {smoke}:
                assert agent.name in message, message
                assert f"{server}/" not in message or (admission_down and "failed calling webhook" in message), message
    families = {f.name: f for f in text_string_to_metric_families((run.run_dir / "metrics.prom").read_text())}
    reachable = {s.labels["host"]: s.value for s in families["edgewasm_compliance_host_reachable"].samples}
    assert reachable == {name: float(name != agent.name) for name in hosts}


def _until_node_ready(server, node: str, ready: bool, timeout: float = 240) -> None:
    """Wait until the control plane marks ``node`` Ready (or NotReady: its grace period is
    40 s), so the check sees a lost node, not one that is merely late."""
    deadline = time.monotonic() + timeout
    query = f"{K3S_BIN} kubectl get node {node} -o jsonpath='{{.status.conditions[?(@.type==\"Ready\")].status}}'"
    while (tb.ssh(server.address, query, check=False).stdout.strip() == "True") != ready:
        assert time.monotonic() < deadline, f"{node} Ready is not {ready} after {timeout}s"
        time.sleep(5)


def _management_inventories(tmp_path, management):
    """The fleet inventory as the management host reads it (its key and known_hosts under
    the check user's ~), and the management inventory that puts the nightly check there."""
    groups = tb.inventory_groups(common={"ssh_key": "~/.ssh/id_edgewasm", "ssh_known_hosts_file": "~/.ssh/known_hosts"})
    fleet = tmp_path / "fleet.py"
    fleet.write_text("from edgewasm.config import check_inventory\n"
                     + "".join(f"{name} = {groups[name]!r}\n" for name in ("k3s_servers", "k3s_agents", "raspberry_pi"))
                     + "check_inventory(__file__)\n")
    data = {
        "ssh_hostname": management.address, "ssh_user": "root", "ssh_key": str(tb.ssh_key()),
        "ssh_known_hosts_file": str(tb.known_hosts()), "ssh_strict_host_key_checking": "yes",
        # Python for the check comes from the bundle: the site network has no route out.
        "edgewasm_bundle": "bundles/testbed", "edgewasm_bundle_signers": tb.BUNDLE_SIGNERS,
        "check_inventory": str(fleet), "check_ssh_key": str(tb.ssh_key()), "check_known_hosts": str(tb.known_hosts()),
        "check_bundle": "bundles/testbed", "check_schedule": "*-*-* 03:00:00", "check_randomized_delay": "30min",
    }
    inventory = tmp_path / "management.py"
    inventory.write_text(f"check_hosts = [({management.name!r}, {data!r})]\n")
    return inventory


def test_nightly_check_on_a_management_host(converged, tmp_path):
    """The nightly-check deploy (edgewasm.compliance.nightly) on the amd64 agent: a real timer, an unprivileged user
    holding only its key and known_hosts, and starting the service by hand produces a
    report run and metrics; a second deploy changes nothing."""
    management = next(h for h in converged if h.role == "agent" and h.board is None)
    inventory = _management_inventories(tmp_path, management)
    code, results, log = deploy(str(inventory), deploy_file="edgewasm.compliance.nightly.nightly_check")
    assert code == 0, log[-5000:]
    code, results, log = deploy(str(inventory), deploy_file="edgewasm.compliance.nightly.nightly_check")
    assert code == 0 and results["totals"]["success"] == 0, [
        (op["name"], op["success"]) for op in results["operations"] if op["success"]]

    def on_host(command):
        return tb.ssh(management.address, command).stdout.strip()

    assert on_host("systemctl is-enabled edgewasm-check.timer; systemctl is-active edgewasm-check.timer") == \
        "enabled\nactive"
    assert on_host("systemctl show -p NextElapseUSecRealtime --value edgewasm-check.timer") not in ("", "0", "n/a")
    assert on_host("getent passwd edgewasm-check | cut -d: -f6,7") == "/var/lib/edgewasm-check:/usr/sbin/nologin"
    home = "/var/lib/edgewasm-check"
    assert on_host(f"stat -c '%U %G %a' {home}/.ssh/id_edgewasm {home}/.ssh/known_hosts {home}/inventories/fleet.py") \
        == "edgewasm-check edgewasm-check 600\nedgewasm-check edgewasm-check 600\nroot edgewasm-check 640"
    assert on_host(f"su -s /bin/sh edgewasm-check -c 'test -w {home}/inventories/fleet.py' || echo read-only") == \
        "read-only"

    before = set(on_host(f"ls {home}/reports/fleet 2>/dev/null || true").split())
    tb.ssh(management.address, "systemctl start edgewasm-check.service")  # oneshot: returns when done
    assert on_host("systemctl show -p Result -p ExecMainStatus --value edgewasm-check.service") == "success\n0"
    runs = sorted(set(on_host(f"ls {home}/reports/fleet").split()) - before)
    assert len(runs) == 1, runs
    # The drift check decides tokens read-only: no token file lands on the management host.
    assert on_host(f"find {home} -name '*token*' | wc -l") == "0"
    # The checks ship in the package: the management host gets no tests/.
    shipped = set(on_host("ls /opt/edgewasm-check/src").split())
    assert {"edgewasm", "deploys", "facts", "operations", "templates"} <= shipped and "tests" not in shipped
    report = json.loads(on_host(f"cat {home}/reports/fleet/{runs[0]}/report.json"))
    assert report["compliant"] and {h["name"] for h in report["hosts"]} == {h.name for h in converged}
    assert on_host(f"stat -c '%U %a' {home}/reports/fleet/{runs[0]}/report.json") == "edgewasm-check 600"
    metrics = "/var/lib/prometheus/node-exporter/edgewasm_compliance_fleet.prom"
    assert on_host(f"stat -c '%a' {metrics}") == "644"
    families = {f.name for f in text_string_to_metric_families(on_host(f"cat {metrics}") + "\n")}
    assert "edgewasm_compliance_host_compliant" in families
