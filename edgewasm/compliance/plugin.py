"""pytest plugin edgewasm-check loads into each host's check run: one result per check,
written as JSON for the reports (``--check-results FILE``).

A result names the host, the component (the check module: ``test_k3s.py`` -> ``k3s``),
the check, its outcome (passed, failed, error, skipped), a one-line message, the fix the
check's docstring states (a ``Fix:`` paragraph), the duration, and the versions the check
read on the host against their pins (``pinned_version`` in the checks' conftest.py).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

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
    message = " ".join(message.split())
    return message if len(message) <= MESSAGE_LIMIT else message[:MESSAGE_LIMIT - 1] + "…"


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
            result["outcome"], result["message"] = outcome, short_message(report)

    def pytest_sessionfinish(self, session):
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(list(self.results.values()), f, indent=1)


def pytest_configure(config):
    path = config.getoption("--check-results")
    if path:
        config.pluginmanager.register(Recorder(path), "edgewasm-check-recorder")
