"""Image policies as data: the ConstraintTemplates (templates/policies/), and the values
the Gatekeeper HelmChart and the Constraints are rendered from for the inventory's
settings (deploys/gatekeeper.py). The policy suites and the engines that run them
(gator, rego-cpp) are test code: tests/fixtures/policy_harness.py.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

from edgewasm import templates
from edgewasm.settings import value as setting
from edgewasm.templates import render

# The templates (under templates/) the Gatekeeper deploy renders; tests render the same.
CONSTRAINTS_TEMPLATE = "policies/constraints.yaml.j2"
HELMCHART_TEMPLATE = "gatekeeper/helmchart.yaml.j2"
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
