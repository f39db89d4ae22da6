"""The compliance report: entries, items across runs, and each format rendered from it."""

import json
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

import pytest
from prometheus_client.parser import text_string_to_metric_families

from edgewasm.compliance import formats
from edgewasm.compliance.drift import drift_by_host, operation_name
from edgewasm.compliance.report import build, changes, host_entry, items, matrix
from edgewasm.compliance.versions import reported_version

STARTED = datetime(2026, 12, 1, 3, 15, tzinfo=timezone.utc)


def check(host, component, name, outcome="passed", message="", versions=()):
    return {"host": host, "component": component, "check": name, "summary": f"{name} holds",
            "fix": f"fix {name}", "outcome": outcome, "message": message, "duration_s": 0.5,
            "versions": list(versions)}


CLEAN = {"known": True, "reason": None, "operations": []}


def entry(name, checks=(), drift=CLEAN, reason=None, role="agent"):
    return host_entry(name, role, reason, list(checks), drift, 2.0)


def report(hosts, previous=None):
    return build("inventories/site.py", "site", "20261201T031500Z", STARTED, 12.5, hosts, previous)


def test_a_clean_host_is_compliant_with_a_passed_reachable_check():
    h = entry("a", [check("a", "k3s", "test_unit")])
    assert h["compliant"] and h["reachable"] and h["drift_count"] == 0
    assert [(c["component"], c["check"], c["outcome"]) for c in h["checks"]][0] == ("host", "reachable", "passed")


def test_an_unreachable_host_fails_reachable_and_its_drift_is_unknown():
    h = entry("a", drift={"known": True, "reason": None, "operations": ["x"]}, reason="unreachable: timed out")
    assert not h["compliant"] and not h["reachable"]
    assert h["checks"][0]["outcome"] == "failed" and h["checks"][0]["message"] == "unreachable: timed out"
    assert h["drift"] == {"known": False, "reason": "unreachable: timed out", "operations": [], "versions": []}


def test_drift_and_versions_off_their_pin_make_a_host_non_compliant():
    h = entry("a", [check("a", "k3s", "test_binary", "failed",
                          versions=[{"component": "k3s", "pinned": "v1.31.1+k3s1", "running": "v1.30.0+k3s1"}])],
              drift={"known": True, "reason": None, "operations": ["Write the K3s config"]})
    assert h["drift_count"] == 2 and not h["compliant"]
    assert set(items(h)) == {"check:k3s/test_binary", "drift:Write the K3s config", "version:k3s"}


def test_unknown_drift_is_not_compliant():
    h = entry("a", drift={"known": False, "reason": "the dry run failed", "operations": []})
    assert not h["compliant"] and items(h) == {"drift:unknown": "drift unknown: the dry run failed"}


def test_new_and_fixed_against_the_previous_run():
    before = report([entry("a", [check("a", "k3s", "t1", "failed")]), entry("b"), entry("gone", reason="x")])
    now = [entry("a"), entry("b", [check("b", "wasm", "t2", "failed")])]
    found = changes(now, before)
    assert found["previous"] == "20261201T031500Z"
    assert [(c["host"], c["item"]) for c in found["new"]] == [("b", "check:wasm/t2")]
    assert [(c["host"], c["item"]) for c in found["fixed"]] == [("a", "check:k3s/t1")]
    assert changes(now, None) == {"previous": None, "new": [], "fixed": []}


def test_totals_and_exit_status():
    r = report([entry("a"), entry("b", [check("b", "k3s", "t", "failed"), check("b", "k3s", "s", "skipped")])])
    assert r["totals"] == {"hosts": 2, "compliant_hosts": 1, "unreachable_hosts": 0, "checks": 4, "passed": 2,
                           "failed": 1, "error": 0, "skipped": 1, "drift": 0}
    assert (r["compliant"], r["exit_status"]) == (False, 1)
    assert report([entry("a")])["exit_status"] == 0
    assert report([])["exit_status"] == 1, "no host checked is not compliant"


