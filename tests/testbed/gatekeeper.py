"""FIXTURE: Gatekeeper installed into the test bed's cluster the way its Helm chart would,
because the K3s stand-in has no helm-controller to install the deploy's HelmChart.

Gatekeeper's own manager (built from its Go module, tests/gotools) is packed as an image
here, imported on the first server, and run as a pod there (hostNetwork, so the API
server reaches its webhook at its endpoint without kube-proxy), with its CRDs and
webhook configuration made by controller-gen from Gatekeeper's source (as
tests/fixtures/apiserver.py does for a loopback API server) and a serving certificate
made here. The ConstraintTemplates and Constraints are not applied by this fixture: the
deploy put them in the server's manifests directory, and the stand-in's deploy
controller applies them once Gatekeeper's CRDs exist.
"""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path

import yaml

from edgewasm import oci, testbed as tb
from tests.fixtures import gotools
from tests.fixtures.apiserver import _ca, _signed
from tests.testbed.helpers import copy_to

NAMESPACE = "gatekeeper-system"
IMAGE = "edgewasm.invalid/fixture/gatekeeper-manager:v3.23.1"
SERVICE = "gatekeeper-webhook-service"
PORT = 8443


def _image(tmp: Path) -> Path:
    layout, archive = tmp / "layout", tmp / "gatekeeper-manager.tar"
    manager = Path(gotools.need("gatekeeper")).read_bytes()
    oci.write_layout(layout, {"/manager": (manager, 0o755)}, entrypoint=["/manager"], architecture="amd64",
                     tag="v3.23.1", name=IMAGE)
    oci.archive(layout, archive)
    return archive


def _generated(tmp: Path) -> tuple[list[dict], dict]:
    """Gatekeeper's CRDs and its policy webhook, from controller-gen (Gatekeeper._generate)."""
    from tests.fixtures.apiserver import Gatekeeper

    holder = Gatekeeper.__new__(Gatekeeper)
    holder.dir = tmp
    crds, validating = holder._generate()
    docs = [d for path in crds for d in yaml.safe_load_all(path.read_text()) if d]
    return docs, validating


def manifests(tmp: Path, server_name: str, server_address: str) -> list[dict]:
    """Everything the chart would install that the smoke test needs, as objects."""
    crds, generated = _generated(tmp)
    certs = tmp / "certs"
    certs.mkdir(mode=0o700)
    host = f"{SERVICE}.{NAMESPACE}.svc"
    from cryptography import x509

    _signed(certs, "tls", host, _ca(certs, "gatekeeper-webhook-ca"), sans=[x509.DNSName(host)])
    (policy,) = [w for w in generated["webhooks"] if w["name"] == "validation.gatekeeper.sh"]
    policy["clientConfig"] = {"service": {"name": SERVICE, "namespace": NAMESPACE, "path": "/v1/admit", "port": 443},
                              "caBundle": base64.b64encode((certs / "ca.crt").read_bytes()).decode()}
    policy["failurePolicy"] = "Fail"
    policy["timeoutSeconds"] = 3
    policy["namespaceSelector"] = {"matchExpressions": [
        {"key": "admission.gatekeeper.sh/ignore", "operator": "DoesNotExist"}]}
    labels = {"control-plane": "controller-manager", "gatekeeper.sh/operation": "webhook"}
    return [
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"name": NAMESPACE, "labels": {"admission.gatekeeper.sh/ignore": "no-self-managing"}}},
        *crds,
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "gatekeeper-admin", "namespace": NAMESPACE}},
        # The chart's ClusterRole is narrower; a fixture needs no more than to work.
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "edgewasm-fixture-gatekeeper"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
         "subjects": [{"kind": "ServiceAccount", "name": "gatekeeper-admin", "namespace": NAMESPACE}]},
        {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
         "metadata": {"name": "gatekeeper-webhook-server-cert", "namespace": NAMESPACE},
         "data": {"tls.crt": base64.b64encode((certs / "tls.crt").read_bytes()).decode(),
                  "tls.key": base64.b64encode((certs / "tls.key").read_bytes()).decode(),
                  "ca.crt": base64.b64encode((certs / "ca.crt").read_bytes()).decode()}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": SERVICE, "namespace": NAMESPACE},
         "spec": {"selector": labels, "ports": [{"port": 443, "targetPort": PORT}]}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "gatekeeper-controller-manager", "namespace": NAMESPACE, "labels": labels},
         "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
             "metadata": {"labels": labels},
             "spec": {
                 "serviceAccountName": "gatekeeper-admin", "hostNetwork": True,
                 "nodeSelector": {"kubernetes.io/hostname": server_name},
                 "tolerations": [{"operator": "Exists"}],
                 "containers": [{
                     "name": "manager", "image": IMAGE, "imagePullPolicy": "Never",
                     "args": [f"--port={PORT}", "--operation=webhook", "--operation=status",
                              "--operation=generate", "--disable-cert-rotation", "--cert-dir=/certs",
                              f"--exempt-namespace={NAMESPACE}", "--log-level=INFO", "--metrics-addr=0",
                              "--health-addr=:9090"],
                     # No kube-proxy on the bed: the API server at its node address, not its
                     # Service IP (the serving certificate names both).
                     "env": [{"name": "KUBERNETES_SERVICE_HOST", "value": server_address},
                             {"name": "KUBERNETES_SERVICE_PORT", "value": "6443"},
                             {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                             {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                             {"name": "NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                             {"name": "CONTAINER_NAME", "value": "manager"}],
                     "volumeMounts": [{"name": "cert", "mountPath": "/certs", "readOnly": True}]}],
                 "volumes": [{"name": "cert", "secret": {"secretName": "gatekeeper-webhook-server-cert"}}]}}}},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
         "metadata": {"name": "gatekeeper-validating-webhook-configuration"}, "webhooks": [policy]},
    ]


def install(server: tb.TestbedHost, timeout: int = 300) -> None:
    """Gatekeeper on the bed's first server, its webhook pod running; raise with kubectl's
    words where it does not come up."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        copy_to(server.address, _image(tmp), "/tmp/gatekeeper-manager.tar")
        tb.ssh(server.address, "k3s ctr -n k8s.io images import /tmp/gatekeeper-manager.tar >/dev/null "
                               "&& rm /tmp/gatekeeper-manager.tar")
        # Gatekeeper's CRDs are far beyond what one command-line argument may hold.
        objects = tmp / "gatekeeper.yaml"
        objects.write_text(yaml.safe_dump_all(manifests(tmp, server.name, server.address)))
        copy_to(server.address, objects, "/root/edgewasm-fixture-gatekeeper.yaml")
    applied = tb.ssh(server.address, "k3s kubectl apply --server-side -f /root/edgewasm-fixture-gatekeeper.yaml",
                     check=False)
    if applied.returncode:
        raise RuntimeError(f"Gatekeeper's objects refused: {applied.stderr[-2000:]}")
    ready = tb.ssh(server.address, f"k3s kubectl -n {NAMESPACE} rollout status deployment/gatekeeper-controller-manager "
                                   f"--timeout={timeout}s", check=False)
    if ready.returncode:
        pods = tb.ssh(server.address, f"k3s kubectl -n {NAMESPACE} describe pods | tail -20", check=False).stdout
        raise RuntimeError(f"Gatekeeper did not come up: {ready.stderr.strip()}\n{pods}")
