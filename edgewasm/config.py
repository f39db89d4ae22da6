"""Inventory validation: every problem is found before pyinfra connects to any host.

pyinfra has no hook between loading an inventory and connecting to it, so each edgewasm
inventory ends with ``check_inventory(__file__)``. That builds the inventory the way the
pyinfra CLI does (host data, group data files) and raises ``InventoryError``, which
pyinfra prints as a plain error and exits on, naming each host, key, value and fix.
What each setting may hold is declared in edgewasm/settings.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyinfra.api.exceptions import PyinfraError

from edgewasm import settings


class InventoryError(PyinfraError):
    pass


def check_host_data(name: str, data: Mapping[str, Any]) -> list[str]:
    """Problems with one host's data, each naming host, key, value and fix."""
    return [p for key, value in data.items() if (p := settings.problem(name, key, value))]


_checking: set[str] = set()


def check_inventory(inventory_file: str, empty_fix: str = "add hosts to k3s_servers / k3s_agents") -> None:
    """Validate the inventory in ``inventory_file``; raise InventoryError listing all problems."""
    from pyinfra_cli.inventory import make_inventory_from_files

    path = str(Path(inventory_file).resolve())
    if path in _checking:  # building the inventory runs the file again
        return
    _checking.add(path)
    try:
        inventory = make_inventory_from_files(inventory_file, cwd=os.getcwd())
    finally:
        _checking.discard(path)

    hosts = list(inventory)
    if not hosts:
        raise InventoryError(
            f"inventory {inventory_file} has no hosts; fix: {empty_fix}"
        )
    problems: list[str] = []
    for host in hosts:
        problems.extend(check_host_data(host.name, host.data.dict()))
    roles = {h.name: settings.role(h.groups) for h in hosts}
    if any(roles.values()) and "server" not in roles.values():
        problems.append(f"inventory {inventory_file}: no host is in k3s_servers (no host has role 'server'); "
                        "fix: add one to k3s_servers")
    problems.extend(_cluster_wide_problems([h for h in hosts if roles[h.name] == "server"]))
    if not problems:
        problems.extend(_bundle_problems(hosts))
    if problems:
        raise InventoryError(
            f"inventory {inventory_file} is invalid, no host was contacted:\n  " + "\n  ".join(problems)
        )


# One Gatekeeper and one set of image policies per cluster: every server must agree.
CLUSTER_WIDE_PREFIXES = ("gatekeeper_", "policy_")


def _cluster_wide_problems(servers) -> list[str]:
    keys = sorted({k for h in servers for k in h.data.dict() if k.startswith(CLUSTER_WIDE_PREFIXES)})
    problems = []
    for key in keys:
        values = {h.name: settings.value(h.data.dict(), key) for h in servers}
        if len({repr(v) for v in values.values()}) > 1:
            problems.append(f"servers disagree on {key}: {values}; fix: set it once for the cluster "
                            "(group_data/all.py or the k3s_servers group)")
    return problems


def _bundle_problems(hosts) -> list[str]:
    """Every configured bundle checked file by file against its manifest."""
    from edgewasm.manifest import Bundle

    problems = []
    for path in sorted({h.data.get("edgewasm_bundle") for h in hosts} - {None}):
        users = sorted(h.name for h in hosts if h.data.get("edgewasm_bundle") == path)
        for problem in Bundle.open(path).verify():
            problems.append(f"bundle {path} (for {', '.join(users)}): {problem}; "
                            "fix: rebuild it (edgewasm-bundle build) or copy it again")
    return problems


@dataclass
class InventoryHost:
    name: str
    groups: list[str]
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return self.data.get("ssh_hostname") or self.name

    @property
    def role(self) -> str | None:
        return settings.role(self.groups)


def inventory_hosts(inventory: str, cwd: str | None = None) -> list[InventoryHost]:
    """Hosts of a pyinfra inventory file, each with its data over the declared defaults.

    Read with ``pyinfra INVENTORY debug-inventory --json`` in a child process (no host is
    contacted), so the data is exactly what pyinfra merges."""
    result = subprocess.run(
        [sys.executable, "-m", "pyinfra", inventory, "debug-inventory", "--json"],
        capture_output=True, text=True, cwd=cwd, env={**os.environ, "PYINFRA_PROGRESS": "off"},
    )
    if result.returncode != 0:
        raise RuntimeError(f"cannot read inventory {inventory}:\n{result.stderr.strip()}")
    start = result.stdout.find("[")
    return [InventoryHost(h["name"], h["groups"], settings.merged(h["data"])) for h in json.loads(result.stdout[start:])]