def test_matrix_has_a_cell_only_where_a_component_applies():
    components, rows = matrix(report([entry("s", [check("s", "policies", "t")], role="server"),
                                      entry("a", [check("a", "k3s", "t", "failed")])]))
    assert components == ["host", "k3s", "policies"]
    assert "policies" not in rows[1]["cells"] and rows[1]["cells"]["k3s"]["outcome"] == "failed"


def test_drift_from_a_dry_run_plan():
    plan = [{"name": "deploys/full_stack.py | Write the K3s config", "hosts_with_change": ["a"],
             "hosts_with_conditional_change": []},
            {"name": "deploys/full_stack.py | Restart K3s", "hosts_with_change": ["a", "b"],
             "hosts_with_conditional_change": []},
            {"name": "Noop", "hosts_with_change": [], "hosts_with_conditional_change": []}]
    found = drift_by_host(plan, ["a", "b", "c"], {"b": "refused: kernel too old"})
    assert found["a"] == {"known": True, "reason": None, "operations": ["Write the K3s config", "Restart K3s"]}
    assert found["b"] == {"known": False, "reason": "refused: kernel too old", "operations": []}
    assert found["c"]["operations"] == [] and found["c"]["known"]
    assert operation_name("x.py | y | Write it") == "Write it"


@pytest.mark.parametrize("output, version", [
    ("k3s version v1.31.1+k3s1 (452dbbc1)\ngo version go1.22.6", "v1.31.1+k3s1"),
    ("wasmtime 25.0.1 (b4e7ca5 2024-09-25)", "25.0.1"),
    ("wasmedge version 0.14.1", "0.14.1"),
    ("FIXTURE wasmedge 0.14.1", "0.14.1"),
    ("", ""),
    ("command not found", ""),
])
def test_reported_version(output, version):
    assert reported_version(output) == version


@pytest.fixture
def failing():
    return report([entry("edge-1", [check("edge-1", "k3s", "test_secrets", "failed", "mode 0o644 <b>x</b>")],
                         drift={"known": True, "reason": None, "operations": ["Write the K3s agent token"]}),
                   entry("edge-2", reason="unreachable: no route"), entry("edge-3")],
                  previous=report([entry("edge-3", [check("edge-3", "wasm", "test_shim", "failed")])]))


def test_junit_has_a_suite_per_host_with_failures_fix_and_drift(failing):
    root = ET.fromstring(formats.to_junit(failing))
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert list(suites) == ["edge-1", "edge-2", "edge-3"]
    failure = suites["edge-1"].find("testcase[@name='test_secrets']/failure")
    assert failure.get("message") == "mode 0o644 <b>x</b>" and "Fix: fix test_secrets" in failure.text
    assert "Write the K3s agent token" in suites["edge-1"].find("testcase[@name='converged']/failure").get("message")
    assert suites["edge-2"].find("testcase[@name='reachable']/failure") is not None
    assert suites["edge-3"].get("failures") == "0"


def test_html_is_self_contained_escaped_and_lists_failures_first(failing):
    page = formats.to_html(failing)
    assert "<script" not in page and "http" not in page.replace("http-equiv", "")
    assert "mode 0o644 &lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page
    assert page.index('id="failures"') < page.index('id="drift"') < page.index('id="matrix"')
    assert "fix test_secrets" in page
    assert "edge-3: wasm: test_shim failed" in page.split('id="fixed"')[1]


def test_markdown_is_short_and_names_what_to_do(failing):
    text = formats.to_markdown(failing)
    assert text.startswith("**edgewasm compliance, site: NOT compliant.** 1/3 hosts compliant")
    assert "`edge-1` k3s/test_secrets: mode 0o644 <b>x</b> Fix: fix test_secrets" in text
    assert "`edge-1`: Write the K3s agent token" in text
    assert "Fixed since last run: `edge-3` wasm: test_shim failed" in text
    assert len(text.splitlines()) < 20


def test_markdown_caps_long_lists():
    hosts = [entry(f"h{i}", [check(f"h{i}", "k3s", "t", "failed")]) for i in range(25)]
    text = formats.to_markdown(report(hosts))
    assert "... and 15 more" in text and len(text.splitlines()) < 20


