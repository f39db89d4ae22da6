"""Inventory validation: every problem is found before pyinfra connects to any host.

pyinfra has no hook between loading an inventory and connecting to it, so each edgewasm
inventory ends with ``check_inventory(__file__)``. That builds the inventory the way the
pyinfra CLI does (host data, group data files, the command line's ``--data``) and raises
``InventoryError``, which pyinfra prints as a plain error and exits on, naming each host,
key, value (secrets redacted) and fix. ``deploys/full_stack.py`` checks the inventory it
runs again (``check_running_inventory``), so one that forgot the call is refused before
any change. What each setting may hold is declared in edgewasm/settings.py; this module
adds what only the whole inventory shows (roles, addresses, HA, cluster-wide agreement,
bundles).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyinfra import logger, state
from pyinfra.api.exceptions import PyinfraError

from edgewasm import settings
from edgewasm.manifest import Bundle, sha256_of
from edgewasm.ssh import nodelay_for_pyinfra


class InventoryError(PyinfraError):
    pass


def check_host_data(name: str, data: Mapping[str, Any]) -> list[str]:
    """Problems with one host's data, each naming host, key, value and fix (None is unset)."""
    return [p for key, value in data.items() if value is not None and (p := settings.problem(name, key, value))]


def _digest(value: Any) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()


def _disagreement(key: str, hosts: list, scope: str) -> str | None:
    values = {h.name: settings.value(h.data, key) for h in hosts}
    if len({_digest(v) for v in values.values()}) <= 1:
        return None
    shown = ", ".join(f"{name}={settings.shown(key, v)}" for name, v in values.items())
    where = "every K3s node" if scope == "cluster" else "every server"
    return (f"{where} must agree on {key}, but: {shown}; fix: set it once for the cluster "
            "(the inventory's all group, or group_data/all.py)")


def topology_problems(hosts: list, source: str) -> tuple[list[str], list[str]]:
    """(problems, warnings) of the inventory as one cluster: roles, duplicate addresses,
    HA, settings that every node or every server must agree on."""
    problems, warnings = [], []
    for h in hosts:
        groups = set(h.groups) & set(settings.ROLE_GROUPS)
        if len(groups) > 1:
            problems.append(f"{h.name}: is in both k3s_servers and k3s_agents; fix: keep it in one of them")
        elif not groups:
            problems.append(f"{h.name}: is in neither k3s_servers nor k3s_agents; fix: put it in one, "
                            "or leave it out of this inventory")
    nodes = [h for h in hosts if h.role]
    servers = [h for h in nodes if h.role == "server"]
    if nodes and not servers:
        problems.append(f"inventory {source}: no host is in k3s_servers (no host has role 'server'); "
                        "fix: add one to k3s_servers")
    for what, address in (("ssh_hostname", lambda h: f"{h.address}:{h.data.get('ssh_port') or 22}"),
                          ("k3s_node_ip", lambda h: h.data.get("k3s_node_ip"))):
        seen: dict[str, list[str]] = {}
        for h in nodes:
            if address(h):
                seen.setdefault(address(h), []).append(h.name)
        problems += [f"{', '.join(names)}: share {what} {value}; fix: give each host its own"
                     for value, names in seen.items() if len(names) > 1]
    ha = any(settings.value(h.data, "k3s_ha") for h in servers)
    if len(servers) > 1 and not ha:
        problems.append(f"{', '.join(h.name for h in servers)}: several servers without k3s_ha; fix: set "
                        "k3s_ha = True for the cluster (embedded etcd), or keep one server")
    if ha and len(servers) % 2 == 0:
        warnings.append(f"{len(servers)} HA servers: etcd keeps quorum with a majority, so an even number "
                        "tolerates no more failures than one fewer; use 3 or 5")
    in_data = sorted({k for h in nodes for k in ("k3s_token", "k3s_agent_token") if h.data.get(k)})
    if in_data:
        warnings.append(f"{', '.join(in_data)} set in data, which `pyinfra ... debug-inventory` prints; "
                        "keep tokens in k3s_token_file / k3s_agent_token_file instead")
    for h in servers:
        if settings.value(h.data, "gatekeeper_enabled") and not settings.value(h.data, "policy_allowed_repos"):
            problems.append(f"{h.name}: Gatekeeper is on but policy_allowed_repos is empty, so no registry "
                            "is trusted; fix: " + settings.SETTINGS["policy_allowed_repos"].fix
                            + ", or gatekeeper_enabled = False")
    for key, setting in settings.SETTINGS.items():
        scope_hosts = {"cluster": nodes, "servers": servers}.get(setting.scope)
        disagreement = _disagreement(key, scope_hosts, setting.scope) if scope_hosts else None
        if disagreement:
            problems.append(disagreement)
    return problems, warnings


