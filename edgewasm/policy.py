"""Image policies as data: Gatekeeper values, ConstraintTemplates and Constraints rendered
from inventory settings, and a gator-verify-style suite runner on a real Rego engine.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from pathlib import Path

import yaml

from edgewasm import templates
from edgewasm.settings import value as setting
from edgewasm.templates import render

POLICY_TEMPLATES = sorted((templates.DIR / "policies").glob("*.yaml"))
REPOS_CONSTRAINT = "edgewasm-trusted-repos"
TAGS_CONSTRAINT = "edgewasm-disallowed-tags"


def constraint_values(data: Mapping) -> dict:
    """What templates/policies/constraints.yaml.j2 renders for the inventory's settings."""
    exempt = list(setting(data, "gatekeeper_exempt_namespaces"))
    return {
        "repos_constraint": REPOS_CONSTRAINT,
        "tags_constraint": TAGS_CONSTRAINT,
        "allowed_repos": list(setting(data, "policy_allowed_repos")),
        "disallowed_tags": list(setting(data, "policy_disallowed_tags")),
        "namespaces": list(setting(data, "policy_namespaces")),
        # Gatekeeper skips exempt namespaces anyway; saying so here keeps `kubectl get` honest.
        "excluded_namespaces": exempt,
    }


def constraints(data: Mapping) -> str:
    return render("policies/constraints.yaml.j2", **constraint_values(data))


def gatekeeper_values(data: Mapping, version: str) -> dict:
    """What templates/gatekeeper/values.yaml.j2 renders: sized for a 2 GB Raspberry Pi,
    images only from the node's preloaded ones (IfNotPresent, no curl probe image)."""
    return {
        "version": version,
        "replicas": setting(data, "gatekeeper_replicas"),
        "failure_policy": setting(data, "gatekeeper_failure_policy"),
        "timeout": setting(data, "gatekeeper_webhook_timeout"),
        "audit_interval": setting(data, "gatekeeper_audit_interval"),
        "cpu_request": setting(data, "gatekeeper_cpu_request"),
        "memory_request": setting(data, "gatekeeper_memory_request"),
        "memory_limit": setting(data, "gatekeeper_memory_limit"),
        "exempt_namespaces": list(setting(data, "gatekeeper_exempt_namespaces")),
    }


def helmchart_values(data: Mapping, version: str, chart: bytes) -> dict:
    """What templates/gatekeeper/helmchart.yaml.j2 renders."""
    return {
        "namespace": setting(data, "gatekeeper_namespace"),
        "version": version,
        "chart_content": base64.b64encode(chart).decode(),
        "values": render("gatekeeper/values.yaml.j2", **gatekeeper_values(data, version)),
    }


def helmchart(data: Mapping, version: str, chart: bytes) -> str:
    return render("gatekeeper/helmchart.yaml.j2", **helmchart_values(data, version, chart))


# ------------------------------------------------------------------------- suite runner

def template_rego(template: Mapping) -> str:
    return template["spec"]["targets"][0]["rego"]


def _in_scope(constraint: Mapping, namespace: str | None) -> bool:
    match = constraint.get("spec", {}).get("match", {})
    if namespace in (match.get("excludedNamespaces") or []):
        return False
    return not match.get("namespaces") or namespace in match["namespaces"]


def review(obj: Mapping, parameters: Mapping) -> dict:
    """The input Gatekeeper gives a template for a CREATE of ``obj``."""
    group, _, version = obj.get("apiVersion", "v1").rpartition("/")
    return {
        "review": {
            "kind": {"group": group, "version": version, "kind": obj["kind"]},
            "operation": "CREATE",
            "name": obj.get("metadata", {}).get("name"),
            "namespace": obj.get("metadata", {}).get("namespace", "default"),
            "object": obj,
        },
        "parameters": dict(parameters),
    }


def violations(template: Mapping, constraint: Mapping, obj: Mapping, rego: str | None = None) -> list[str]:
    """The messages ``constraint`` (an instance of ``template``) gives for ``obj``,
    evaluated by rego-cpp (regopy). ``rego`` replaces the template's own code.

    regopy must be loaded before greenlet (gevent) in a process, or rego-cpp aborts:
    tests/conftest.py loads it first; the CLI below never loads gevent."""
    from regopy import Interpreter

    namespace = obj.get("metadata", {}).get("namespace", "default")
    if not _in_scope(constraint, namespace):
        return []
    interpreter = Interpreter()
    code = rego if rego is not None else template_rego(template)
    package = re.search(r"^package\s+(\S+)", code, re.M).group(1)
    interpreter.add_module(f"{package}.rego", code)
    interpreter.set_input(review(obj, constraint.get("spec", {}).get("parameters", {})))
    out = interpreter.query(f"data.{package}.violation")
    if len(out) == 0:
        raise RuntimeError(f"{template['metadata']['name']}: Rego evaluation failed: {out}")
    return sorted(v["msg"] for v in out[0].expressions[0])


def _expected(count, found: int) -> bool:
    if count in ("yes", True):
        return found > 0
    if count in ("no", False):
        return found == 0
    return found == int(count)


def run_suite(path: Path, rego_override: Mapping[str, str] | None = None) -> list[str]:
    """Run a Suite file; return one line per failed assertion (empty: all passed).

    Format, as ``gator verify``: tests -> (template, constraint, cases -> (object,
    assertions -> (violations: yes|no|N, message: regex))). ``constraint`` is either a
    file or ``constraint_data``: inventory settings rendered by edgewasm into the real
    Constraints; the one whose kind the template defines is used.
    """
    suite = yaml.safe_load(path.read_text())
    failures = []
    for test in suite["tests"]:
        template = yaml.safe_load((path.parent / test["template"]).read_text())
        kind = template["spec"]["crd"]["spec"]["names"]["kind"]
        if "constraint_data" in test:
            docs = yaml.safe_load_all(constraints(test["constraint_data"]))
        else:
            docs = yaml.safe_load_all((path.parent / test["constraint"]).read_text())
        constraint = next(d for d in docs if d and d["kind"] == kind)
        rego = (rego_override or {}).get(template["metadata"]["name"])
        for case in test["cases"]:
            found = violations(template, constraint, case["object"], rego)
            for assertion in case["assertions"]:
                matching = [m for m in found if re.search(assertion["message"], m)] if "message" in assertion else found
                if not _expected(assertion["violations"], len(matching)):
                    failures.append(f"{test['name']}/{case['name']}: expected violations "
                                    f"{assertion['violations']}{' matching ' + repr(assertion['message']) if 'message' in assertion else ''}, "
                                    f"got {found}")
    return failures


def main(argv: list[str] | None = None) -> int:
    """``python -m edgewasm.policy verify SUITE...``: run policy suites offline."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m edgewasm.policy")
    parser.add_argument("command", choices=["verify"])
    parser.add_argument("suites", nargs="+", type=Path)
    args = parser.parse_args(argv)
    failed = 0
    for suite in args.suites:
        failures = run_suite(suite)
        for line in failures:
            print(f"FAIL {suite}: {line}")
        print(f"{'ok' if not failures else 'FAILED'}: {suite}")
        failed += len(failures)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
