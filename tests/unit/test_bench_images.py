"""The edgewasm-bench workload images (edgewasm/bench_images.py): bench-wasm run in
Wasmtime and bench-native's /bench run by the image's own busybox (a static amd64 binary,
so it runs here) answer one table of probes with the same stdout, stderr and exit status;
the OCI archives are valid and byte-identical on every build; only hosts that ask get them.

bench-native is built from the pinned busybox-static .deb, fetched by apt from Debian's
archive and checked against its signed index (cached after the first run)."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

wasmtime = pytest.importorskip("wasmtime")

from edgewasm import bench_images, hello_wasm  # noqa: E402
from edgewasm.artifacts import load_catalog, resolve  # noqa: E402
from edgewasm.plan import wanted_versions  # noqa: E402

VERSION = "0.1.0"
GREETING = hello_wasm.greeting()
USAGE = ("usage: bench [stdout TEXT.. | stderr TEXT.. | args ARG.. | env NAME | cat PATH | exit N | alloc MIB "
         "| now | sleep SECONDS]\n")
FILE_TEXT = "bench file\nsecond line, no newline at the end"


# ------------------------------------------------------------------------------ runners

def run_wasm(args: list[str], env: dict[str, str], tmp: Path, preopens: dict[str, Path],
             memory_limit: int | None = None):
    """bench.wasm under Wasmtime: (exit status, stdout, stderr, store, instance)."""
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    if memory_limit is not None:
        store.set_limits(memory_size=memory_limit)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    config = wasmtime.WasiConfig()
    config.argv = [bench_images.WASM_ENTRYPOINT, *args]
    config.env = list(env.items())
    out, err = tmp / "wasm.out", tmp / "wasm.err"
    config.stdout_file, config.stderr_file = str(out), str(err)
    for guest, host in preopens.items():
        config.preopen_dir(str(host), guest)
    store.set_wasi(config)
    instance = linker.instantiate(store, wasmtime.Module(engine, _module()))
    status = 0
    try:
        instance.exports(store)["_start"](store)
    except wasmtime.ExitTrap as exc:
        status = exc.code
    return status, out.read_bytes().decode(errors="replace"), err.read_text(), store, instance


_MODULE: list[bytes] = []


def _module() -> bytes:
    if not _MODULE:
        _MODULE.append(bench_images.wasm_module())
    return _MODULE[0]


def run_native(root: Path, args: list[str], env: dict[str, str], preexec=None, wrap: list[str] = ()):
    """/bench of the unpacked bench-native image, run as its entrypoint runs it
    (busybox sh /bench ARGS), with only ``env`` as its environment."""
    command = [*wrap, str(root / "bin/busybox"), "sh", str(root / "bench"), *args]
    result = subprocess.run(command, env=env, cwd=root, capture_output=True, text=True, preexec_fn=preexec,
                            timeout=60)
    return result.returncode, result.stdout, result.stderr


def unpack_layer(archive: Path, dest: Path) -> dict:
    """Unpack the single layer of an oci-archive into ``dest``; return the image config."""
    with tarfile.open(archive) as outer:
        blob = lambda digest: outer.extractfile(f"blobs/sha256/{digest.split(':')[1]}").read()  # noqa: E731
        index = json.loads(outer.extractfile("index.json").read())
        manifest = json.loads(blob(index["manifests"][0]["digest"]))
        config = json.loads(blob(manifest["config"]["digest"]))
        (layer,) = manifest["layers"]
        (dest / "layer.tar.gz").write_bytes(blob(layer["digest"]))
    with tarfile.open(dest / "layer.tar.gz") as tar:
        tar.extractall(dest, filter="tar")
    (dest / "layer.tar.gz").unlink()
    return config


# ------------------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Each image built twice (amd64 and arm64 for the native one), and amd64's unpacked."""
    tmp = tmp_path_factory.mktemp("bench-images")
    archives = {}
    for n in (1, 2):
        path = tmp / f"wasm-{n}.tar"
        archives[("wasm", n)] = (path, bench_images.wasm_archive(path, VERSION))
        for arch in ("amd64", "arm64"):
            path = tmp / f"native-{arch}-{n}.tar"
            archives[(arch, n)] = (path, bench_images.native_archive(path, VERSION, arch))
    root = tmp / "native-root"
    root.mkdir()
    unpack_layer(archives[("amd64", 1)][0], root)
    return archives, root


