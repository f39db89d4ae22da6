"""The Wasm layer against real tools from Debian (installed by ./run test): crun,
containerd, skopeo. Skipped, with the reason, where a tool is missing."""

import json
import subprocess
import tomllib


from edgewasm import hello_wasm, templates, wasm
from tests.fixtures import manifests
from tests.fixtures.gotools import need
from tests.fixtures.k3s_base import expand




def test_debians_real_crun_is_refused_naming_both_missing_parts():
    crun = need("crun")
    output = subprocess.run([crun, "--version"], capture_output=True, text=True, check=True).stdout
    problems = wasm.crun_problems(output, "1.8.5")
    assert len(problems) == 2, problems
    assert problems[0] == "crun 1.8.1 is older than 1.8.5"
    assert problems[1].startswith("crun 1.8.1 has no wasm handler (no +WASM: in its features '+SYSTEMD")
    assert "--with-wasmedge" in wasm.CRUN_FIX


def test_containerd_accepts_the_rendered_v2_template(tmp_path):
    containerd = need("containerd")
    runtimes = wasm.containerd_runtimes({}, "/usr/bin/crun")
    config = tmp_path / "config.toml"
    config.write_text(expand(manifests.containerd_template("v1.30.6+k3s1", runtimes), 2))
    result = subprocess.run([containerd, "--config", str(config), "config", "dump"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    dumped = tomllib.loads(result.stdout)
    crun_wasm = dumped["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]["crun-wasm"]
    assert crun_wasm["pod_annotations"] == ["module.wasm.image/variant", "run.oci.handler"]
    assert crun_wasm["options"]["BinaryName"] == "/usr/bin/crun"


def test_containerd_refuses_a_template_that_redefines_a_k3s_runtime(tmp_path):
    """The failure the templates avoid, shown on the real containerd."""
    containerd = need("containerd")
    bad = templates.render("containerd/config.toml.tmpl.j2", runtimes={"crun": wasm.containerd_runtimes({}, "/x")["crun-wasm"]})
    config = tmp_path / "config.toml"
    config.write_text(expand(bad, 2))
    result = subprocess.run([containerd, "--config", str(config), "config", "dump"], capture_output=True, text=True)
    assert result.returncode != 0
    assert "duplicated tables" in result.stderr, result.stderr


def test_skopeo_reads_the_hello_image(tmp_path):
    skopeo = need("skopeo")
    archive = tmp_path / "hello.tar"
    hello_wasm.image_archive(archive, "0.1.0")
    result = subprocess.run([skopeo, "inspect", "--config", f"oci-archive:{archive}"],
                            capture_output=True, text=True, check=True)
    config = json.loads(result.stdout)
    assert (config["os"], config["architecture"]) == ("wasip1", "wasm")
    assert config["config"]["Entrypoint"] == ["/hello.wasm"]
