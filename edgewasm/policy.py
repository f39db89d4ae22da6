"""Image policies as data: Gatekeeper values, ConstraintTemplates and Constraints rendered
from inventory settings, and policy suites (gator verify's format) run on Gatekeeper's
own engine (gator, where installed) and on rego-cpp (regopy, from PyPI, for a machine
without Go).
"""

from __future__ import annotations

import base64
import copy
import os
import re
import shutil
import subprocess
import tempfile
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
    """gator's assertion: "yes", "no" or a number (a YAML boolean is refused, as gator does)."""
    if count == "yes":
        return found > 0
    if count == "no":
        return found == 0
    if isinstance(count, int) and not isinstance(count, bool):
        return found == count
    raise ValueError(f"violations: {count!r} is not \"yes\", \"no\" or a number (quote yes/no in YAML)")


def _suite_tests(path: Path):
    """Each test of a Suite file: (test, template, constraint) with the Constraint rendered
    from ``constraint_data`` when the test gives inventory data instead of a file."""
    suite = yaml.safe_load(path.read_text())
    for test in suite["tests"]:
        template = yaml.safe_load((path.parent / test["template"]).read_text())
        kind = template["spec"]["crd"]["spec"]["names"]["kind"]
        if "constraint_data" in test:
            docs = yaml.safe_load_all(constraints(test["constraint_data"]))
        else:
            docs = yaml.safe_load_all((path.parent / test["constraint"]).read_text())
        yield test, template, next(d for d in docs if d and d["kind"] == kind)


