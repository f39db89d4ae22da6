"""The layer rule docs/architecture.md draws: a module never imports one of a higher
layer, the tools on top never import each other, and no module imports itself in a
circle (benchmarks/architecture.py reads the imports from the source)."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("architecture", ROOT / "benchmarks" / "architecture.py")
architecture = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(architecture)


@pytest.fixture(scope="module")
def edges():
    return architecture.graph()[0]


def test_no_module_imports_a_higher_layer(edges):
    assert architecture.against_layers(edges) == []


def test_no_import_circles(edges):
    assert architecture.circles(edges) == []


def test_every_module_has_a_layer():
    assert {architecture.layer_of(m) for m in architecture.modules()} <= set(architecture.LAYERS)


def test_deploys_holds_component_deploys_only():
    """Operations live in operations/, the checker's installer in the compliance package."""
    names = {p.stem for p in (ROOT / "deploys").glob("*.py")}
    assert not names & {"host_ops", "host_files", "run_summary", "nightly_check"}


def test_the_rule_catches_an_upward_import():
    bad = {"facts.host": {"deploys.k3s"}, "edgewasm.bundle.cli": {"edgewasm.compliance.cli"},
           "deploys.k3s": {"operations.host_files"}}
    assert architecture.against_layers(bad) == [("edgewasm.bundle.cli", "edgewasm.compliance.cli"),
                                                ("facts.host", "deploys.k3s")]


def test_the_bench_is_a_tool_the_rule_covers():
    """edgewasm.bench may use edgewasm's own modules, never another tool, and nothing below
    it may import it."""
    assert architecture.layer_of("edgewasm.bench.policy") == "edgewasm.bench"
    assert "edgewasm.bench.opa_wasm" in architecture.modules()
    bad = {"edgewasm.bench.policy": {"edgewasm.compliance.cli", "edgewasm.policy"},
           "edgewasm.testbed.cli": {"edgewasm.bench.policy"}, "edgewasm.policy": {"edgewasm.bench.opa_wasm"}}
    assert architecture.against_layers(bad) == [("edgewasm.bench.policy", "edgewasm.compliance.cli"),
                                                ("edgewasm.policy", "edgewasm.bench.opa_wasm"),
                                                ("edgewasm.testbed.cli", "edgewasm.bench.policy")]
    assert architecture.circles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
