"""operations/pyinfra_internals.py is the only place edgewasm touches pyinfra past its
public API; these fail on a pyinfra that changed what it relies on."""

import re
from pathlib import Path

from pyinfra.api import operations

from operations import pyinfra_internals

ROOT = Path(__file__).resolve().parents[2]
# Names of pyinfra's private internals (and state it builds before any deploy runs).
PRIVATE = re.compile(r"_run_host_op_with_context|_maybe_is_change|ctx_config|state\.pool\b|state\.ops\b")


def test_the_installed_pyinfra_is_one_edgewasm_was_proven_on():
    assert pyinfra_internals.proven(), (
        f"pyinfra is outside {pyinfra_internals.PROVEN_ON}: re-prove operations/pyinfra_internals.py "
        "(the drift and fault tests on the bed) before widening PROVEN_ON")


def test_everything_relied_on_is_there():
    assert pyinfra_internals.missing() == []


def test_no_other_module_touches_pyinfra_internals():
    touching = [f"{path.relative_to(ROOT)}:{n}" for package in ("deploys", "operations", "facts", "edgewasm")
                for path in (ROOT / package).rglob("*.py") if path.name != "pyinfra_internals.py"
                for n, line in enumerate(path.read_text().splitlines(), 1)
                if PRIVATE.search(line) and not line.lstrip().startswith("#")]
    assert touching == []


def test_host_failures_are_isolated_once(monkeypatch):
    calls = []

    def runner(state, host, op_hash):
        calls.append(op_hash)
        return True

    def wrap(run_host_op):
        return lambda state, host, op_hash: run_host_op(state, host, op_hash)

    monkeypatch.setattr(operations, "_run_host_op_with_context", runner)
    pyinfra_internals.isolate_host_failures(wrap)
    first = operations._run_host_op_with_context
    pyinfra_internals.isolate_host_failures(wrap)
    assert operations._run_host_op_with_context is first is not runner
    assert first(None, None, "op") and calls == ["op"]
