"""Which checks apply to which host, decided before the checks are collected.

A check marked ``@only(server)`` is not collected at all for a host that is
not a server: an agent's report has no "for servers only" skip in it. Each predicate takes
a ``Target`` (what the inventory says, plus a few facts read from the host once, only when
a predicate asks) and its docstring says what it requires.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest

from edgewasm.arch import k3s_arch
from edgewasm.artifacts import load_catalog
from edgewasm.preflight import is_raspberry_pi
from edgewasm.settings import value as setting
from facts.host import BoardModel

Predicate = Callable[["Target"], bool]


class Target:
    """One inventory host as the applicability predicates see it. ``probe(command)`` runs
    a read-only command on the host (only when a predicate needs a fact the inventory
    does not state); ``plan`` returns the host's artifact plan for its real arch."""

    def __init__(self, inv_host, first_server: str | None, probe: Callable[[str], str],
                 plan: Callable[[], Any]):
        self.name, self.role, self.data = inv_host.name, inv_host.role, inv_host.data
        self.is_first_server = inv_host.name == first_server
        self._probe, self._plan = probe, plan

    @functools.cached_property
    def uname_machine(self) -> str:
        return self._probe("uname -m").strip()

    @functools.cached_property
    def board_model(self) -> str:
        return self._probe(BoardModel().command()).strip()

    @functools.cached_property
    def plan(self):
        return self._plan()


def k3s_node(t: Target) -> bool:
    """a K3s node (in k3s_servers or k3s_agents)"""
    return t.role in ("server", "agent")


def server(t: Target) -> bool:
    """a K3s server"""
    return t.role == "server"


def agent(t: Target) -> bool:
    """a K3s agent"""
    return t.role == "agent"


def first_server(t: Target) -> bool:
    """the inventory's first K3s server (cluster-level checks run there)"""
    return t.is_first_server


def from_bundle(t: Target) -> bool:
    """deployed from an artifact bundle (edgewasm_bundle)"""
    return bool(t.data.get("edgewasm_bundle"))


def crun_route(t: Target) -> bool:
    """crun with a wasm handler wanted (edgewasm_crun)"""
    return bool(t.data.get("edgewasm_crun"))


def swap_disabled(t: Target) -> bool:
    """preflight_swap is 'disable'"""
    return t.data.get("preflight_swap") == "disable"


def secrets_encryption(t: Target) -> bool:
    """a K3s server with k3s_secrets_encryption on"""
    return server(t) and bool(setting(t.data, "k3s_secrets_encryption"))


def pod_security(t: Target) -> bool:
    """a K3s server (Pod Security is configured on every server, whatever k3s_pod_security's level)"""
    return server(t)


def pod_security_enforced(t: Target) -> bool:
    """a cluster whose k3s_pod_security refuses privileged pods (baseline or restricted)"""
    return setting(t.data, "k3s_pod_security") != "privileged"


def audit_log(t: Target) -> bool:
    """a K3s server with k3s_audit_log on"""
    return server(t) and bool(setting(t.data, "k3s_audit_log"))


def protect_kernel_defaults(t: Target) -> bool:
    """a K3s node with k3s_protect_kernel_defaults on"""
    return k3s_node(t) and bool(setting(t.data, "k3s_protect_kernel_defaults"))


def raspberry_pi(t: Target) -> bool:
    """a Raspberry Pi (its device-tree model)"""
    return is_raspberry_pi(t.board_model)


def wasm_arch(t: Target) -> bool:
    """an arch upstream ships Wasm runtimes for"""
    return k3s_arch(t.uname_machine) in load_catalog()["wasmtime"]["arches"]


def gatekeeper(t: Target) -> bool:
    """a K3s server of a cluster with Gatekeeper on"""
    return server(t) and bool(t.data.get("gatekeeper_enabled")) and "gatekeeper" in t.plan.versions


def component(name: str) -> Predicate:
    def wanted(t: Target) -> bool:
        return wasm_arch(t) and name in t.plan.versions

    wanted.__doc__ = f"{name} in this host's artifact plan"
    wanted.__name__ = f"component_{name}"
    return wanted


def upstream_runtime(name: str) -> Predicate:
    def upstream(t: Target) -> bool:
        return name not in t.plan.packaged

    upstream.__doc__ = f"{name} from upstream's release, not the host's OS release packages"
    upstream.__name__ = f"upstream_{name}"
    return upstream


def release_runtimes(t: Target) -> bool:
    """Wasm runtimes taken from the host's OS release packages (edgewasm_wasm_runtimes_from)"""
    return bool(t.plan.packaged)


def accepts(predicates: list[Predicate], target: Target) -> bool:
    return all(p(target) for p in predicates)


def only(*predicates: Predicate):
    """The mark: ``@only(server)``, ``pytestmark = only(k3s_node)``. (``with_args``: a mark
    called with one function would take it for the check it decorates.)"""
    return pytest.mark.applies.with_args(*predicates)
