"""WebAssembly on each host: the runtime CLIs report their pins and run hello-wasm."""

import io

import pytest

from edgewasm.arch import k3s_arch, wasmedge_arch
from edgewasm.bundle import wanted_versions
from edgewasm.hello_wasm import greeting, module

REMOTE_MODULE = "/var/tmp/edgewasm-hello.wasm"


@pytest.fixture
def wasm_host(host, host_data):
    if not wasmedge_arch(k3s_arch(host.system_info.arch)):
        pytest.skip(f"upstream ships no Wasm runtimes for {host.system_info.arch}")
    return host


@pytest.fixture
def hello_on_host(wasm_host):
    """The hello module, copied to the host for the check and removed after it."""
    sftp = wasm_host.backend.client.open_sftp()
    sftp.putfo(io.BytesIO(module()), REMOTE_MODULE)
    yield REMOTE_MODULE
    sftp.remove(REMOTE_MODULE)
    sftp.close()


def test_wasmtime_reports_the_pinned_version(wasm_host, host_data):
    if "wasmtime" not in wanted_versions(host_data):
        pytest.skip("wasmtime is not in artifact_components")
    version = wanted_versions(host_data)["wasmtime"]
    assert wasm_host.check_output("wasmtime --version").startswith(f"wasmtime {version}")


def test_hello_wasm_runs_under_wasmtime(wasm_host, host_data, hello_on_host):
    if "wasmtime" not in wanted_versions(host_data):
        pytest.skip("wasmtime is not in artifact_components")
    result = wasm_host.run(f"wasmtime run {hello_on_host}")
    assert result.rc == 0, result.stderr
    assert result.stdout == greeting()
