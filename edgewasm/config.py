"""Inventory validation: every problem is found before pyinfra connects to any host.

pyinfra has no hook between loading an inventory and connecting to it, so each edgewasm
inventory ends with ``check_inventory(__file__)``. That builds the inventory the way the
pyinfra CLI does (host data, group data files, the command line's ``--data``) and raises
``InventoryError``, which pyinfra prints as a plain error and exits on, naming each host,
key, value (secrets redacted) and fix. ``deploys/full_stack.py`` checks the inventory it
runs again (``check_running_inventory``), so one that forgot the call is refused before
any change. What each setting may hold is declared in edgewasm/settings.py; this module
adds what only the whole inventory shows (roles, addresses, HA, cluster-wide agreement,
bundles, preflight_sysctls that k3s_protect_kernel_defaults would make the kubelet refuse),
each host's name (a lowercase RFC 1123 name: it reaches commands on the first
server), how its SSH host key is trusted (strict checking against a known_hosts entry
that exists: the first contact with a new node is the run that uploads its token) and the
operator's token files (0600).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import stat
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyinfra import logger, state
from pyinfra.api.exceptions import PyinfraError

from edgewasm import settings
from edgewasm.bundle_trust import trust_problems
from edgewasm.manifest import Bundle
from edgewasm.k3s import READ_ONLY_ENV, TOKEN_SETTINGS, kernel_defaults_problems, token_path
from edgewasm.ssh import PYINFRA_DEFAULT_POLICY, STRICT, known_host_keys, nodelay_for_pyinfra, ssh_target


class InventoryError(PyinfraError):
    pass


def check_host_data(name: str, data: Mapping[str, Any], read_only: bool = False) -> list[str]:
    """Problems with one host's data, each naming host, key, value and fix (None is unset).
    ``read_only`` (edgewasm-check reading the inventory, its drift dry run): the host may
    be reached as the nightly check's user (ssh_user = check_access_user), which a deploy
    refuses (it needs root)."""
    problems = []
    for key, value in data.items():
        if value is None:
            continue
        if read_only and key == "ssh_user" and value == settings.value(data, "check_access_user") != "root":
            continue
        found = settings.problem(name, key, value)
        if found:
            problems.append(found)
    if data.get("check_access_key") and not data.get("check_access_from"):
        problems.append(f"{name}: check_access_key is set but check_access_from is empty, so the check key would "
                        "be accepted from anywhere; fix: " + settings.SETTINGS["check_access_from"].fix)
    return problems


# ------------------------------------------------------------------ names and host keys

# Lowercase RFC 1123 names, as Kubernetes takes node names: labels of a-z, 0-9 and '-',
# not starting or ending with '-', at most 63 characters each and 253 in all.
_NAME_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


def host_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a host's name (it becomes the K3s node name, and goes into
    kubectl commands on the first server), or None."""
    if len(name) <= 253 and all(_NAME_LABEL.fullmatch(label) for label in name.split(".")):
        return None
    labels = (re.sub(r"[^a-z0-9-]+", "-", label.lower()).strip("-")[:63].strip("-") for label in name.split("."))
    suggestion = ".".join(label for label in labels if label)[:253] or "edge-1"
    return (f"{name}: host name {name!r} is not a lowercase RFC 1123 name (labels of a-z, 0-9 and '-', not "
            "starting or ending with '-', at most 63 characters each and 253 in all): it becomes the K3s node "
            f"name and goes into commands on the first server; fix: rename the host, e.g. {suggestion!r}, and "
            "give its address as ssh_hostname")


# Set in the pyinfra that only reads an inventory (``inventory_hosts``: debug-inventory,
# for edgewasm-check and edgewasm-bundle). It contacts no host, and edgewasm-check
# connects with its own client, which refuses a host whose key is not in known_hosts,
# host by host, saying so in the report: host keys are not that read's to refuse.
INVENTORY_READ_ENV = "EDGEWASM_INVENTORY_READ"

# How much of the host keys validate() checks: "entries" (a deploy: strict checking
# and a known_hosts entry for every host), "policy" (edgewasm-check's dry run, which
# pyinfra connects for: strict checking, and a host without an entry is that host's
# failure in the report, not every host's), "none" (an inventory read).
HOST_KEY_CHECKS = ("entries", "policy", "none")


def _host_key_mode(deploy_file: bool = False) -> str:
    if os.environ.get(INVENTORY_READ_ENV) and not deploy_file:
        return "none"
    return "policy" if os.environ.get(READ_ONLY_ENV) else "entries"


