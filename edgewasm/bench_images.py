"""The workload images of edgewasm-bench (issue 32): one behaviour, two images, so the
bench compares a Wasm pod with a container and not two programs.

- bench-wasm: edgewasm/bench.wat compiled to a WASI (preview1) module, the way hello.wat
  is; scratch, entrypoint /bench.wasm, platform wasip1/wasm.
- bench-native: the container baseline for runc, "a native static hello image of the
  same behaviour, built here, no pull": Debian's busybox-static for the node's arch
  (fetched with apt, checked against the signed index, pinned in artifacts.toml) with
  edgewasm/bench.sh as /bench; scratch, entrypoint ``/bin/busybox sh /bench``,
  platform linux/<arch>.

Both are arguments-driven (bench.wat's header lists the subcommands), so one image
serves every probe, and both are byte-identical on every build (same inputs), so their
sha256 can sit in a bundle manifest like hello-wasm's.
"""

from __future__ import annotations

import gzip
import io
import lzma
import tarfile
import tempfile
from pathlib import Path

from edgewasm import local_cache, oci
from edgewasm.apt import ResolveError, Resolver
from edgewasm.artifacts import load_catalog
from edgewasm.os_releases import DPKG_ARCH, releases

HERE = Path(__file__).resolve().parent
WAT = HERE / "bench.wat"
SCRIPT = HERE / "bench.sh"

WASM_ENTRYPOINT = "/bench.wasm"
NATIVE_SCRIPT = "/bench"
BUSYBOX = "/bin/busybox"
NATIVE_ENTRYPOINT = [BUSYBOX, "sh", NATIVE_SCRIPT]
# Where the .deb sits inside its data.tar, and what of it the image carries: the binary,
# and its copyright file (busybox is GPL-2; the source is Debian's busybox source package
# of the same version).
DEB_BINARY = "./usr/bin/busybox"
DEB_COPYRIGHT = "./usr/share/doc/busybox-static/copyright"
IMAGE_COPYRIGHT = "/usr/share/doc/busybox-static/copyright"
DEBS = local_cache.ROOT / "bench-debs"


class BenchImageError(RuntimeError):
    pass


def wasm_ref(version: str) -> str:
    return f"docker.io/edgewasm/bench-wasm:{version}"


def native_ref(version: str) -> str:
    return f"docker.io/edgewasm/bench-native:{version}"


def wasm_module() -> bytes:
    """The compiled module (wasmtime.wat2wasm, from PyPI's wasmtime)."""
    import wasmtime  # the optional check extra, as for hello-wasm

    return wasmtime.wat2wasm(WAT.read_text())


def wasm_archive(dest: Path, version: str, arch: str | None = None) -> str:
    """Write bench-wasm as an oci-archive at ``dest``; return its manifest digest. The
    same bytes for every ``arch`` (a Wasm module runs on any)."""
    with tempfile.TemporaryDirectory() as tmp:
        layout = Path(tmp) / "layout"
        digest = oci.write_layout(layout, {WASM_ENTRYPOINT: (wasm_module(), 0o755)}, entrypoint=[WASM_ENTRYPOINT],
                                  os="wasip1", architecture="wasm", tag=version, name=wasm_ref(version),
                                  labels={"org.opencontainers.image.title": "bench-wasm"})
        oci.archive(layout, dest)
    return digest


def busybox_pin(arch: str, catalog: dict | None = None) -> tuple[str, str, str]:
    """(OS release, package, Debian version) bench-native is built from for ``arch``."""
    spec = (catalog or load_catalog())["bench-native"]["busybox"]
    versions = spec["version"]
    if arch not in versions:
        raise BenchImageError(f"bench-native: no busybox version pinned for {arch} in edgewasm/artifacts.toml "
                              f"([bench-native] busybox.version has {sorted(versions)})")
    return spec["release"], spec["package"], versions[arch]


def busybox_deb(arch: str, catalog: dict | None = None, cache: Path = DEBS) -> Path:
    """The pinned busybox .deb for ``arch``, fetched by apt with the release's keyring and
    checked against the sha256 of its signed Packages index (edgewasm/apt.py, Resolver.fetch),
    never taken unverified; kept in ``cache`` and checked again on every use."""
    release, package, version = busybox_pin(arch, catalog)
    resolver = Resolver(release, releases()[release], DPKG_ARCH[arch])
    try:
        return resolver.fetch(package, version, cache / f"{release}-{DPKG_ARCH[arch]}")
    except ResolveError as exc:
        raise BenchImageError(str(exc)) from None


def _ar_members(data: bytes) -> dict[str, bytes]:
    """The members of an ar archive (a .deb is one: debian-binary, control.tar.*, data.tar.*)."""
    if not data.startswith(b"!<arch>\n"):
        raise BenchImageError("not a .deb (no ar magic)")
    members, pos = {}, 8
    while pos + 60 <= len(data):
        header = data[pos:pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        members[name] = data[pos + 60:pos + 60 + size]
        pos += 60 + size + (size % 2)  # members start on even offsets
    return members


def _data_tar(members: dict[str, bytes]) -> bytes:
    for name, unpack in (("data.tar.xz", lzma.decompress), ("data.tar.gz", gzip.decompress), ("data.tar", bytes)):
        if name in members:
            return unpack(members[name])
    raise BenchImageError(f".deb with an unsupported data member: {sorted(members)}")


def deb_files(deb: Path, wanted: list[str]) -> dict[str, bytes]:
    """The files ``wanted`` (paths as in the data tar, ./usr/...) of a .deb."""
    found = {}
    with tarfile.open(fileobj=io.BytesIO(_data_tar(_ar_members(deb.read_bytes())))) as tar:
        for member in tar.getmembers():
            if member.name in wanted and member.isfile():
                found[member.name] = tar.extractfile(member).read()
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise BenchImageError(f"{deb.name} lacks {missing}")
    return found


def native_files(deb: Path) -> dict[str, tuple[bytes, int]]:
    """The bench-native image's files: busybox, its copyright, the /bench script."""
    files = deb_files(deb, [DEB_BINARY, DEB_COPYRIGHT])
    return {
        BUSYBOX: (files[DEB_BINARY], 0o755),
        IMAGE_COPYRIGHT: (files[DEB_COPYRIGHT], 0o644),
        NATIVE_SCRIPT: (SCRIPT.read_bytes(), 0o755),
    }


def native_archive(dest: Path, version: str, arch: str, deb: Path | None = None) -> str:
    """Write bench-native for ``arch`` as an oci-archive at ``dest``; return its manifest
    digest. ``deb``: the busybox .deb to take (default: the pinned one, fetched verified)."""
    deb = deb or busybox_deb(arch)
    release, package, pinned = busybox_pin(arch)
    with tempfile.TemporaryDirectory() as tmp:
        layout = Path(tmp) / "layout"
        digest = oci.write_layout(
            layout, native_files(deb), entrypoint=NATIVE_ENTRYPOINT, os="linux", architecture=arch,
            tag=version, name=native_ref(version),
            # busybox runs its applets by name anyway (Debian's build prefers them); PATH
            # only says where the one binary is.
            env=["PATH=/bin"],
            labels={"org.opencontainers.image.title": "bench-native",
                    "io.edgewasm.busybox": f"{release} {package} {pinned}"})
        oci.archive(layout, dest)
    return digest