@pytest.fixture
def data_dir(tmp_path):
    """A file for `cat`, under a directory whose host path is also its guest path, so one
    PATH works on both sides (the Wasm side sees it through a preopen of the same name)."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "file.txt").write_text(FILE_TEXT)
    return data


# ------------------------------------------------------------------------------ the table

ENV = {"BENCH_VAR": "a value = with spaces", "BENCH_EMPTY": "", "BENCH_VARIANT": "not this one"}

# (id, args, stdout, stderr, exit status); "{data}" is the data directory's path.
CASES = [
    ("greeting", [], GREETING, "", 0),
    ("stdout", ["stdout", "hello", "bench"], "hello bench\n", "", 0),
    ("stdout-nothing", ["stdout"], "\n", "", 0),
    ("stdout-option-like", ["stdout", "-n", "-e", "a\\tb"], "-n -e a\\tb\n", "", 0),
    ("stderr", ["stderr", "to", "stderr"], "", "to stderr\n", 0),
    ("args", ["args", "one", "two words", "", "-n", "*", "$HOME"], "one\ntwo words\n\n-n\n*\n$HOME\n", "", 0),
    ("args-none", ["args"], "", "", 0),
    ("env", ["env", "BENCH_VAR"], "a value = with spaces\n", "", 0),
    ("env-empty-value", ["env", "BENCH_EMPTY"], "\n", "", 0),
    ("env-prefix-is-not-the-name", ["env", "BENCH"], "", "", 1),
    ("env-unset", ["env", "BENCH_UNSET"], "", "", 1),
    ("env-not-a-pattern", ["env", "BENCH_*"], "", "", 1),
    ("env-without-name", ["env"], "", USAGE, 2),
    ("cat", ["cat", "{data}/file.txt"], FILE_TEXT, "", 0),
    ("cat-missing", ["cat", "{data}/missing.txt"], "", "cat: cannot read {data}/missing.txt\n", 1),
    ("exit-0", ["exit", "0"], "", "", 0),
    ("exit-3", ["exit", "3"], "", "", 3),
    ("exit-125", ["exit", "125"], "", "", 125),
    ("exit-126", ["exit", "126"], "", USAGE, 2),  # Wasmtime traps on a proc_exit of 126 and up
    ("exit-leading-zero", ["exit", "07"], "", USAGE, 2),
    ("exit-not-a-number", ["exit", "x"], "", USAGE, 2),
    ("alloc", ["alloc", "64"], "allocated 64 MiB\n", "", 0),
    ("alloc-0", ["alloc", "0"], "allocated 0 MiB\n", "", 0),
    ("alloc-not-a-number", ["alloc", "-1"], "", USAGE, 2),
    ("sleep-0", ["sleep", "0"], "", "", 0),
    ("sleep-without-seconds", ["sleep"], "", USAGE, 2),
    ("sleep-with-a-unit", ["sleep", "1s"], "", USAGE, 2),
    ("sleep-leading-zero", ["sleep", "01"], "", USAGE, 2),
    ("sleep-two-arguments", ["sleep", "1", "2"], "", USAGE, 2),
    ("unknown", ["nope"], "", USAGE, 2),
]


def _fill(value, data: Path):
    if isinstance(value, list):
        return [v.replace("{data}", str(data)) for v in value]
    return value.replace("{data}", str(data)) if isinstance(value, str) else value


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_wasm_answers_the_table(case, tmp_path, data_dir):
    _, args, stdout, stderr, status = case
    got = run_wasm(_fill(args, data_dir), ENV, tmp_path, {str(data_dir): data_dir})[:3]
    assert got == (status, _fill(stdout, data_dir), _fill(stderr, data_dir))


@pytest.mark.skipif(platform.machine() != "x86_64", reason="runs the amd64 busybox of the image")
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_native_answers_the_table(case, built, data_dir):
    _, args, stdout, stderr, status = case
    _, root = built
    got = run_native(root, _fill(args, data_dir), ENV)
    assert got == (status, _fill(stdout, data_dir), _fill(stderr, data_dir))


# ------------------------------------------------------------------------------ now

def test_wasm_now_is_the_wall_clock_in_ns(tmp_path):
    before = time.time_ns()
    status, out, err, _, _ = run_wasm(["now"], {}, tmp_path, {})
    after = time.time_ns()
    assert (status, err) == (0, "")
    assert before <= int(out) <= after and out == f"{int(out)}\n"


@pytest.mark.skipif(platform.machine() != "x86_64", reason="runs the amd64 busybox of the image")
def test_native_now_is_the_wall_clock_in_ns_to_the_microsecond(built):
    _, root = built
    before = time.time_ns()
    status, out, err = run_native(root, ["now"], {})
    after = time.time_ns()
    assert (status, err) == (0, "")
    assert len(out.strip()) == 19 and out.strip().endswith("000")  # ns digits, µs resolution
    assert before - 1000 <= int(out) <= after


# ------------------------------------------------------------------------------ sleep

def test_wasm_sleep_waits_the_seconds_and_prints_nothing(tmp_path):
    start = time.monotonic()
    got = run_wasm(["sleep", "1"], {}, tmp_path, {})[:3]
    took = time.monotonic() - start
    assert got == (0, "", "")
    assert 1.0 <= took < 3.0


@pytest.mark.skipif(platform.machine() != "x86_64", reason="runs the amd64 busybox of the image")
def test_native_sleep_waits_the_seconds_and_prints_nothing(built):
    _, root = built
    start = time.monotonic()
    got = run_native(root, ["sleep", "1"], {})
    took = time.monotonic() - start
    assert got == (0, "", "")
    assert 1.0 <= took < 3.0


@pytest.mark.skipif(platform.machine() != "x86_64", reason="runs the amd64 busybox of the image")
def test_native_sleep_is_the_containers_one_process(built, tmp_path):
    """The shell execs busybox's sleep: while a density pod waits, its container holds
    one process (what its memory at rest is measured on), as the Wasm side does."""
    _, root = built
    child = subprocess.Popen([str(root / "bin/busybox"), "sh", str(root / "bench"), "sleep", "30"], env={})
    try:
        deadline = time.monotonic() + 10
        cmdline: list[bytes] = []
        while time.monotonic() < deadline:
            cmdline = Path(f"/proc/{child.pid}/cmdline").read_bytes().split(b"\0")
            if cmdline[:2] == [b"sleep", b"30"]:
                break
            time.sleep(0.02)
        assert cmdline[:2] == [b"sleep", b"30"]  # busybox runs its sleep applet in the shell's process
        assert Path(f"/proc/{child.pid}/task/{child.pid}/children").read_text() == ""  # and no child of it
    finally:
        child.kill()
        child.wait()


# ------------------------------------------------------------------------------ alloc holds it

def test_wasm_alloc_grows_memory_and_writes_every_page(tmp_path):
    status, out, _, store, instance = run_wasm(["alloc", "16"], {}, tmp_path, {})
    assert (status, out) == (0, "allocated 16 MiB\n")
    memory = instance.exports(store)["memory"]
    assert memory.size(store) >= 16 * 16 + 1  # 64 KiB pages: the 16 MiB and the first page
    grown = memory.read(store, memory.data_len(store) - 16 * 2**20, memory.data_len(store))
    pages = grown[::4096]
    assert len(pages) == 16 * 256 and set(pages) == {1}  # a byte written in every 4 KiB page


def test_wasm_alloc_over_the_runtimes_limit_is_refused(tmp_path):
    got = run_wasm(["alloc", "16"], {}, tmp_path, {}, memory_limit=8 * 2**20)[:3]
    assert got == (1, "", "alloc: cannot hold 16 MiB\n")


def test_wasm_alloc_past_wasm32s_4_gib_is_refused(tmp_path):
    assert run_wasm(["alloc", "4096"], {}, tmp_path, {})[:3] == (1, "", "alloc: cannot hold 4096 MiB\n")


# The largest resident set of the command's processes (ru_maxrss of its children, KiB),
# measured by a Python of its own so no other child of the test process counts.
MAXRSS = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
          "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


@pytest.mark.skipif(platform.machine() != "x86_64", reason="runs the amd64 busybox of the image")
def test_native_alloc_really_holds_the_memory(built):
    _, root = built
    result = subprocess.run([sys.executable, "-c", MAXRSS, str(root / "bin/busybox"), "sh", str(root / "bench"),
                             "alloc", "64"], capture_output=True, text=True, env={}, check=True)
    assert int(result.stdout) >= 64 * 1024
    idle = subprocess.run([sys.executable, "-c", MAXRSS, str(root / "bin/busybox"), "sh", str(root / "bench"),
                           "alloc", "0"], capture_output=True, text=True, env={}, check=True)
    assert int(idle.stdout) < 16 * 1024  # the shell alone holds little: the 64 MiB were dd's buffer


@pytest.mark.skipif(platform.machine() != "x86_64", reason="runs the amd64 busybox of the image")
def test_native_alloc_over_the_limit_is_refused(built):
    """Under an address-space limit (as a Wasm runtime's own limit) dd cannot get its
    buffer: exit 1 with the same line as bench-wasm. (A memory cgroup's limit OOM-kills
    dd instead; the script then exits with dd's 137, as the killed runtime would.)"""
    _, root = built
    limit = 48 * 2**20
    got = run_native(root, ["alloc", "64"], {},
                     preexec=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)))
    assert got == (1, "", "alloc: cannot hold 64 MiB\n")