def host_key_problems(name: str, data: Mapping[str, Any], entries: bool = True) -> list[str]:
    """Why pyinfra could trust a key it has never seen for host ``name``: a policy other
    than strict checking (``ssh_strict_host_key_checking = "yes"``), or (``entries``) no
    known_hosts entry for the address and port it will connect to (hashed entries
    matched). The first contact with a new node is the run that uploads its join token."""
    if name.startswith("@"):  # another connector (@local, @docker/...): its name is refused
        return []
    try:
        target = ssh_target(name, data)
    except (TypeError, ValueError):
        return [f"{name}: ssh_port = {data.get('ssh_port')!r} is not a port number; fix: ssh_port = 22, or the "
                "port the host's sshd listens on"]
    policy = data.get("ssh_strict_host_key_checking")
    problems = []
    if policy != STRICT:
        shown = (f"= {policy!r}" if policy is not None
                 else f"is unset (pyinfra's default, {PYINFRA_DEFAULT_POLICY!r})")
        risk = ("any host key is accepted, a changed one too" if policy in ("no", "off")
                else "a host whose key is not in known_hosts is trusted on first contact, the run that "
                     "uploads its join token")
        problems.append(f"{name}: ssh_strict_host_key_checking {shown}: {risk}; fix: ssh_strict_host_key_checking "
                        "= 'yes' for every host (the inventory's all group), with each host's key in its "
                        "ssh_known_hosts_file")
    if entries:
        keys, unreadable = known_host_keys(target)
        if not keys:
            files = ", ".join(target.known_hosts)
            why = "; ".join(unreadable) or "hashed entries included"
            scan = f"ssh-keyscan {f'-p {target.port} ' if target.port != 22 else ''}{shlex.quote(target.address)}"
            into = shlex.quote(os.path.expanduser(target.known_hosts[0]))
            problems.append(
                f"{name}: no host key for {target.key_name} in {files} ({why}), so pyinfra would not connect to it; "
                f"fix: {scan} > new.keys && ssh-keygen -lf new.keys, compare those fingerprints with the host's "
                "own read out of band (on its console: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), and "
                f"only if they match: cat new.keys >> {into} (or set ssh_known_hosts_file to the file holding it)")
    return problems


def _names(names: list[str], shown: int = 5) -> str:
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def token_file_problems(hosts: list) -> list[str]:
    """The operator's token files (k3s_token_file, k3s_agent_token_file) the inventory's
    nodes would read that are there but not the operator's alone (or not files): each
    holds a join token. Missing ones are fine: the deploy makes them 0600."""
    used: dict[tuple[str, str, str], list[str]] = {}
    for h in hosts:
        data = settings.merged(h.data)
        if h.role is None or settings.problem(h.name, "k3s_cluster_name", data["k3s_cluster_name"]):
            continue  # not a node, or its cluster name is refused on its own
        for kind in ("server", "agent") if h.role == "server" else ("agent",):
            token_key, file_key = TOKEN_SETTINGS[kind]
            if data.get(token_key) or settings.problem(h.name, file_key, data.get(file_key)):
                continue  # the token is in data (the file is never read), or the setting is refused
            used.setdefault((kind, file_key, str(token_path(data, kind))), []).append(h.name)
    problems = []
    for (kind, file_key, path), names in sorted(used.items()):
        try:
            info = os.stat(path)  # followed, as the deploy reads it
        except FileNotFoundError:
            continue
        mode = stat.S_IMODE(info.st_mode)
        if not stat.S_ISREG(info.st_mode):
            problems.append(f"{_names(names)}: {file_key} {path} is not a file; fix: remove it (the deploy writes "
                            "the token there, 0600) or point the setting at the token file")
        elif mode & 0o077:
            problems.append(f"{_names(names)}: {file_key} {path} holds the cluster's {kind} join token but is open "
                            f"to group or others (mode {mode:o}); fix: chmod 600 {shlex.quote(path)}")
    return problems


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