def validate(hosts: list, source: str, outcome: str = "no host was contacted") -> None:
    """Check every host's data and the inventory as one cluster, and every bundle it names;
    raise InventoryError listing all problems (secrets redacted)."""
    problems: list[str] = []
    for h in hosts:
        problems.extend(check_host_data(h.name, h.data))
    topology, warnings = topology_problems(hosts, source)
    problems += topology
    for warning in warnings:
        logger.warning(f"inventory {source}: {warning}")
    problems.extend(_bundle_problems(hosts))
    if problems:
        raise InventoryError(
            f"inventory {source} is invalid, {outcome}:\n  " + "\n  ".join(problems)
        )


def _cli_data(argv: list[str] | None = None) -> dict[str, Any]:
    """``--data key=value`` overrides on the pyinfra command line, parsed as pyinfra does,
    so they are checked with the rest before any host is contacted."""
    from pyinfra_cli.util import parse_cli_arg  # pyinfra_cli gevent-patches the stdlib when imported

    args = sys.argv[1:] if argv is None else argv
    items = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--data"]
    items += [a.removeprefix("--data=") for a in args if a.startswith("--data=")]
    return {k: parse_cli_arg(v) for k, _, v in (item.partition("=") for item in items if "=" in item)}


def _hosts_of(inventory, override: Mapping[str, Any] | None = None) -> list["InventoryHost"]:
    return [InventoryHost(h.name, list(h.groups), {**h.data.dict(), **(override or {})}) for h in inventory]


def _fingerprint(hosts: list) -> str:
    """The same for an inventory with or without pyinfra's deploy defaults merged in."""
    return _digest(sorted((h.name, sorted(h.groups), sorted(settings.merged(h.data).items(), key=repr))
                          for h in hosts))


_checking: set[str] = set()
_validated: set[str] = set()  # fingerprints of inventories check_inventory passed in this process
_running_checked: set[int] = set()  # pyinfra inventories check_running_inventory already looked at


def check_inventory(inventory_file: str, empty_fix: str = "add hosts to k3s_servers / k3s_agents") -> None:
    """Validate the inventory in ``inventory_file`` (with the command line's ``--data``)
    before pyinfra contacts any host; raise InventoryError listing all problems.

    Every edgewasm inventory calls this while pyinfra loads it, before any connection:
    it is also where pyinfra's SSH connections are told to send commands at once
    (edgewasm.ssh: without it each command waits up to 40 ms on Nagle's algorithm)."""
    from pyinfra_cli.inventory import make_inventory_from_files  # as above: pyinfra's CLI process only

    nodelay_for_pyinfra()

    path = str(Path(inventory_file).resolve())
    if path in _checking:  # building the inventory runs the file again
        return
    _checking.add(path)
    try:
        inventory = make_inventory_from_files(inventory_file, cwd=os.getcwd())
    finally:
        _checking.discard(path)

    hosts = _hosts_of(inventory, _cli_data())
    if not hosts:
        raise InventoryError(
            f"inventory {inventory_file} has no hosts; fix: {empty_fix}"
        )
    validate(hosts, inventory_file)
    _validated.add(_fingerprint(hosts))


def check_running_inventory() -> None:
    """The deploy's own guard (deploys/full_stack.py): the inventory pyinfra runs, its
    ``--data`` included, is validated unless its inventory file just did exactly that, so
    an inventory that forgot ``check_inventory`` is refused before any change."""
    if id(state.inventory) in _running_checked:  # pyinfra runs the deploy file once per host
        return
    _running_checked.add(id(state.inventory))
    hosts = _hosts_of(state.inventory)
    fingerprint = _fingerprint(hosts)
    if fingerprint not in _validated:
        validate(hosts, "given to pyinfra", outcome="no host was changed")
        _validated.add(fingerprint)


def _bundle_problems(hosts) -> list[str]:
    """Every configured bundle checked file by file against its manifest, and the manifest
    against what lives outside the bundle: its pinned digest (edgewasm_bundle_sha256) and
    the catalogue's own pins."""
    problems = []
    for path in sorted({h.data.get("edgewasm_bundle") for h in hosts} - {None}):
        users = sorted(h.name for h in hosts if h.data.get("edgewasm_bundle") == path)
        bundle = Bundle.open(path)
        found = list(bundle.verify())
        pins = {h.data.get("edgewasm_bundle_sha256") for h in hosts if h.data.get("edgewasm_bundle") == path} - {None}
        manifest = Path(path) / "manifest.json"
        if pins and manifest.exists() and sha256_of(manifest) not in pins:
            found.append(f"{manifest}: sha256 {sha256_of(manifest)} is not the pinned edgewasm_bundle_sha256 "
                         f"{', '.join(sorted(pins))}")
        found += bundle.catalogue_mismatches()
        problems += [f"bundle {path} (for {', '.join(users)}): {problem}; "
                     "fix: rebuild it (edgewasm-bundle build) or copy it again" for problem in found]
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
    return [InventoryHost(h["name"], h["groups"], settings.redacted(settings.merged(h["data"])))
            for h in json.loads(result.stdout[start:])]
