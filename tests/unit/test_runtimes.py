import io
import subprocess
import tarfile

import pytest

from edgewasm.hello_wasm import greeting, module
from edgewasm.runtimes import extract_script


def tarball(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("layout", [
    {"WasmEdge-0.14.1-Linux/bin/wasmedge": b"x", "WasmEdge-0.14.1-Linux/lib64/libwasmedge.so.0": b"y"},
    {"bin/wasmedge": b"x", "lib64/libwasmedge.so.0": b"y"},
], ids=["top-folder (<0.15)", "no-top-folder (>=0.15)"])
def test_both_wasmedge_layouts_unpack_the_same(tmp_path, layout):
    src = tarball(tmp_path / "we.tar.gz", layout)
    dest = tmp_path / "opt" / "wasmedge"
    subprocess.run(["sh", "-c", extract_script(str(src), str(dest), "ab" * 32)], check=True)
    assert (dest / "bin/wasmedge").read_bytes() == b"x"
    assert (dest / "lib64/libwasmedge.so.0").read_bytes() == b"y"
    assert (dest / ".edgewasm-source-sha256").read_text().strip() == "ab" * 32
    assert not (tmp_path / "opt" / "wasmedge.edgewasm-new").exists()


def test_a_single_file_tarball_is_not_stripped(tmp_path):
    src = tarball(tmp_path / "shim.tar.gz", {"containerd-shim-wasmtime-v1": b"shim"})
    dest = tmp_path / "shim"
    subprocess.run(["sh", "-c", extract_script(str(src), str(dest), "cd" * 32)], check=True)
    assert (dest / "containerd-shim-wasmtime-v1").read_bytes() == b"shim"


def test_hello_module_runs_under_wasi_and_prints_the_greeting(tmp_path):
    import wasmtime

    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    wasi = wasmtime.WasiConfig()
    out = tmp_path / "stdout"
    wasi.stdout_file = str(out)
    store.set_wasi(wasi)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    instance = linker.instantiate(store, wasmtime.Module(engine, module()))
    instance.exports(store)["_start"](store)
    assert out.read_text() == greeting() == "Hello from edgewasm: WebAssembly is up.\n"
