"""Our FIXTURE Gatekeeper chart (tests/fixtures/gatekeeper_chart.py) rendered by Helm's own
engine, from the HelmChart edgewasm's deploy writes: its chartContent and valuesContent
handed to our helm installer (tests/helm/installer, the Job image K3s's helm-controller
runs) as helm-controller hands them over, and rendered by its ``template`` action (helm
install --dry-run, client only). The objects must be valid for the pinned Kubernetes and
follow the inventory's settings.

Needs Go (controller-gen and Gatekeeper's module, the installer); skipped without it,
failed instead where $EDGEWASM_REQUIRE_TOOLS is set (./run test sets it)."""

from __future__ import annotations

import base64
import io
import os
import shutil
import subprocess
import tarfile

import pytest
import yaml

from edgewasm.artifacts import load_catalog
from tests.fixtures import gatekeeper_chart, gotools, manifests

VERSION = load_catalog(lock=False)["gatekeeper"]["version"]
IMAGE = f"docker.io/openpolicyagent/gatekeeper:v{VERSION}"  # as the bundle's image is imported
NAMESPACE = "gatekeeper-system"
DATA = {"gatekeeper_failure_policy": "Ignore", "gatekeeper_webhook_timeout": 7, "gatekeeper_replicas": 2,
        "gatekeeper_audit_interval": 120, "gatekeeper_cpu_request": "25m", "gatekeeper_memory_request": "100Mi",
        "gatekeeper_memory_limit": "300Mi", "gatekeeper_exempt_namespaces": ["kube-system", "edge-infra"]}


@pytest.fixture(scope="module")
def chart() -> bytes:
    if not shutil.which("go"):
        reason = "Go is not installed: controller-gen and the helm installer are built from Go modules"
        if os.environ.get("EDGEWASM_REQUIRE_TOOLS"):
            pytest.fail(reason)
        pytest.skip(reason)
    return gatekeeper_chart.chart_archive(VERSION)


def docker_reference(image: str) -> str:
    """``image`` fully qualified as containerd's CRI resolves a pod's image (the docker
    reference rules: no registry host means docker.io, one path element means library/)."""
    first, _, rest = image.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"):
        image = f"docker.io/{image if rest else 'library/' + image}"
    return image