def test_metrics_parse_with_prometheus_client(failing):
    families = {f.name: f for f in text_string_to_metric_families(formats.to_prometheus(failing))}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    assert samples[("edgewasm_compliance_host_compliant", (("host", "edge-1"), ("inventory", "site")))] == 0
    assert samples[("edgewasm_compliance_host_compliant", (("host", "edge-3"), ("inventory", "site")))] == 1
    assert samples[("edgewasm_compliance_host_drift", (("host", "edge-1"), ("inventory", "site")))] == 1
    assert ("edgewasm_compliance_host_drift", (("host", "edge-2"), ("inventory", "site"))) not in samples
    assert samples[("edgewasm_compliance_host_reachable", (("host", "edge-2"), ("inventory", "site")))] == 0
    assert samples[("edgewasm_compliance_check_passed", (("check", "test_secrets"), ("component", "k3s"),
                                                         ("host", "edge-1"), ("inventory", "site")))] == 0
    assert samples[("edgewasm_compliance_run_timestamp_seconds", (("inventory", "site"),))] == STARTED.timestamp()
    assert samples[("edgewasm_compliance_run_compliant", (("inventory", "site"),))] == 0


def test_json_round_trips(failing):
    assert json.loads(formats.to_json(failing)) == failing


def test_a_compliant_run_with_skipped_checks_says_so_and_why():
    skip = check("edge-1", "cluster", "test_hello_pod", "skipped", "test bed: no kubelet on this node")
    r = report([entry("edge-1", [check("edge-1", "k3s", "t"), skip]), entry("edge-2", [check("edge-2", "k3s", "t")])])
    assert r["compliant"] and r["totals"]["skipped"] == 1
    text = formats.to_markdown(r)
    assert text.startswith("**edgewasm compliance, site: compliant, 1 checks skipped.**")
    assert "every check passed" not in text
    assert "`edge-1` cluster/test_hello_pod: test bed: no kubelet on this node" in text
    page = formats.to_html(r)
    assert "pass every check that ran" in page and "pass every check," not in page
    assert "test bed: no kubelet on this node" in page.split('id="skipped"')[1]


def test_a_run_without_skips_keeps_the_plain_headline():
    r = report([entry("edge-1", [check("edge-1", "k3s", "t")])])
    assert formats.to_markdown(r).startswith("**edgewasm compliance, site: compliant.** 1 hosts, every check passed")
    assert 'id="skipped"' not in formats.to_html(r)


def test_a_refused_pod_is_reported_by_its_error_not_by_the_pod_security_warnings_before_it():
    # The bed's real K3s warns at PodSecurity "restricted" on every check pod; the warnings came
    # first and the report's 400-character message ended before "failed calling webhook".
    from edgewasm.compliance.checks import test_cluster as cluster_checks
    stderr = ('Warning: would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false '
              '(container "hello" must set securityContext.allowPrivilegeEscalation=false)\n'
              'Error from server (InternalError): error when creating "STDIN": Internal error occurred: '
              'failed calling webhook "validation.gatekeeper.sh"\n')
    refusal = cluster_checks._refusal(stderr)
    assert refusal.startswith("Error from server (InternalError)") and "failed calling webhook" in refusal
    assert "Warning" not in refusal


def test_admission_is_waited_for_once_per_run_then_refused_at_once(monkeypatch):
    # Gatekeeper on a powered-off node: without the memory, every check pod waited the full
    # ADMISSION_WAIT in turn.
    from types import SimpleNamespace
    from edgewasm.compliance.checks import test_cluster as cluster_checks
    calls = []

    class Host:
        def run(self, command):
            calls.append(command)
            return SimpleNamespace(rc=1, stdout="", stderr='Internal error occurred: failed calling webhook "x"')

    monkeypatch.setattr(cluster_checks, "ADMISSION_WAIT", 0.2)
    monkeypatch.setattr(cluster_checks.time, "sleep", lambda s: None)
    wait = cluster_checks.AdmissionWait()
    assert wait.apply(Host(), "kubectl", "{}").rc == 1 and wait.down and len(calls) > 1
    calls.clear()
    assert wait.apply(Host(), "kubectl", "{}").rc == 1 and len(calls) == 1