# ------------------------------------------------------------------------------ Wasm files

def test_wasm_cat_takes_the_longest_preopen_that_prefixes_the_path(tmp_path):
    root, data = tmp_path / "root", tmp_path / "other"
    (root / "data").mkdir(parents=True)
    data.mkdir()
    (root / "top.txt").write_text("from /\n")
    (root / "data" / "f").write_text("from / (not the /data preopen)\n")
    (data / "f").write_text("from the /data preopen\n")
    preopens = {"/": root, "/data": data}
    assert run_wasm(["cat", "/top.txt"], {}, tmp_path, preopens)[:3] == (0, "from /\n", "")
    assert run_wasm(["cat", "/data/f"], {}, tmp_path, preopens)[:3] == (0, "from the /data preopen\n", "")
    # "/database" is not under "/data": it resolves under "/"
    (root / "database").write_text("db\n")
    assert run_wasm(["cat", "/database"], {}, tmp_path, preopens)[:3] == (0, "db\n", "")


def test_wasm_cat_without_a_preopen_for_the_path_fails(tmp_path, data_dir):
    got = run_wasm(["cat", "/elsewhere/file.txt"], {}, tmp_path, {str(data_dir): data_dir})[:3]
    assert got == (1, "", "cat: cannot read /elsewhere/file.txt\n")


