"""Image policies on rego-cpp (regopy), offline, in the format of
`gator verify`; and what a weakened policy does to the suite."""

from pathlib import Path

import pytest
import yaml

from edgewasm import policy
from tests.fixtures import manifests
from tests.fixtures import policy_harness as harness
from tests.fixtures.policy_variants import TEMPLATES, bare_prefix_repos, digests_not_exempt, rule_removed

SUITE = Path(__file__).resolve().parents[1] / "policies" / "image-policies.yaml"


def test_policy_suite_passes():
    assert harness.run_suite(SUITE) == []


@pytest.mark.parametrize("template,field", [
    ("k8sallowedrepos", "initContainers"),
    ("k8sallowedrepos", "ephemeralContainers"),
    ("k8sdisallowedtags", "initContainers"),
])
def test_suite_fails_when_a_container_kind_is_no_longer_checked(template, field):
    failures = harness.run_suite(SUITE, {template: rule_removed(template, field)})
    kind = field.removesuffix("s")
    assert any(kind in line.split(": expected")[0] for line in failures), failures


def test_suite_fails_when_repos_match_as_bare_prefixes():
    """The library's plain startswith lets yourhub-evil/... pass for yourhub."""
    failures = harness.run_suite(SUITE, {"k8sallowedrepos": bare_prefix_repos()})
    assert any("prefix trick on a registry name" in f for f in failures), failures
    assert any("prefix trick on a repository name" in f for f in failures), failures


def test_suite_fails_when_digests_are_not_exempt_from_tag_rules():
    failures = harness.run_suite(SUITE, {"k8sdisallowedtags": digests_not_exempt()})
    assert any(f.startswith("disallowed-tags/digest") for f in failures), failures


def test_every_template_compiles_in_the_engine():
    from regopy import Interpreter, RegoError

    for name, template in TEMPLATES.items():
        interpreter = Interpreter()
        interpreter.add_module(f"{name}.rego", harness.template_rego(template))
        with pytest.raises(RegoError):
            Interpreter().add_module("broken.rego", harness.template_rego(template).replace("{", "(", 1))


def test_messages_name_container_kind_image_and_trusted_repos():
    constraint = next(d for d in yaml.safe_load_all(manifests.constraints({"policy_allowed_repos": ["r.example"]}))
                      if d["kind"] == "K8sAllowedRepos")
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "apps"},
           "spec": {"containers": [{"name": "app", "image": "evil.io/app:1"}]}}
    assert harness.violations(TEMPLATES["k8sallowedrepos"], constraint, pod) == [
        "container <app> uses image <evil.io/app:1> from an untrusted repository; trusted: r.example"]


def test_policy_namespaces_scope_the_constraints():
    docs = list(yaml.safe_load_all(manifests.constraints({"policy_namespaces": ["apps"]})))
    assert [d["kind"] for d in docs] == ["K8sAllowedRepos", "K8sDisallowedTags"]
    for doc in docs:
        assert doc["spec"]["match"]["namespaces"] == ["apps"]
        assert "kube-system" in doc["spec"]["match"]["excludedNamespaces"]
        assert doc["spec"]["enforcementAction"] == "deny"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "other"},
           "spec": {"containers": [{"name": "app", "image": "evil.io/app:latest"}]}}
    assert harness.violations(TEMPLATES["k8sallowedrepos"], docs[0], pod) == []


def test_no_disallowed_tags_means_no_tags_constraint():
    docs = [d for d in yaml.safe_load_all(manifests.constraints({"policy_disallowed_tags": []})) if d]
    assert [d["kind"] for d in docs] == ["K8sAllowedRepos"]


def test_rendered_gatekeeper_manifests_validate():
    from edgewasm.compliance.schema import validate_manifest

    (chart,) = validate_manifest(manifests.helmchart({}, "3.23.0", b"chart bytes"))
    values = yaml.safe_load(chart["spec"]["valuesContent"])
    assert values["replicas"] == 1 and values["validatingWebhookFailurePolicy"] == "Fail"
    assert values["image"] == {"release": "v3.23.0", "pullPolicy": "IfNotPresent"}
    assert values["controllerManager"]["resources"]["limits"]["memory"] == "384Mi"
    assert values["postInstall"]["labelNamespace"]["extraNamespaces"] == ["kube-system", "kube-public", "kube-node-lease"]
    assert values["postInstall"]["probeWebhook"]["enabled"] is False
    import base64

    assert base64.b64decode(chart["spec"]["chartContent"]) == b"chart bytes"
    for template in policy.POLICY_TEMPLATES:
        validate_manifest(template.read_text())
    validate_manifest(manifests.constraints({"policy_namespaces": ["apps"]}))


def test_schema_check_catches_a_wrong_constraint_parameter():
    import jsonschema

    from edgewasm.compliance.schema import validate_manifest

    with pytest.raises(jsonschema.ValidationError):
        validate_manifest(manifests.constraints({}).replace("repos:", "repositories:"))


def test_a_yaml_boolean_assertion_is_refused_as_gator_refuses_it(tmp_path):
    text = SUITE.read_text().replace("../../templates/", f"{SUITE.parents[2]}/templates/")
    unquoted = tmp_path / "unquoted.yaml"
    unquoted.write_text(text.replace("violations: 'no'", "violations: no", 1))
    with pytest.raises(ValueError, match="quote yes/no"):
        harness.run_suite(unquoted)
