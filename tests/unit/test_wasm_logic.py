"""Pure Wasm-layer logic: crun gate, containerd template choice and rendering, labels,
RuntimeClasses."""

import tomllib

import pytest

from edgewasm import wasm
from edgewasm.k3s_runtimes import K3S_RUNTIME_CLASSES
from tests.fixtures import manifests
from tests.fixtures.k3s_base import expand

DEBIAN_CRUN = """crun version 1.8.1
commit: f8a096be060b22ccd3d5f3ebe44108517fbf6c30
rundir: /run/crun
spec: 1.0.0
+SYSTEMD +SELINUX +APPARMOR +CAP +SECCOMP +EBPF +YAJL"""
# The shape of a crun built --with-wasmedge (Fedora's crun-wasm lists the same tag).
WASM_CRUN = """crun version 1.14.4
commit: a220ca661ce078f2c37b38c92e66cf66c012d9c1
rundir: /run/user/0/crun
spec: 1.0.0
+SYSTEMD +SELINUX +APPARMOR +CAP +SECCOMP +EBPF +CRIU +LIBKRUN +WASM:wasmedge +YAJL"""


def test_crun_gate_accepts_a_new_enough_crun_with_a_wasm_handler():
    assert wasm.crun_problems(WASM_CRUN, "1.8.5") == []
    assert wasm.crun_wasm_engine(WASM_CRUN) == "wasmedge"


def test_crun_gate_names_both_missing_parts_of_debians_crun():
    problems = wasm.crun_problems(DEBIAN_CRUN, "1.8.5")
    assert problems == [
        "crun 1.8.1 is older than 1.8.5",
        "crun 1.8.1 has no wasm handler (no +WASM: in its features "
        "'+SYSTEMD +SELINUX +APPARMOR +CAP +SECCOMP +EBPF +YAJL')",
    ]


def test_crun_gate_refuses_an_old_crun_even_with_wasm():
    old = WASM_CRUN.replace("1.14.4", "1.8.4")
    assert wasm.crun_problems(old, "1.8.5") == ["crun 1.8.4 is older than 1.8.5"]
    assert wasm.crun_problems(old, minimum="1.8") == []


def test_crun_gate_refuses_a_new_crun_without_wasm():
    assert wasm.crun_problems(WASM_CRUN.replace(" +WASM:wasmedge", ""), "1.8.5")[0].startswith("crun 1.14.4 has no wasm handler")


def test_crun_gate_without_crun():
    assert wasm.crun_problems("", "1.8.5") == ["crun is not installed (no 'crun version' in `crun --version`)"]
    assert wasm.crun_problems("sh: 1: /usr/bin/crun: not found", "1.8.5")[0].startswith("crun is not installed")


@pytest.mark.parametrize("version,generation", [
    ("v1.29.15+k3s1", 2), ("v1.30.14+k3s1", 2), ("v1.31.5+k3s1", 2), ("v1.31.6+k3s1", 3),
    ("v1.32.1+k3s1", 2), ("v1.32.2+k3s1", 3), ("v1.33.0+k3s1", 3), ("v1.34.1+k3s1", 3),
])
def test_containerd_generation_follows_the_k3s_version(version, generation):
    assert wasm.containerd_generation(version) == generation
    assert wasm.containerd_template_name(version) == ("config-v3.toml.tmpl" if generation == 3 else "config.toml.tmpl")


def test_containerd_generation_rejects_garbage():
    with pytest.raises(ValueError):
        wasm.containerd_generation("latest")


CRUN_RUNTIMES = wasm.containerd_runtimes({"edgewasm_crun": True}, "/usr/bin/crun")


@pytest.mark.parametrize("version,generation,table", [
    ("v1.30.6+k3s1", 2, ("plugins", "io.containerd.grpc.v1.cri", "containerd", "runtimes")),
    ("v1.32.2+k3s1", 3, ("plugins", "io.containerd.cri.v1.runtime", "containerd", "runtimes")),
])
def test_rendered_template_appends_crun_wasm_to_k3s_base(version, generation, table):
    text = expand(manifests.containerd_template(version, CRUN_RUNTIMES), generation)
    config = tomllib.loads(text)  # tomllib refuses a table defined twice
    assert config["version"] == generation
    runtimes = config
    for key in table:
        runtimes = runtimes[key]
    assert set(runtimes) == {"runc", "crun", "wasmedge", "crun-wasm"}
    assert runtimes["crun-wasm"] == {
        "runtime_type": "io.containerd.runc.v2",
        "pod_annotations": ["module.wasm.image/variant", "run.oci.handler"],
        "options": {"BinaryName": "/usr/bin/crun", "SystemdCgroup": True},
    }
    assert runtimes["crun"]["options"]["BinaryName"] == "/usr/bin/crun"  # K3s's own entry untouched


@pytest.mark.parametrize("version,generation", [("v1.30.6+k3s1", 2), ("v1.32.2+k3s1", 3)])
def test_a_template_redefining_a_k3s_runtime_does_not_parse(version, generation):
    """What the template must never do: the parse check above would catch it."""
    with pytest.raises(ValueError, match="crun"):
        wasm.containerd_runtimes({"edgewasm_containerd_runtimes": {"crun": CRUN_RUNTIMES["crun-wasm"]}}, None)
    bad = manifests.containerd_template(version, {"wasmedge": CRUN_RUNTIMES["crun-wasm"]})
    with pytest.raises(tomllib.TOMLDecodeError):
        tomllib.loads(expand(bad, generation))


def test_extra_runtimes_from_the_inventory_join_crun_wasm():
    runtimes = wasm.containerd_runtimes(
        {"edgewasm_containerd_runtimes": {"crun-gpu": {"runtime_type": "io.containerd.runc.v2",
                                                       "binary": "/usr/local/bin/crun"}}},
        None)
    assert runtimes == {"crun-gpu": {"runtime_type": "io.containerd.runc.v2", "binary": "/usr/local/bin/crun",
                                     "pod_annotations": []}}
    with pytest.raises(ValueError, match="runc"):
        wasm.containerd_runtimes({"edgewasm_containerd_runtimes": {"runc": runtimes["crun-gpu"]}}, None)


def test_shim_handlers_are_k3s_runtime_names():
    assert wasm.shim_handler("containerd-shim-wasmedge-v1") == "wasmedge"
    assert wasm.shim_handler("containerd-shim-spin-v2") == "spin"
    with pytest.raises(ValueError):
        wasm.shim_handler("wasmedge")


def test_runtime_classes_never_reuse_k3s_names_and_select_labelled_nodes():
    specs = wasm.runtime_class_specs(["wasmtime", "crun-wasm", "wasmedge"])
    assert [(s["name"], s["handler"]) for s in specs] == [
        ("crun-wasm", "crun-wasm"), ("edgewasm-wasmedge", "wasmedge"), ("edgewasm-wasmtime", "wasmtime")]
    assert not {s["name"] for s in specs} & K3S_RUNTIME_CLASSES
    assert wasm.node_labels(["wasmedge", "crun-wasm"]) == {
        "runtime.edgewasm.io/crun-wasm": "true", "runtime.edgewasm.io/wasmedge": "true"}
