"""The image policies on Gatekeeper's own engine: gator (built from Gatekeeper's Go module
at the version edgewasm deploys, tests/gotools) runs every policy suite, agrees with
rego-cpp on every case, catches every weakened template, and refuses the manifests
Gatekeeper would refuse; OPA's own checker lints the Rego. Skipped where gator or opa is
not built, except under ./run test, which builds them and fails instead."""

import copy
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.fixtures import gotools, manifests
from tests.fixtures import policy_harness as harness
from tests.fixtures.policy_variants import TEMPLATES, variants

ROOT = Path(__file__).resolve().parents[2]
SUITES = sorted((ROOT / "tests" / "policies").glob("*.yaml"))
SUITE = ROOT / "tests" / "policies" / "image-policies.yaml"


@pytest.fixture(scope="module")
def gator():
    return gotools.need("gator")


def _cases(suite: Path) -> int:
    return sum(len(t["cases"]) for t in yaml.safe_load(suite.read_text())["tests"])


def test_gator_embeds_the_opa_that_opa_check_uses(gator):
    """The release pins themselves are unit-tested (tests/unit/test_gotools.py)."""
    opa = gotools.required("gotools", "github.com/open-policy-agent/opa")
    assert f"opa/{opa}" in subprocess.run([gator, "--version"], capture_output=True, text=True, check=True).stdout
    assert opa[1:] in subprocess.run([gotools.need("opa"), "version"], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("suite", SUITES, ids=lambda p: p.name)
def test_every_suite_passes_on_gatekeepers_engine(gator, suite):
    results = harness.gator_case_results(suite, gator)
    assert len(results) == _cases(suite)
    assert {case: errors for case, errors in results.items() if errors} == {}


@pytest.mark.parametrize("suite", SUITES, ids=lambda p: p.name)
def test_gator_and_rego_cpp_agree_on_every_case(gator, suite):
    assert harness.engines_disagree(harness.gator_case_results(suite, gator), harness.case_results(suite)) == []


@pytest.mark.parametrize("name", sorted(variants()))
def test_gator_catches_each_weakened_template_as_rego_cpp_does(gator, name):
    template, rego, must_fail = variants()[name]
    on_gator = harness.gator_case_results(SUITE, gator, {template: rego})
    on_rego_cpp = harness.case_results(SUITE, {template: rego})
    failed = [case for case, errors in on_gator.items() if errors]
    assert any(must_fail in case for case in failed), failed
    assert harness.engines_disagree(on_gator, on_rego_cpp) == []


def test_a_flipped_case_fails_on_gator(gator, tmp_path):
    """One assertion turned round on purpose: the suite must go red."""
    text = SUITE.read_text().replace("../../templates/", f"{ROOT}/templates/")
    flipped = tmp_path / "flipped.yaml"
    flipped.write_text(text.replace("violations: 'no'", "violations: 'yes'", 1))
    failed = {case: errors for case, errors in harness.gator_case_results(flipped, gator).items() if errors}
    assert list(failed) == ["trusted-repos/trusted registry"], failed
    assert "want at least 1" in failed["trusted-repos/trusted registry"][0]


def _rendered(data):
    return [d for d in yaml.safe_load_all(manifests.constraints(data)) if d]


@pytest.mark.parametrize("data", [{}, {"policy_namespaces": ["apps"]}, {"policy_disallowed_tags": []},
                                  {"policy_allowed_repos": ["registry.site-a.example:5000", "myorg"]}])
def test_gatekeeper_loads_every_template_and_rendered_constraint(gator, data):
    for constraint in _rendered(data):
        template = next(t for t in TEMPLATES.values() if t["spec"]["crd"]["spec"]["names"]["kind"] == constraint["kind"])
        assert harness.gator_refusal(gator, template, constraint) is None


def _mutated(path, value, doc):
    doc = copy.deepcopy(doc)
    *parents, last = path
    target = doc
    for key in parents:
        target = target[key]
    if value is None:
        target[last + "s"] = target.pop(last)  # a misspelt field
    else:
        target[last] = value
    return doc


REFUSALS = [  # (what is changed, to what, in which, what Gatekeeper says)
    (("spec", "parameters", "repos"), "docker.io/", "constraint", "schema"),
    (("spec", "parameters", "repos"), None, "constraint", "unknown fields"),
    (("metadata", "name"), "k8sallowedrepo", "template", "not equal to the lowercase of CRD's Kind"),
    (("spec", "targets", 0, "rego"), "package k8sallowedrepos\nviolation[{\"msg\": m}] { m := }", "template",
     "rego_parse_error"),
]


@pytest.mark.parametrize("path,value,which,says", REFUSALS, ids=["param-type", "param-unknown", "template-name", "rego-syntax"])
def test_gatekeeper_refuses_what_it_would_refuse_in_a_cluster(gator, path, value, which, says):
    template = TEMPLATES["k8sallowedrepos"]
    constraint = next(d for d in _rendered({}) if d["kind"] == "K8sAllowedRepos")
    if which == "template":
        template = _mutated(path, value, template)
    else:
        constraint = _mutated(path, value, constraint)
    refusal = harness.gator_refusal(gator, template, constraint)
    assert refusal and says in refusal, refusal


def test_opa_check_strict_passes_every_template(tmp_path):
    opa = gotools.need("opa")
    files = []
    for name, template in TEMPLATES.items():
        files.append(tmp_path / f"{name}.rego")
        files[-1].write_text(harness.template_rego(template))
    # Gatekeeper's `rego` field is Rego v0 (its v1 syntax goes in `code`), hence --v0-compatible.
    done = subprocess.run([opa, "check", "--strict", "--v0-compatible", *map(str, files)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    unused = tmp_path / "unused.rego"
    unused.write_text(harness.template_rego(TEMPLATES["k8sallowedrepos"]).replace(
        "violation[{\"msg\": msg}] {\n", "violation[{\"msg\": msg}] {\n  spare := 1\n", 1))
    done = subprocess.run([opa, "check", "--strict", "--v0-compatible", str(unused)], capture_output=True, text=True)
    assert done.returncode != 0 and "spare" in done.stdout + done.stderr
