"""From a pyinfra inventory to Testinfra hosts, with SSH host keys checked.

The inventory is read as pyinfra reads it (edgewasm.config.inventory_hosts), so Testinfra
sees exactly the hosts, addresses, keys and data pyinfra uses.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import paramiko
from testinfra.backend.paramiko import ParamikoBackend
from testinfra.host import Host

from edgewasm.config import InventoryHost
from edgewasm.ssh import set_nodelay


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
        set_nodelay(client)
        return client


def testinfra_host(inv_host: InventoryHost) -> Host:
    sudo = bool(inv_host.data.get("_sudo"))
    return Host(KnownHostsParamikoBackend(inv_host, sudo=sudo))