def case_results(path: Path, rego_override: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    """rego-cpp's verdict on each case of a Suite file: ``test/case`` -> its failed
    assertions (empty: passed).

    Format, as ``gator verify``: tests -> (template, constraint, cases -> (object,
    assertions -> (violations: yes|no|N, message: regex))). ``constraint`` is either a
    file or ``constraint_data``: inventory settings rendered by edgewasm into the real
    Constraints; the one whose kind the template defines is used.
    """
    results = {}
    for test, template, constraint in _suite_tests(path):
        rego = (rego_override or {}).get(template["metadata"]["name"])
        for case in test["cases"]:
            found = violations(template, constraint, case["object"], rego)
            failed = []
            for assertion in case["assertions"]:
                matching = [m for m in found if re.search(assertion["message"], m)] if "message" in assertion else found
                if not _expected(assertion["violations"], len(matching)):
                    failed.append(f"expected violations {assertion['violations']}"
                                  f"{' matching ' + repr(assertion['message']) if 'message' in assertion else ''}, "
                                  f"got {found}")
            results[f"{test['name']}/{case['name']}"] = failed
    return results


def run_suite(path: Path, rego_override: Mapping[str, str] | None = None) -> list[str]:
    """Run a Suite file on rego-cpp; one line per failed assertion (empty: all passed)."""
    return [f"{case}: {line}" for case, lines in case_results(path, rego_override).items() for line in lines]


# ------------------------------------------------------------------ Gatekeeper's gator

def _write_gator_suite(out: Path, name: str, tests: list[tuple[str, Mapping, Mapping, list[Mapping]]]) -> Path:
    """A Suite file as gator reads it, under ``out``, with each test's template, its
    Constraint and each case's object in a file of its own. ``tests``: (name, template,
    constraint, cases as in a Suite, each with its object inline)."""
    written = []
    for n, (test, template, constraint, cases) in enumerate(tests):
        files = {"template": f"t{n}-template.yaml", "constraint": f"t{n}-constraint.yaml"}
        (out / files["template"]).write_text(yaml.safe_dump(dict(template)))
        (out / files["constraint"]).write_text(yaml.safe_dump(dict(constraint)))
        for m, case in enumerate(cases):
            (out / f"t{n}-c{m}.yaml").write_text(yaml.safe_dump(case["object"]))
        written.append({"name": test, **files, "cases": [
            {"name": case["name"], "object": f"t{n}-c{m}.yaml", "assertions": case["assertions"]}
            for m, case in enumerate(cases)]})
    suite = out / "suite.yaml"
    suite.write_text(yaml.safe_dump({"apiVersion": "test.gatekeeper.sh/v1alpha1", "kind": "Suite",
                                     "metadata": {"name": name}, "tests": written}, sort_keys=False))
    return suite


def write_gator_suite(path: Path, out: Path, rego_override: Mapping[str, str] | None = None) -> Path:
    """``path``'s Suite as ``gator verify`` reads it, under ``out``: each template (its
    Rego replaced where ``rego_override`` says), the Constraint edgewasm renders, and each
    case's object in a file of its own. Returns the suite file."""
    tests = []
    for test, template, constraint in _suite_tests(path):
        name = template["metadata"]["name"]
        if name in (rego_override or {}):
            template = copy.deepcopy(template)
            template["spec"]["targets"][0]["rego"] = rego_override[name]
        tests.append((test["name"], template, constraint, test["cases"]))
    return _write_gator_suite(out, path.stem, tests)


def _gator_verify(gator: str, suite: Path) -> subprocess.CompletedProcess:
    return subprocess.run([gator, "verify", "-v", str(suite)], capture_output=True, text=True, timeout=300)


def parse_gator_verify(output: str) -> dict[str, list[str]]:
    """``gator verify -v`` output -> ``test/case`` -> its error lines (empty: passed). A
    test that failed as a whole (a template or Constraint gator refused) is keyed by its
    own name."""
    results: dict[str, list[str]] = {}
    failed, whole_tests = set(), set()
    test = current = None
    indent = ""  # a case's error lines are indented 8, a whole test's 2
    for line in output.splitlines():
        if m := re.match(r"^=== RUN   (.+)$", line):
            test, current = m.group(1), None
        elif m := re.match(r"^    --- (PASS|FAIL): (.*)\t\(", line):
            key = f"{test}/{m.group(2)}"
            current, indent = results.setdefault(key, []), " " * 8
            if m.group(1) == "FAIL":
                failed.add(key)
            else:
                current = None
        elif m := re.match(r"^--- FAIL: (.*)\t\(", line):
            current, indent = results.setdefault(m.group(1), []), "  "
            failed.add(m.group(1))
            whole_tests.add(m.group(1))
        elif current is not None and re.match(f"^{indent}\\S", line):
            current.append(line.strip())
        else:
            current = None
    for key in failed:
        results[key] = results[key] or ["failed"]
    for name in whole_tests:  # failed only through its cases: nothing of its own to say
        if results[name] == ["failed"] and any(k.startswith(f"{name}/") and v for k, v in results.items()):
            del results[name]
    return results


def gator_case_results(path: Path, gator: str, rego_override: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    """Gatekeeper's own engine (``gator verify``) on each case of ``path``'s Suite,
    keyed as case_results keys rego-cpp's."""
    with tempfile.TemporaryDirectory(prefix="edgewasm-gator-") as tmp:
        done = _gator_verify(gator, write_gator_suite(path, Path(tmp), rego_override))
    results = parse_gator_verify(done.stdout)
    if done.returncode not in (0, 1) or (done.returncode == 1 and not any(results.values())):
        raise RuntimeError(f"gator verify {path} broke (exit {done.returncode}): "
                           f"{(done.stderr or done.stdout).strip()[-500:]}")
    return results


def gator_refusal(gator: str, template: Mapping, constraint: Mapping) -> str | None:
    """Why Gatekeeper's own code (gator) refuses to load ``template`` and ``constraint``
    (a ConstraintTemplate whose Rego does not compile, a Constraint its schema rejects...),
    or None when it loads both."""
    with tempfile.TemporaryDirectory(prefix="edgewasm-gator-") as tmp:
        done = _gator_verify(gator, _write_gator_suite(Path(tmp), "load", [("load", template, constraint, [])]))
    if done.returncode == 0:
        return None
    return " ".join(parse_gator_verify(done.stdout).get("load") or [(done.stderr or done.stdout).strip()[-500:]])


def find_gator() -> str | None:
    """gator as ``$EDGEWASM_GATOR`` names it, or on PATH."""
    return os.environ.get("EDGEWASM_GATOR") or shutil.which("gator")


def engines_disagree(*results: Mapping[str, list[str]]) -> list[str]:
    """Cases that one engine passes and another fails, or that only one engine ran."""
    keys = sorted(set().union(*results))
    return [k for k in keys if len({k in r and not r[k] for r in results}) > 1]


def main(argv: list[str] | None = None) -> int:
    """``python -m edgewasm.policy verify SUITE...``: run policy suites offline, on
    Gatekeeper's own engine (gator) where it is installed and on rego-cpp; with both,
    every case must get the same verdict from each."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m edgewasm.policy")
    parser.add_argument("command", choices=["verify"])
    parser.add_argument("suites", nargs="+", type=Path)
    parser.add_argument("--engine", choices=["auto", "gator", "rego-cpp", "both"], default="auto",
                        help="auto: both when gator is found ($EDGEWASM_GATOR or PATH), else rego-cpp")
    args = parser.parse_args(argv)
    gator = find_gator()
    engine = args.engine if args.engine != "auto" else ("both" if gator else "rego-cpp")
    if engine in ("gator", "both") and not gator:
        parser.error("gator not found: set EDGEWASM_GATOR or put it on PATH "
                     "(python -m tests.fixtures.gotools builds it)")
    if args.engine == "auto" and not gator:
        print("note: gator not found; rego-cpp only (python -m tests.fixtures.gotools builds gator)")
    bad = 0
    for suite in args.suites:
        runs = {}
        if engine in ("gator", "both"):
            runs["gator"] = gator_case_results(suite, gator)
        if engine in ("rego-cpp", "both"):
            runs["rego-cpp"] = case_results(suite)
        lines = [f"FAIL {suite} [{name}] {case}: {'; '.join(errors)}"
                 for name, results in runs.items() for case, errors in results.items() if errors]
        lines += [f"DISAGREE {suite} {case}: " + ", ".join(
            f"{name} {'passes' if not r.get(case, ['absent']) else 'fails'}" for name, r in runs.items())
            for case in engines_disagree(*runs.values())]
        print("\n".join(lines + [f"{'ok' if not lines else 'FAILED'}: {suite} "
                                 f"({len(next(iter(runs.values())))} cases on {' and '.join(runs)})"]))
        bad += len(lines)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