def render(chart: bytes, data: dict, tmp_path) -> dict[tuple[str, str], dict]:
    """(kind, name) -> object, as the helm installer renders the deploy's HelmChart."""
    (helmchart,) = [d for d in yaml.safe_load_all(manifests.helmchart(data, VERSION, chart)) if d]
    spec = helmchart["spec"]
    # helm-controller: the chart's base64 in a ConfigMap mounted at /chart as <name>.tgz.base64,
    # the values in a Secret mounted at /config (pkg/controllers/chart/chart.go).
    content, config = tmp_path / "chart", tmp_path / "config"
    content.mkdir()
    config.mkdir()
    (content / "gatekeeper.tgz.base64").write_text(spec["chartContent"])
    (config / "values-01_HelmChart.yaml").write_text(spec["valuesContent"])
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "NAME": helmchart["metadata"]["name"],
           "TARGET_NAMESPACE": spec["targetNamespace"], "CONTENT_DIR": str(content), "VALUES_DIR": str(config)}
    done = subprocess.run([str(gotools.helm_installer("amd64")), "template"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    from edgewasm.compliance.schema import validate_manifest

    manifest = done.stdout[done.stdout.index("---"):]  # the installer's log lines come first
    return {(d["kind"], d["metadata"]["name"]): d for d in validate_manifest(manifest)}


def test_chart_archive_is_deterministic(chart):
    assert gatekeeper_chart.chart_archive(VERSION) == chart
    with tarfile.open(fileobj=io.BytesIO(chart)) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names) and all(n.startswith("gatekeeper/") for n in names)
    assert {m.mtime for m in members} == {0}
    assert chart[4:8] == b"\0\0\0\0"  # gzip's own MTIME field: none
    # helm-controller keeps chartContent in a ConfigMap (1 MiB at most), base64-encoded.
    assert len(base64.b64encode(chart)) < 900_000


def test_chart_metadata_says_fixture(chart):
    with tarfile.open(fileobj=io.BytesIO(chart)) as tar:
        meta = yaml.safe_load(tar.extractfile("gatekeeper/Chart.yaml"))
        crds = [n for n in tar.getnames() if n.startswith("gatekeeper/crds/")]
    assert meta["apiVersion"] == "v2" and meta["name"] == "gatekeeper"
    assert meta["version"] == VERSION and meta["appVersion"] == f"v{VERSION}"
    assert "FIXTURE" in meta["description"]
    assert "gatekeeper/crds/templates.gatekeeper.sh_constrainttemplates.yaml" in crds
    assert "gatekeeper/crds/config.gatekeeper.sh_configs.yaml" in crds


def test_renders_with_default_settings(chart, tmp_path):
    objects = render(chart, {}, tmp_path)
    crds = {name for kind, name in objects if kind == "CustomResourceDefinition"}
    assert {"constrainttemplates.templates.gatekeeper.sh", "configs.config.gatekeeper.sh",
            "constraintpodstatuses.status.gatekeeper.sh"} <= crds
    manager = objects[("Deployment", "gatekeeper-controller-manager")]
    (container,) = manager["spec"]["template"]["spec"]["containers"]
    assert docker_reference(container["image"]) == IMAGE
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert "--operation=webhook" in container["args"] and "--port=8443" in container["args"]
    assert [a for a in container["args"] if a.startswith("--exempt-namespace=")] == [
        f"--exempt-namespace={n}" for n in [NAMESPACE, "kube-system", "kube-public", "kube-node-lease"]]
    assert container["securityContext"]["runAsNonRoot"] and container["securityContext"]["readOnlyRootFilesystem"]
    assert manager["spec"]["replicas"] == 1
    assert "hostNetwork" not in manager["spec"]["template"]["spec"]  # reached through its Service
    # The smoke test finds the webhook pods by this label (edgewasm.compliance.admission).
    assert manager["spec"]["template"]["metadata"]["labels"]["control-plane"] == "controller-manager"
    service = objects[("Service", "gatekeeper-webhook-service")]
    assert service["metadata"]["namespace"] == NAMESPACE
    assert service["spec"]["ports"] == [{"name": "https-webhook-server", "port": 443, "targetPort": "webhook-server"}]
    assert {"containerPort": 8443, "name": "webhook-server", "protocol": "TCP"} in container["ports"]
    assert service["spec"]["selector"].items() <= manager["spec"]["template"]["metadata"]["labels"].items()
    assert objects[("Secret", "gatekeeper-webhook-server-cert")].get("data") is None
    audit = objects[("Deployment", "gatekeeper-audit")]
    (auditor,) = audit["spec"]["template"]["spec"]["containers"]
    assert docker_reference(auditor["image"]) == IMAGE
    assert {"--operation=audit", "--operation=status", "--operation=generate",
            "--audit-interval=300"} <= set(auditor["args"])
    (webhook,) = objects[("ValidatingWebhookConfiguration", "gatekeeper-validating-webhook-configuration")]["webhooks"]
    assert webhook["name"] == "validation.gatekeeper.sh"
    assert webhook["clientConfig"] == {"service": {"name": "gatekeeper-webhook-service", "namespace": NAMESPACE,
                                                   "path": "/v1/admit", "port": 443}}
    assert webhook["failurePolicy"] == "Fail" and webhook["timeoutSeconds"] == 3
    (rule,) = webhook["rules"]
    assert {"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"]}.items() <= rule.items()
    # Never cluster-scoped objects: a K3s server must update its CRDs while Gatekeeper is down.
    assert rule["scope"] == "Namespaced" and "pods/ephemeralcontainers" in rule["resources"]
    for kind in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"):
        assert (kind, "gatekeeper-manager-role" if kind.endswith("Role") else "gatekeeper-manager-rolebinding") in objects
    assert ("ServiceAccount", "gatekeeper-admin") in objects


def test_objects_follow_the_settings(chart, tmp_path):
    objects = render(chart, DATA, tmp_path)
    resources = {"requests": {"cpu": "25m", "memory": "100Mi"}, "limits": {"memory": "300Mi"}}
    manager = objects[("Deployment", "gatekeeper-controller-manager")]
    (container,) = manager["spec"]["template"]["spec"]["containers"]
    assert manager["spec"]["replicas"] == 2 and container["resources"] == resources
    assert [a for a in container["args"] if a.startswith("--exempt-namespace=")] == [
        f"--exempt-namespace={n}" for n in [NAMESPACE, "kube-system", "edge-infra"]]
    (auditor,) = objects[("Deployment", "gatekeeper-audit")]["spec"]["template"]["spec"]["containers"]
    assert auditor["resources"] == resources and "--audit-interval=120" in auditor["args"]
    (webhook,) = objects[("ValidatingWebhookConfiguration", "gatekeeper-validating-webhook-configuration")]["webhooks"]
    assert webhook["failurePolicy"] == "Ignore" and webhook["timeoutSeconds"] == 7
    # The exempt namespaces are never sent to the webhook, nor is Gatekeeper's own.
    assert {"key": "kubernetes.io/metadata.name", "operator": "NotIn",
            "values": [NAMESPACE, "kube-system", "edge-infra"]} in webhook["namespaceSelector"]["matchExpressions"]
