"""From a pyinfra inventory to Testinfra hosts, with SSH host keys checked.

The inventory is read as pyinfra reads it (edgewasm.config.inventory_hosts), so Testinfra
sees exactly the hosts, addresses, keys and data pyinfra uses.
"""

from __future__ import annotations

import base64
import binascii
import functools
import secrets
from typing import Any

import paramiko
from testinfra.backend.paramiko import ParamikoBackend
from testinfra.host import Host

from edgewasm.config import InventoryHost
from edgewasm.ssh import known_hosts_file, ssh_user, strict_client


class KnownHostsParamikoBackend(ParamikoBackend):
    """Testinfra's paramiko backend, but refusing hosts whose key is not in known_hosts.

    (Testinfra's own backend warns and connects to unknown hosts.)
    """

    def __init__(self, inv_host: InventoryHost, **kwargs: Any):
        data = inv_host.data
        port = data.get("ssh_port") or 22
        super().__init__(f"{ssh_user(data)}@{inv_host.address}:{port}", **kwargs)
        self.inv_host = inv_host
        self.known_hosts_file = known_hosts_file(data)
        self._answers: dict[str, tuple[int, bytes, bytes]] = {}

    def prefetch(self, reads: list[tuple[str, ...]]) -> None:
        """Run every read (a Testinfra command template and its arguments) in one SSH
        command; ``run`` then answers those commands from what they printed (edgewasm/compliance/reads.py)."""
        commands = list(dict.fromkeys(self.get_command(*read) for read in reads))
        commands = [c for c in commands if c not in self._answers]
        if not commands:
            return
        tag = secrets.token_hex(4)
        result = super().run(batch_script(commands, tag))
        self._answers.update(parse_batch(commands, tag, result.stdout_bytes))

    def run(self, command: str, *args: str, **kwargs: Any):
        key = self.get_command(command, *args)
        if key in self._answers:
            rc, stdout, stderr = self._answers[key]
            return self.result(rc, self.encode(key), stdout, stderr)
        return super().run(command, *args, **kwargs)

    @functools.cached_property
    def client(self) -> paramiko.SSHClient:
        return strict_client(self.host.name, self.inv_host.data, self.timeout)


def batch_script(commands: list[str], tag: str) -> str:
    """One shell script running each command with its output kept apart: per command a
    line ``@@<tag> <index> <exit status>``, then its stdout and its stderr, base64, a line each."""
    parts = ['__ew=$(mktemp -d) || exit 1']
    for index, command in enumerate(commands):
        parts.append(f'( {command}\n) >"$__ew/o" 2>"$__ew/e" </dev/null; echo "@@{tag} {index} $?"; '
                     'base64 -w0 "$__ew/o"; echo; base64 -w0 "$__ew/e"; echo')
    parts.append('rm -rf "$__ew"')
    return "\n".join(parts)


def parse_batch(commands: list[str], tag: str, stdout: bytes) -> dict[str, tuple[int, bytes, bytes]]:
    """``{command: (exit status, stdout, stderr)}`` for every command the script's output answers."""
    lines = stdout.decode().split("\n")
    answers = {}
    for i, line in enumerate(lines):
        fields = line.split()
        if len(fields) == 3 and fields[0] == f"@@{tag}" and i + 2 < len(lines):
            try:
                out, err = base64.b64decode(lines[i + 1], validate=True), base64.b64decode(lines[i + 2], validate=True)
            except binascii.Error:  # cut off mid-line: that command is sent again on its own
                break
            answers[commands[int(fields[1])]] = (int(fields[2]), out, err)
    return answers


def testinfra_host(inv_host: InventoryHost) -> Host:
    sudo = bool(inv_host.data.get("_sudo"))
    return Host(KnownHostsParamikoBackend(inv_host, sudo=sudo))
