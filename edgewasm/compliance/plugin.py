"""pytest plugin edgewasm-check loads into each host's check run: one result per check,
written as JSON for the reports (``--check-results FILE``).

A result names the host, the component (the check module: ``test_k3s.py`` -> ``k3s``),
the check, its outcome (passed, failed, error, skipped), a one-line message, the fix the
check's docstring states (a ``Fix:`` paragraph), the duration, and the versions the check
read on the host against their pins (``pinned_version`` in the checks' conftest.py).

No secret is stored or printed: a failed check's message, traceback and captured output
pass through edgewasm.compliance.redact (K3s tokens, values of keys naming a secret,
credentials in URLs) before this plugin records them and before pytest writes them to
the host's log. The checks themselves never put a secret in a message; this is the net.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from edgewasm.compliance import redact

MESSAGE_LIMIT = 400
_RANK = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}


def pytest_addoption(parser):
    parser.addoption("--check-results", default=None, help="write each check's result here (JSON)")


def describe(doc: str | None) -> tuple[str, str]:
    """(what the check verifies, its fix) from a check's docstring."""
    text = " ".join((doc or "").split())
    summary, _, fix = text.partition("Fix: ")
    return summary.strip(), fix.strip()


def short_message(report) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        message = report.longrepr[2]
        message = re.sub(r"^Skipped: ", "", message)
    else:
        crash = getattr(report.longrepr, "reprcrash", None)
        message = crash.message if crash else str(report.longrepr or "")
    message = " ".join(redact.text(message).split())
    return message if len(message) <= MESSAGE_LIMIT else message[:MESSAGE_LIMIT - 1] + "…"


def redact_report(report) -> None:
    """A check's report as pytest will print it (the host's log, --junit-xml) and this
    plugin record it, with anything secret-looking redacted: its one-line message (kept
    as ``edgewasm_message``), its traceback and the output it captured. Called by the
    checks' conftest.py for every report, whoever runs the checks."""
    report.edgewasm_message = short_message(report) if report.failed or report.skipped else ""
    if report.failed and report.longrepr is not None:
        shown = str(report.longrepr)
        clean = redact.text(shown)
        if clean != shown:
            report.longrepr = clean
    report.sections = [(title, redact.text(content)) for title, content in report.sections]


class Recorder:
    def __init__(self, path: str):
        self.path = path
        self.results: dict[str, dict] = {}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        report.edgewasm_item = item

    def pytest_runtest_logreport(self, report):
        item = getattr(report, "edgewasm_item", None)
        if item is None:
            return
        if report.when == "call":
            outcome = report.outcome
        elif report.failed:
            outcome = "error"
        elif report.skipped:
            outcome = "skipped"
        else:
            outcome = "passed"
        result = self.results.get(report.nodeid)
        if result is None:
            params = dict(item.callspec.params) if hasattr(item, "callspec") else {}
            inv = params.pop("inventory_host", None)
            # A check made for several cases (a handler, say) is one check per case.
            check = item.originalname + (f"[{'-'.join(map(str, params.values()))}]" if params else "")
            summary, fix = describe(item.function.__doc__)
            result = self.results[report.nodeid] = {
                "host": inv.name if inv else None,
                "component": Path(str(item.fspath)).stem.removeprefix("test_"),
                "check": check,
                "summary": summary,
                "fix": fix,
                "outcome": "passed",
                "message": "",
                "duration_s": 0.0,
                "versions": [],
            }
        result["versions"] += [value for name, value in report.user_properties if name == "edgewasm_version"
                               and value not in result["versions"]]
        result["duration_s"] = round(result["duration_s"] + report.duration, 3)
        if _RANK[outcome] > _RANK[result["outcome"]]:
            message = getattr(report, "edgewasm_message", None)
            result["outcome"], result["message"] = outcome, short_message(report) if message is None else message

    def pytest_sessionfinish(self, session):
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(list(self.results.values()), f, indent=1)


def pytest_configure(config):
    path = config.getoption("--check-results")
    if path:
        config.pluginmanager.register(Recorder(path), "edgewasm-check-recorder")
