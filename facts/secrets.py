"""Facts about secret files that print neither the secret nor its plain digest."""

from __future__ import annotations

import shlex

from facts import SingleLineFact


class SaltedSha256File(SingleLineFact):
    """
    sha256 of ``salt`` followed by the file's bytes, or ``""`` when there is no file.

    The salt is random per run, so the digest pyinfra prints at ``-vvv`` says nothing
    about the secret that another run could reuse; callers compare it with the digest
    they compute the same way.

    .. code:: python

        host.get_fact(SaltedSha256File, path="/etc/rancher/k3s/agent-token", salt="3f0c...")
    """

    def requires_command(self, path: str, salt: str) -> str:
        return "sha256sum"

    def command(self, path: str, salt: str) -> str:
        p = shlex.quote(path)
        return f"if [ -f {p} ]; then {{ printf %s {shlex.quote(salt)}; cat {p}; }} | sha256sum; fi"

    def process(self, output):
        return output[0].split()[0] if output and output[0].strip() else ""
