"""The report in each format edgewasm-check writes: JUnit XML for CI, a self-contained
HTML page and a Markdown summary for people, Prometheus text format for node_exporter's
textfile collector. All are rendered from the JSON report (edgewasm.compliance.report).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from edgewasm import templates
from edgewasm.compliance.report import BAD, failures, matrix, skipped

# Format name -> file name in the run directory. report.json is always written (the next
# run compares against it).
FILES = {
    "json": "report.json",
    "junit": "junit.xml",
    "html": "report.html",
    "markdown": "summary.md",
    "prometheus": "metrics.prom",
}
MARKDOWN_ITEMS = 10


def to_json(report: Mapping) -> str:
    return json.dumps(report, indent=1) + "\n"


def to_junit(report: Mapping) -> str:
    """One testsuite per host; a test case per check, plus the host's drift."""
    suites = ET.Element("testsuites", name=f"edgewasm-check {report['inventory_name']}",
                        tests=str(report["totals"]["checks"] + len(report["hosts"])))
    for h in report["hosts"]:
        cases = []
        for c in h["checks"]:
            case = ET.Element("testcase", classname=f"{h['name']}.{c['component']}", name=c["check"],
                              time=f"{c['duration_s']:.3f}")
            if c["outcome"] in BAD:
                tag = "failure" if c["outcome"] == "failed" else "error"
                ET.SubElement(case, tag, message=c["message"]).text = f"{c['message']}\nFix: {c['fix']}"
            elif c["outcome"] == "skipped":
                ET.SubElement(case, "skipped", message=c["message"])
            cases.append(case)
        drift = ET.Element("testcase", classname=f"{h['name']}.drift", name="converged", time="0")
        d = h["drift"]
        if not d["known"]:
            if h["reachable"]:
                ET.SubElement(drift, "error", message=f"drift unknown: {d['reason']}")
            else:
                ET.SubElement(drift, "skipped", message="unreachable")
        elif h["drift_count"]:
            lines = drift_lines(h)
            ET.SubElement(drift, "failure", message=f"{h['drift_count']} drifted: {'; '.join(lines)}").text = \
                "\n".join(lines) + "\nFix: run the deploy for this host (or find who changed it by hand)."
        cases.append(drift)
        suite = ET.SubElement(suites, "testsuite", name=h["name"], tests=str(len(cases)),
                              failures=str(sum(c.find("failure") is not None for c in cases)),
                              errors=str(sum(c.find("error") is not None for c in cases)),
                              skipped=str(sum(c.find("skipped") is not None for c in cases)),
                              time=f"{h['duration_s']:.3f}", timestamp=report["started"])
        suite.extend(cases)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def drift_lines(host: Mapping) -> list[str]:
    d = host["drift"]
    return d["operations"] + [f"{v['component']} runs {v['running'] or '?'}, pinned {v['pinned']}" for v in d["versions"]]


def _context(report: Mapping) -> dict:
    components, rows = matrix(report)
    return {"r": report, "components": components, "rows": rows, "failures": failures(report), "skipped": skipped(report),
            "drift_lines": {h["name"]: drift_lines(h) for h in report["hosts"]}, "limit": MARKDOWN_ITEMS}


def to_html(report: Mapping) -> str:
    return templates.render("compliance/report.html.j2", **_context(report))


def to_markdown(report: Mapping) -> str:
    return templates.render("compliance/summary.md.j2", **_context(report))


def to_prometheus(report: Mapping) -> str:
    registry = CollectorRegistry()
    inv = report["inventory_name"]

    def gauge(name, doc, labels=()):
        return Gauge(f"edgewasm_compliance_{name}", doc, ["inventory", *labels], registry=registry)

    check = gauge("check_passed", "1 if the check passed on the host, 0 if it failed (skipped checks are absent)",
                  ("host", "component", "check"))
    compliant = gauge("host_compliant", "1 if every check passed and nothing drifted on the host", ("host",))
    reachable = gauge("host_reachable", "1 if the host answered over SSH", ("host",))
    drift = gauge("host_drift", "operations a converge would change plus versions off their pin (absent: unknown)",
                  ("host",))
    duration = gauge("host_duration_seconds", "wall time of the host's checks", ("host",))
    for h in report["hosts"]:
        for c in h["checks"]:
            if c["outcome"] != "skipped":
                check.labels(inv, h["name"], c["component"], c["check"]).set(c["outcome"] == "passed")
        compliant.labels(inv, h["name"]).set(h["compliant"])
        reachable.labels(inv, h["name"]).set(h["reachable"])
        if h["drift"]["known"]:
            drift.labels(inv, h["name"]).set(h["drift_count"])
        duration.labels(inv, h["name"]).set(h["duration_s"])
    gauge("run_compliant", "1 if every host of the inventory is compliant").labels(inv).set(report["compliant"])
    run_success(registry, inv, True)
    gauge("run_timestamp_seconds", "when the run started (Unix time)").labels(inv).set(report["started_unix"])
    gauge("run_duration_seconds", "wall time of the whole run").labels(inv).set(report["duration_s"])
    return generate_latest(registry).decode()


RUN_SUCCESS = "edgewasm_compliance_run_success"


def run_success(registry: CollectorRegistry, inventory: str, success: bool) -> None:
    Gauge(RUN_SUCCESS, "1 if the last run of edgewasm-check ran to its report (compliant or not), 0 if it "
          "crashed or was stopped", ["inventory"], registry=registry).labels(inventory).set(success)


def with_run_failed(previous: str, inventory: str) -> str:
    """A textfile's metrics after a run that did not finish: the last finished run's
    metrics (``previous``, as they were), with run_success 0 (node_exporter then shows
    both the last known state and that it is stale)."""
    family = re.compile(rf"^(# (HELP|TYPE) )?{RUN_SUCCESS}[ {{]")
    kept = [line for line in previous.splitlines() if not family.match(line)]
    registry = CollectorRegistry()
    run_success(registry, inventory, False)
    return "".join(f"{line}\n" for line in kept) + generate_latest(registry).decode()


WRITERS = {"json": to_json, "junit": to_junit, "html": to_html, "markdown": to_markdown,
           "prometheus": to_prometheus}
