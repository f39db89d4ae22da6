"""Facts about installed Wasm runtimes."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase

from facts import SingleLineFact


class ExtractedFrom(SingleLineFact):
    """The sha256 of the tarball a directory was last extracted from (its stamp), or ``""``."""

    def command(self, directory: str) -> str:
        return f"cat {shlex.quote(directory)}/.edgewasm-source-sha256 2>/dev/null || true"


class VersionOutput(FactBase):
    """Everything ``BINARY --version`` prints (crun lists its features there), or ``""``
    when the binary is not on the host.

    .. code:: python

        host.get_fact(VersionOutput, binary="/usr/bin/crun")
        # "crun version 1.8.1\ncommit: ...\nspec: 1.0.0\n+SYSTEMD +SELINUX ... +YAJL"
    """

    default = str

    def requires_command(self, binary: str) -> str:
        return binary

    def command(self, binary: str) -> str:
        return f"{shlex.quote(binary)} --version 2>&1 || true"

    def process(self, output):
        return "\n".join(output)
