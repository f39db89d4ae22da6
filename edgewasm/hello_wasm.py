"""hello-wasm: build the WASI hello module from its WAT source (hello-wasm/hello.wat)."""

from __future__ import annotations

import re
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "hello-wasm" / "hello.wat"


def greeting() -> str:
    """What the module prints: the text of its second data segment."""
    text = re.findall(r'\(data \(i32\.const 16\) "([^"]*)"\)', SOURCE.read_text())[0]
    return text.replace("\\0a", "\n")


def module() -> bytes:
    """The compiled module (wasmtime.wat2wasm, from PyPI's wasmtime)."""
    import wasmtime

    return wasmtime.wat2wasm(SOURCE.read_text())
