"""The FIXTURE helm installer (tests/helm/installer, our stand-in for K3s's klipper-helm
image), built from its Go module, run as K3s's helm-controller runs it: the arguments
args() makes, the Job's environment, the chart's content base64 under /chart/$NAME.tgz.base64
and the values files under /config (here directories named by CONTENT_DIR and VALUES_DIR).
Its `template` action renders the chart without a cluster; `install` and `delete` must
fail, saying why, when the API server does not answer."""

import base64
import io
import subprocess
import tarfile

import pytest
import yaml

from tests.fixtures import gotools
from tests.fixtures.registry import free_port

CHART = {
    "demo/Chart.yaml": "apiVersion: v2\nname: demo\nversion: 0.1.0\n",
    "demo/values.yaml": "replicas: 1\ngreeting: default\nsource: chart\nlayer: chart\n",
    "demo/templates/cm.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"
        "  namespace: {{ .Release.Namespace }}\ndata:\n"
        "  replicas: {{ .Values.replicas | quote }}\n  replicasKind: {{ kindOf .Values.replicas }}\n"
        "  greeting: {{ .Values.greeting | quote }}\n  source: {{ .Values.source }}\n"
        "  layer: {{ .Values.layer }}\n"),
}


def _tgz() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, text in CHART.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    return out.getvalue()


@pytest.fixture(scope="module")
def installer():
    return gotools.helm_installer()


@pytest.fixture
def job(tmp_path):
    """The Job's environment, as chart.go sets it for a HelmChart `demo` in kube-system with
    spec.chartContent, spec.valuesContent and a HelmChartConfig's valuesContent."""
    content, config, home = tmp_path / "chart", tmp_path / "config", tmp_path / "home"
    for d in (content, config, home):
        d.mkdir()
    # chart.go's ConfigMap keeps spec.chartContent as it is given: base64, wrapped here.
    encoded = base64.encodebytes(_tgz()).decode()
    (content / "demo.tgz.base64").write_text(encoded)
    (config / "values-0-000-HelmChart-ValuesContent.yaml").write_text("source: helmchart\nlayer: helmchart\n")
    (config / "values-1-000-HelmChartConfig-ValuesContent.yaml").write_text("layer: helmchartconfig\n")
    (config / "ca-file.pem").write_text("not values\n")
    kubeconfig = tmp_path / "kubeconfig"
    # Nothing listens there: the API server is unreachable.
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{free_port()}",
                                               "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "KUBECONFIG": str(kubeconfig),
            "NAME": "demo", "VERSION": "", "REPO": "", "HELM_DRIVER": "secret",
            "CHART_NAMESPACE": "kube-system", "CHART": "", "HELM_VERSION": "",
            "TARGET_NAMESPACE": "apps", "AUTH_PASS_CREDENTIALS": "false",
            "INSECURE_SKIP_TLS_VERIFY": "false", "PLAIN_HTTP": "false", "TIMEOUT": "90s",
            "FAILURE_POLICY": "reinstall", "CONTENT_DIR": str(content), "VALUES_DIR": str(config)}


def _run(installer, env, *args):
    return subprocess.run([str(installer), *args], env=env, capture_output=True, text=True, timeout=60)


def _configmap(stdout: str) -> dict:
    docs = [d for d in yaml.safe_load_all(stdout[stdout.index("---"):]) if d]
    assert [d["kind"] for d in docs] == ["ConfigMap"], stdout
    return docs[0]


# What args() (chart.go) makes of targetNamespace: apps, createNamespace: true and
# set: {replicas: 3, greeting: "hello, world"}: typed values with --set, strings with
# --set-string and their commas escaped.
ARGS = ["--namespace", "apps", "--create-namespace", "--set", "replicas=3",
        "--set-string", r"greeting=hello\, world"]


def test_template_renders_chart_content_with_values_files_in_order_then_set(installer, job):
    done = _run(installer, job, "template", *ARGS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "chart: " + job["CONTENT_DIR"] + "/demo.tgz.base64" in done.stdout
    assert "values from 2 files and 2 --set" in done.stdout  # ca-file.pem is not values
    cm = _configmap(done.stdout)
    assert cm["metadata"] == {"name": "demo", "namespace": "apps"}
    assert cm["data"] == {"replicas": "3", "replicasKind": "int64", "greeting": "hello, world",
                          "source": "helmchart", "layer": "helmchartconfig"}


def test_a_chart_file_named_by_chart_is_used_when_there_is_no_chart_content(installer, job, tmp_path):
    (tmp_path / "chart" / "demo.tgz.base64").unlink()
    (tmp_path / "demo-0.1.0.tgz").write_bytes(_tgz())
    done = _run(installer, {**job, "CHART": str(tmp_path / "demo-0.1.0.tgz")}, "template")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _configmap(done.stdout)["data"]["replicas"] == "1"


@pytest.mark.parametrize("action", ["install", "delete"])
def test_an_unreachable_api_server_fails_saying_so(installer, job, action):
    done = _run(installer, job, action, *ARGS[:3] if action == "install" else [])
    assert done.returncode == 1, done.stdout + done.stderr
    assert "error: Kubernetes cluster unreachable" in done.stdout, done.stdout
    assert "connection refused" in done.stdout


@pytest.mark.parametrize("env, args, message", [
    ({"REPO": "https://charts.example", "CHART": "demo/demo"}, ["install"],
     'chart "demo/demo" (repo "https://charts.example") would be downloaded'),
    ({"CHART": "https://%{KUBERNETES_API}%/static/charts/demo.tgz"}, ["install"], "the site is offline"),
    ({}, ["install", "--wait"], "flag provided but not defined: -wait"),
    ({}, ["upgrade"], 'unknown action "upgrade"'),
    ({"NAME": ""}, ["install"], "NAME (the HelmChart's name, the release's) is not set"),
    ({"HELM_VERSION": "v2"}, ["install"], "Helm v2 is not supported"),
    ({"TIMEOUT": "soon"}, ["install"], 'TIMEOUT "soon"'),
])
def test_what_it_cannot_do_is_refused_before_touching_the_cluster(installer, job, tmp_path, env, args, message):
    if "CHART" in env:
        (tmp_path / "chart" / "demo.tgz.base64").unlink()
    done = _run(installer, {**job, **env}, *args)
    assert done.returncode == 1, done.stdout + done.stderr
    assert message in done.stdout, done.stdout
    assert "unreachable" not in done.stdout
