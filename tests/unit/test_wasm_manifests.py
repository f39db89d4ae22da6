"""RuntimeClass and hello-wasm manifests against the pinned Kubernetes schema, and the
hello-wasm image itself."""

import io
import json
import tarfile

import kubernetes_validate
import pytest

from edgewasm import bench_images, hello_wasm, wasm
from edgewasm.compliance.schema import validate_manifest
from tests.fixtures import manifests


def test_runtime_classes_validate_and_select_labelled_nodes():
    docs = validate_manifest(manifests.runtime_classes(["crun-wasm", "wasmedge", "wasmtime"]))
    assert [(d["metadata"]["name"], d["handler"], d["scheduling"]["nodeSelector"]) for d in docs] == [
        ("crun-wasm", "crun-wasm", {"runtime.edgewasm.io/crun-wasm": "true"}),
        ("edgewasm-wasmedge", "wasmedge", {"runtime.edgewasm.io/wasmedge": "true"}),
        ("edgewasm-wasmtime", "wasmtime", {"runtime.edgewasm.io/wasmtime": "true"}),
    ]


@pytest.mark.parametrize("runtime_class,crun", [("crun-wasm", True), ("edgewasm-wasmedge", False)])
def test_hello_pod_validates(runtime_class, crun):
    (pod,) = validate_manifest(wasm.hello_pod(runtime_class, "edge-pi-1", hello_wasm.image_ref("0.1.0"), crun))
    assert pod["spec"]["runtimeClassName"] == runtime_class
    assert pod["spec"]["nodeSelector"] == {"kubernetes.io/hostname": "edge-pi-1"}
    annotations = pod["metadata"].get("annotations", {})
    assert (annotations.get("module.wasm.image/variant") == "compat-smart") is crun


@pytest.mark.parametrize("runtime_class,crun", [("crun-wasm", True), ("edgewasm-wasmtime", False)])
def test_exit_status_pod_validates_and_asks_the_module_for_its_status(runtime_class, crun):
    (pod,) = validate_manifest(wasm.failing_pod(runtime_class, "edge-agent-1", bench_images.wasm_ref("0.1.0"),
                                                crun, 3))
    (container,) = pod["spec"]["containers"]
    assert container["args"] == ["exit", "3"] and container["imagePullPolicy"] == "Never"
    assert pod["spec"]["runtimeClassName"] == runtime_class and pod["spec"]["restartPolicy"] == "Never"
    assert ("module.wasm.image/variant" in pod["metadata"].get("annotations", {})) is crun


def test_schema_check_can_fail():
    broken = manifests.runtime_classes(["wasmedge"]).replace("handler:", "handlr:")
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_manifest(broken)


def test_hello_image_is_a_wasi_image_with_the_module_as_entrypoint(tmp_path):
    archive = tmp_path / "hello.tar"
    digest = hello_wasm.image_archive(archive, "0.1.0")
    again = tmp_path / "again.tar"
    assert hello_wasm.image_archive(again, "0.1.0") == digest
    assert archive.read_bytes() == again.read_bytes()  # a bundle can pin its sha256

    with tarfile.open(archive) as tar:
        def blob(descriptor):
            return tar.extractfile("blobs/sha256/" + descriptor["digest"].split(":")[1]).read()

        index = json.loads(tar.extractfile("index.json").read())
        (entry,) = index["manifests"]
        assert entry["annotations"]["io.containerd.image.name"] == "docker.io/edgewasm/hello-wasm:0.1.0"
        assert entry["platform"] == {"architecture": "wasm", "os": "wasip1"}
        manifest = json.loads(blob(entry))
        config = json.loads(blob(manifest["config"]))
        assert config["config"]["Entrypoint"] == ["/hello.wasm"]
        (layer,) = manifest["layers"]
        with tarfile.open(fileobj=io.BytesIO(blob(layer)), mode="r:gz") as files:
            assert files.getnames() == ["hello.wasm"]
            assert files.extractfile("hello.wasm").read() == hello_wasm.module()