def test_wasm_cat_copies_a_file_larger_than_its_buffer(tmp_path, data_dir):
    big = bytes(range(256)) * 1000  # 256 000 bytes: four 64 KiB reads
    (data_dir / "big").write_bytes(big)
    status, _, _, _, _ = run_wasm(["cat", f"{data_dir}/big"], {}, tmp_path, {str(data_dir): data_dir})
    assert status == 0 and (tmp_path / "wasm.out").read_bytes() == big


def test_bench_greeting_is_hello_wasms(tmp_path):
    assert run_wasm([], {}, tmp_path, {})[1] == GREETING == "Hello from edgewasm: WebAssembly is up.\n"


# ------------------------------------------------------------------------------ the images

def _archive_parts(archive: Path) -> tuple[dict, dict, dict, bytes, dict[str, bytes]]:
    """index.json, manifest, config and layer of a one-image oci-archive; every blob is
    checked against its digest and size."""
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        blobs = {n.split("/")[-1]: tar.extractfile(n).read() for n in names if n.startswith("blobs/sha256/")
                 and tar.getmember(n).isfile()}
        index = json.loads(tar.extractfile("index.json").read())
        assert json.loads(tar.extractfile("oci-layout").read()) == {"imageLayoutVersion": "1.0.0"}
    for digest, data in blobs.items():
        assert hashlib.sha256(data).hexdigest() == digest

    def blob(descriptor):
        data = blobs[descriptor["digest"].split(":")[1]]
        assert len(data) == descriptor["size"]
        return data

    (entry,) = index["manifests"]
    manifest = json.loads(blob(entry))
    config = json.loads(blob(manifest["config"]))
    (layer_desc,) = manifest["layers"]
    layer = blob(layer_desc)
    return entry, manifest, config, layer, blobs


