"""The version a runtime reports, read from its ``--version`` output."""

from __future__ import annotations

import re

_VERSION = re.compile(r"^v?\d+\.\d+(\.\d+)?([-+.][0-9A-Za-z.+-]*)?$")


def reported_version(output: str) -> str:
    """The first version-looking word of the first line: ``k3s version v1.31.1+k3s1 (452dbbc1)``
    -> ``v1.31.1+k3s1``; ``wasmtime 25.0.1 (b4e7ca5 2024-09-25)`` -> ``25.0.1``;
    ``wasmedge version 0.14.1`` -> ``0.14.1``; ``""`` when there is none."""
    first = output.strip().splitlines()[0] if output.strip() else ""
    return next((word for word in first.split() if _VERSION.match(word)), "")
