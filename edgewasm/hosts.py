"""From a pyinfra inventory to Testinfra hosts, with SSH host keys checked.

The inventory is read with ``pyinfra INVENTORY debug-inventory --json`` (no host is
contacted), so Testinfra sees exactly the hosts, addresses, keys and data pyinfra uses.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

import paramiko
from testinfra.backend.paramiko import ParamikoBackend
from testinfra.host import Host


@dataclass
class InventoryHost:
    name: str
    groups: list[str]
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return self.data.get("ssh_hostname") or self.name


def inventory_hosts(inventory: str, cwd: str | None = None) -> list[InventoryHost]:
    """Hosts of a pyinfra inventory file with their merged data."""
    result = subprocess.run(
        [sys.executable, "-m", "pyinfra", inventory, "debug-inventory", "--json"],
        capture_output=True, text=True, cwd=cwd, env={**os.environ, "PYINFRA_PROGRESS": "off"},
    )
    if result.returncode != 0:
        raise RuntimeError(f"cannot read inventory {inventory}:\n{result.stderr.strip()}")
    start = result.stdout.find("[")
    return [InventoryHost(h["name"], h["groups"], h["data"]) for h in json.loads(result.stdout[start:])]


class KnownHostsParamikoBackend(ParamikoBackend):
    """Testinfra's paramiko backend, but refusing hosts whose key is not in known_hosts.

    (Testinfra's own backend warns and connects to unknown hosts.)
    """

    def __init__(self, inv_host: InventoryHost, **kwargs: Any):
        data = inv_host.data
        user = data.get("ssh_user") or "root"
        port = data.get("ssh_port") or 22
        super().__init__(f"{user}@{inv_host.address}:{port}", **kwargs)
        self.inv_host = inv_host
        self.key_file = os.path.expanduser(data["ssh_key"]) if data.get("ssh_key") else None
        known = data.get("ssh_known_hosts_file") or "~/.ssh/known_hosts"
        self.known_hosts_file = os.path.expanduser(known)

    @functools.cached_property
    def client(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        client.load_host_keys(self.known_hosts_file)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(
            hostname=self.host.name,
            port=int(self.host.port or 22),
            username=self.host.user,
            key_filename=self.key_file,
            timeout=self.timeout,
            allow_agent=self.key_file is None,
            look_for_keys=self.key_file is None,
        )
        return client


def testinfra_host(inv_host: InventoryHost) -> Host:
    sudo = bool(inv_host.data.get("_sudo"))
    return Host(KnownHostsParamikoBackend(inv_host, sudo=sudo))