def test_wasm_image_is_a_wasi_image_of_the_module(built):
    archives, _ = built
    path, digest = archives[("wasm", 1)]
    entry, manifest, config, layer, _ = _archive_parts(path)
    assert entry["digest"] == digest
    assert entry["platform"] == {"architecture": "wasm", "os": "wasip1"}
    assert entry["annotations"]["io.containerd.image.name"] == bench_images.wasm_ref(VERSION) \
        == "docker.io/edgewasm/bench-wasm:0.1.0"
    assert (config["os"], config["architecture"]) == ("wasip1", "wasm")
    assert config["config"]["Entrypoint"] == ["/bench.wasm"]
    import gzip
    import io
    raw = gzip.decompress(layer)
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(raw).hexdigest()]
    with tarfile.open(fileobj=io.BytesIO(raw)) as files:
        assert files.getnames() == ["bench.wasm"]
        assert files.extractfile("bench.wasm").read() == bench_images.wasm_module()


@pytest.mark.parametrize("arch,elf_machine", [("amd64", 62), ("arm64", 183)])
def test_native_image_is_busybox_and_the_script_for_its_arch(built, arch, elf_machine):
    archives, _ = built
    path, digest = archives[(arch, 1)]
    entry, manifest, config, layer, _ = _archive_parts(path)
    assert entry["digest"] == digest
    assert entry["platform"] == {"architecture": arch, "os": "linux"}
    assert entry["annotations"]["io.containerd.image.name"] == "docker.io/edgewasm/bench-native:0.1.0"
    assert (config["os"], config["architecture"]) == ("linux", arch)
    assert config["config"]["Entrypoint"] == ["/bin/busybox", "sh", "/bench"]
    assert config["config"]["Env"] == ["PATH=/bin"]
    _, _, pinned = bench_images.busybox_pin(arch)
    assert config["config"]["Labels"]["io.edgewasm.busybox"] == f"debian-trixie busybox-static {pinned}"
    import gzip
    import io
    raw = gzip.decompress(layer)
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(raw).hexdigest()]
    with tarfile.open(fileobj=io.BytesIO(raw)) as files:
        assert files.getnames() == ["bench", "bin/busybox", "usr/share/doc/busybox-static/copyright"]
        busybox = files.extractfile("bin/busybox").read()
        assert files.getmember("bin/busybox").mode == 0o755
        assert files.extractfile("bench").read() == bench_images.SCRIPT.read_bytes()
    # a static ELF for the arch (e_machine at 18: 62 x86-64, 183 AArch64) with no program
    # interpreter (no PT_INTERP, 3, among its program headers): nothing else to carry
    assert busybox[:4] == b"\x7fELF" and int.from_bytes(busybox[18:20], "little") == elf_machine
    phoff, phentsize, phnum = (int.from_bytes(busybox[32:40], "little"), int.from_bytes(busybox[54:56], "little"),
                               int.from_bytes(busybox[56:58], "little"))
    types = [int.from_bytes(busybox[phoff + i * phentsize:][:4], "little") for i in range(phnum)]
    assert 1 in types and 3 not in types  # PT_LOAD, no PT_INTERP