def validate(hosts: list, source: str, outcome: str = "no host was contacted", host_keys: str = "entries") -> None:
    """Check every host's name, host-key trust (``host_keys``, one of HOST_KEY_CHECKS) and
    data, the inventory as one cluster, the operator's token files and every bundle it
    names; raise InventoryError listing all problems (secrets redacted)."""
    assert host_keys in HOST_KEY_CHECKS, host_keys
    problems: list[str] = []
    for h in hosts:
        problems.extend(p for p in [host_name_problem(h.name)] if p)
        if host_keys != "none":
            problems.extend(host_key_problems(h.name, h.data, entries=host_keys == "entries"))
        problems.extend(check_host_data(h.name, h.data, read_only=host_keys != "entries"))
        if h.role:
            problems.extend(kernel_defaults_problems(h.name, h.data))
    topology, warnings = topology_problems(hosts, source)
    problems += topology
    problems += token_file_problems(hosts)
    for warning in warnings:
        logger.warning(f"inventory {source}: {warning}")
    problems.extend(bundle_problems(hosts))
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
_validated: set[tuple[str, str]] = set()  # (fingerprint, host-key checks) check_inventory passed in this process
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
    host_keys = _host_key_mode()
    validate(hosts, inventory_file, host_keys=host_keys)
    _validated.add((_fingerprint(hosts), host_keys))


def check_running_inventory() -> None:
    """The deploy's own guard (deploys/full_stack.py): the inventory pyinfra runs, its
    ``--data`` included, is validated unless its inventory file just did exactly that, so
    an inventory that forgot ``check_inventory`` is refused before any change."""
    if id(state.inventory) in _running_checked:  # pyinfra runs the deploy file once per host
        return
    _running_checked.add(id(state.inventory))
    hosts = _hosts_of(state.inventory)
    fingerprint = _fingerprint(hosts)
    # A deploy checks host keys whatever the environment says: INVENTORY_READ_ENV is for reads.
    checked = (fingerprint, _host_key_mode(deploy_file=True))
    if checked not in _validated:
        validate(hosts, "given to pyinfra", outcome="no host was changed", host_keys=checked[1])
        _validated.add(checked)


_keys_checked: set[int] = set()  # pyinfra inventories check_running_host_keys already looked at


def check_running_host_keys() -> None:
    """Host names and host-key trust alone, of the inventory pyinfra runs: the guard for a
    deploy whose hosts are not K3s nodes (check_running_inventory would refuse them as a
    cluster), such as edgewasm.compliance.nightly's management hosts, which get the
    fleet's SSH key. Refused as check_running_inventory refuses them."""
    if id(state.inventory) in _keys_checked:
        return
    _keys_checked.add(id(state.inventory))
    entries = _host_key_mode(deploy_file=True) == "entries"
    problems = [p for h in _hosts_of(state.inventory)
                for p in [host_name_problem(h.name), *host_key_problems(h.name, h.data, entries=entries)] if p]
    if problems:
        raise InventoryError("inventory given to pyinfra is invalid, no host was changed:\n  " + "\n  ".join(problems))


def bundle_problems(hosts) -> list[str]:
    """Every configured bundle: its manifest anchored outside the bundle (a signature by a
    key in edgewasm_bundle_signers, or edgewasm_bundle_sha256; edgewasm/bundle_trust.py),
    its paths confined, every file checked against it, and the catalogue's own pins."""
    problems = []
    for path in sorted({h.data.get("edgewasm_bundle") for h in hosts} - {None}):
        users = [h for h in hosts if h.data.get("edgewasm_bundle") == path]
        bundle = Bundle.open(path)
        pins = {h.data.get("edgewasm_bundle_sha256") for h in users} - {None}
        signers = {h.data.get("edgewasm_bundle_signers") for h in users} - {None}
        unverified = all(h.data.get("edgewasm_bundle_unverified") for h in users)
        found = [problem for s in (sorted(signers) or [None])
                 for problem in trust_problems(bundle, s, pins, unverified)]
        if unverified and not pins and not signers:
            logger.warning(f"bundle {path}: edgewasm_bundle_unverified is set: NOTHING outside the bundle vouches "
                           "for it; whoever can write it controls every host it is deployed to")
        found += [f"{problem}; fix: rebuild it (edgewasm-bundle build) or copy it again" for problem in
                  bundle.confinement_problems() + bundle.verify() + bundle.catalogue_mismatches()]
        names = ", ".join(sorted(h.name for h in users))
        problems += [f"bundle {path} (for {names}): {problem}" for problem in found]
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
        capture_output=True, text=True, cwd=cwd,
        env={**os.environ, "PYINFRA_PROGRESS": "off", INVENTORY_READ_ENV: "1"},
    )
    if result.returncode != 0:
        raise RuntimeError(f"cannot read inventory {inventory}:\n{result.stderr.strip()}")
    start = result.stdout.find("[")
    return [InventoryHost(h["name"], h["groups"], settings.redacted(settings.merged(h["data"])))
            for h in json.loads(result.stdout[start:])]
