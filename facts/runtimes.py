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


class NewerThan(FactBase):
    """
    Which of ``paths`` changed after ``reference`` was last written (all that exist, when
    ``reference`` does not): ``["/etc/ld.so.conf.d/edgewasm-wasmedge.conf"]``.

    The loader cache is rebuilt when anything it reads is newer than it, so a run that
    wrote the loader config and died before ``ldconfig`` is finished by the next.
    """

    default = list

    def requires_command(self, reference: str, paths: list[str]) -> str:
        return "test"

    def command(self, reference: str, paths: list[str]) -> str:
        quoted = " ".join(shlex.quote(p) for p in paths)
        return f'r={shlex.quote(reference)}; for p in {quoted}; do [ -e "$p" ] && {{ [ ! -e "$r" ] || [ "$p" -nt "$r" ]; }} && echo "$p"; done; true'

    def process(self, output):
        return [line.strip() for line in output if line.strip()]