@pytest.mark.parametrize("image", ["wasm", "amd64", "arm64"])
def test_images_are_byte_identical_on_every_build(built, image):
    archives = built[0]
    (first, digest1), (second, digest2) = archives[(image, 1)], archives[(image, 2)]
    assert digest1 == digest2
    assert first.read_bytes() == second.read_bytes()


def test_busybox_deb_is_the_pinned_one_checked_against_the_signed_index(tmp_path):
    """The cached .deb is the pinned version; a cached file whose bytes differ from the
    index's sha256 is fetched again rather than used."""
    deb = bench_images.busybox_deb("amd64")
    assert deb.name == "busybox-static_1.37.0-6+b9_amd64.deb"
    good = deb.read_bytes()
    tampered = tmp_path / deb.parent.name / deb.name
    tampered.parent.mkdir()
    tampered.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    again = bench_images.busybox_deb("amd64", cache=tmp_path)
    assert again == tampered and again.read_bytes() == good


def test_a_pin_the_archive_lacks_is_refused(tmp_path):
    catalog = load_catalog()
    catalog["bench-native"]["busybox"]["version"]["amd64"] = "1:0.0.1-1"
    with pytest.raises(bench_images.BenchImageError, match=r"no busybox-static 1:0.0.1-1 \(it has: .*1\.37"):
        bench_images.busybox_deb("amd64", catalog, cache=tmp_path)
    assert not list(tmp_path.rglob("*.deb"))


# ------------------------------------------------------------------------------ who gets them

def test_only_hosts_that_ask_get_the_bench_images():
    catalog = load_catalog()
    bench = {"bench-wasm", "bench-native"}
    assert not bench & set(wanted_versions({}, catalog))
    assert bench <= set(wanted_versions({"edgewasm_bench_images": True}, catalog))
    assert "hello-wasm" in wanted_versions({}, catalog)
    # naming them in artifact_components is asking for them
    assert set(wanted_versions({"artifact_components": ["bench-native"]}, catalog)) == {"bench-native"}


def test_catalogue_places_the_images_where_k3s_imports_them():
    found, missing = resolve(load_catalog(), ["amd64", "arm64", "arm"], components=["bench-wasm", "bench-native"])
    dests = {(a.component, a.arch): (a.dest, a.checksum_kind, a.builder) for a in found}
    images = "/var/lib/rancher/k3s/agent/images"
    assert dests == {
        ("bench-wasm", "amd64"): (f"{images}/edgewasm-bench-wasm-0.1.0.tar", "built", "bench-wasm"),
        ("bench-wasm", "arm64"): (f"{images}/edgewasm-bench-wasm-0.1.0.tar", "built", "bench-wasm"),
        ("bench-native", "amd64"): (f"{images}/edgewasm-bench-native-0.1.0-amd64.tar", "built", "bench-native"),
        ("bench-native", "arm64"): (f"{images}/edgewasm-bench-native-0.1.0-arm64.tar", "built", "bench-native"),
    }
    assert {(u.component, u.arch) for u in missing} == {("bench-wasm", "arm"), ("bench-native", "arm")}


def test_upstream_builds_them_as_built_artifacts(tmp_path):
    from edgewasm.upstream import Upstream

    found, _ = resolve(load_catalog(), ["amd64"], components=["bench-wasm", "bench-native"])
    upstream = Upstream(build_dir=tmp_path)
    for artifact in found:
        source = upstream.source(artifact)
        assert source.kind == "built"
        assert hashlib.sha256(Path(source.location).read_bytes()).hexdigest() == source.sha256
    assert os.path.exists(tmp_path / "bench-native/0.1.0/amd64/bench-native-0.1.0-amd64.tar")
