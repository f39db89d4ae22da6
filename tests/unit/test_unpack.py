import io
import subprocess
import tarfile

import pytest

from edgewasm.hello_wasm import greeting, module
from edgewasm.unpack import extract_script


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


def test_an_unpack_still_running_from_a_cut_run_is_waited_for_not_raced(tmp_path):
    """A dropped SSH connection can leave a run's unpack going on the host while the next
    run starts its own: the second waits for the first's lock, then finds the tree whole
    (seen on the test bed's arm64 host, where the second run's rm -rf removed the first's
    half-unpacked tree under it)."""
    import time

    src = tarball(tmp_path / "w.tar.gz", {f"wasmtime-v49/f{i}": b"z" * 100 for i in range(50)})
    dest = tmp_path / "opt" / "wasmtime" / "49.0.3"
    (tmp_path / "opt" / "wasmtime").mkdir(parents=True)
    lock = open(f"{dest}.edgewasm-lock", "w")
    import fcntl

    fcntl.flock(lock, fcntl.LOCK_EX)  # the cut run's unpack, still holding the tree
    second = subprocess.Popen(["sh", "-c", extract_script(str(src), str(dest), "ef" * 32)])
    time.sleep(0.5)
    assert second.poll() is None, "the second unpack must wait for the first"
    subprocess.run(["sh", "-c", f"mkdir -p {dest} && echo {'ef' * 32} > {dest}/.edgewasm-source-sha256"], check=True)
    fcntl.flock(lock, fcntl.LOCK_UN)
    assert second.wait(timeout=10) == 0
    assert not (dest / "f0").exists(), "the tree the first finished is kept, not unpacked again"
    subprocess.run(["sh", "-c", extract_script(str(src), str(tmp_path / "other"), "ef" * 32)], check=True)
    assert (tmp_path / "other" / "f0").read_bytes() == b"z" * 100
