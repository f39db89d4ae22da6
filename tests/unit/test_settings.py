"""One declaration of every setting (edgewasm/settings.py): validation, the deploys'
defaults, group_data/all.py and docs/settings.md come from it, and no default lives
anywhere else."""

import ast
import runpy
from pathlib import Path

import pytest

from edgewasm import settings

ROOT = Path(__file__).resolve().parents[2]
CODE = sorted([*ROOT.glob("edgewasm/**/*.py"), *ROOT.glob("deploys/*.py"), *ROOT.glob("facts/*.py")])


def test_every_default_passes_its_own_check():
    for s in settings.SETTINGS.values():
        if s.default is not None:
            assert s.check(s.default) is None, s.name
        assert s.name.startswith(settings.OWNED_PREFIXES), s.name
        assert s.doc and s.fix and s.type, s.name


def test_group_data_all_is_the_generated_documentation_and_sets_nothing():
    assert (ROOT / "group_data/all.py").read_text() == settings.group_data_all(), \
        "regenerate: python -m edgewasm.settings all.py > group_data/all.py"
    assert {k for k in runpy.run_path(str(ROOT / "group_data/all.py")) if not k.startswith("__")} == set()
    for name in settings.SETTINGS:
        assert f"# {name} = " in settings.group_data_all()


def test_docs_settings_table_is_generated():
    assert (ROOT / "docs/settings.md").read_text() == settings.settings_table(), \
        "regenerate: python -m edgewasm.settings settings.md > docs/settings.md"


def test_deploys_get_every_default_from_the_declaration():
    from deploys import DEFAULTS

    assert DEFAULTS == settings.defaults()
    for path in ROOT.glob("deploys/*.py"):
        if path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text())
        bare = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == "deploy"]
        assert bare == [], f"{path.name}:{bare}: use deploys.edgewasm_deploy (it carries the defaults)"


def _setting_reads(tree):
    """(line, setting, node) for every ``X.get("setting", ...)`` and ``X.data.setting``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" \
                and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str) \
                and node.args[0].value.startswith(settings.OWNED_PREFIXES):
            yield node.lineno, node.args[0].value, node
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) \
                and node.value.attr == "data" and node.attr.startswith(settings.OWNED_PREFIXES):
            yield node.lineno, node.attr, node


@pytest.mark.parametrize("path", CODE, ids=[str(p.relative_to(ROOT)) for p in CODE])
def test_code_reads_only_declared_settings_and_adds_no_default(path):
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    for line, name, node in _setting_reads(tree):
        assert name in settings.SETTINGS, f"{path.name}:{line}: {name} is not declared in edgewasm/settings.py"
        if isinstance(node, ast.Call):
            assert len(node.args) == 1 and not node.keywords, f"{path.name}:{line}: a default for {name} in code"
        parent = parents.get(node)
        # `a or b` where b is another setting is a documented fallback; `a or 300` is a default.
        if isinstance(parent, ast.BoolOp) and isinstance(parent.op, ast.Or) and parent.values[0] is node \
                and any(isinstance(v, (ast.Constant, ast.List, ast.Dict, ast.Tuple, ast.Set)) for v in parent.values[1:]):
            pytest.fail(f"{path.name}:{line}: `{name} or <literal>` is a default in code; declare it instead")


def test_value_and_merged_fall_back_to_the_declaration():
    assert settings.value({}, "k3s_ready_timeout") == 300
    assert settings.value({"k3s_ready_timeout": 30}, "k3s_ready_timeout") == 30
    merged = settings.merged({"k3s_ha": True, "ssh_hostname": "x"})
    assert merged["k3s_ha"] is True and merged["ssh_hostname"] == "x"
    assert merged["preflight_packages"] == settings.SETTINGS["preflight_packages"].default
    merged["preflight_packages"].append("mutated")
    assert "mutated" not in settings.defaults()["preflight_packages"]


def test_roles_are_groups():
    assert settings.role(["k3s_servers", "all"]) == "server"
    assert settings.role(["raspberry_pi", "k3s_agents"]) == "agent"
    assert settings.role(["raspberry_pi"]) is None
