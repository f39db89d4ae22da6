"""hello-wasm: the WASI hello module built from its WAT source (edgewasm/hello.wat), and
the OCI image that carries it (scratch, entrypoint /hello.wasm, platform wasip1/wasm)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from edgewasm import oci

SOURCE = Path(__file__).resolve().with_name("hello.wat")


def greeting() -> str:
    """What the module prints: the text of its second data segment."""
    text = re.findall(r'\(data \(i32\.const 16\) "([^"]*)"\)', SOURCE.read_text())[0]
    return text.replace("\\0a", "\n")


def module() -> bytes:
    """The compiled module (wasmtime.wat2wasm, from PyPI's wasmtime)."""
    import wasmtime  # the optional check extra: importing hello_wasm must not need it

    return wasmtime.wat2wasm(SOURCE.read_text())


ENTRYPOINT = "/hello.wasm"


def image_ref(version: str) -> str:
    return f"docker.io/edgewasm/hello-wasm:{version}"


def image_archive(dest: Path, version: str) -> str:
    """Write the hello-wasm image as an oci-archive at ``dest``; return its manifest digest.
    Byte-identical on every build, so its sha256 can sit in a bundle manifest."""
    with tempfile.TemporaryDirectory() as tmp:
        layout = Path(tmp) / "layout"
        digest = oci.write_layout(layout, {ENTRYPOINT: (module(), 0o755)}, entrypoint=[ENTRYPOINT],
                                  os="wasip1", architecture="wasm", tag=version, name=image_ref(version),
                                  labels={"org.opencontainers.image.title": "hello-wasm"})
        oci.archive(layout, dest)
    return digest
