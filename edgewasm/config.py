"""Inventory validation: every problem is found before pyinfra connects to any host.

pyinfra has no hook between loading an inventory and connecting to it, so each edgewasm
inventory ends with ``check_inventory(__file__)``. That builds the inventory the way the
pyinfra CLI does (host data, group data files, defaults) and raises ``InventoryError``,
which pyinfra prints as a plain error and exits on, naming each host, key, value and fix.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version
from pyinfra.api.exceptions import PyinfraError

from edgewasm.arch import K3S_ARCHES

# Data keys edgewasm owns: anything with these prefixes that is not in SETTINGS is a typo.
OWNED_PREFIXES = ("preflight_", "edgewasm_", "artifact_", "k3s_", "gatekeeper_", "policy_")


class InventoryError(PyinfraError):
    pass


def _version(value: Any) -> str | None:
    if not isinstance(value, str):
        return "must be a version string such as '5.4'"
    try:
        Version(value)
    except InvalidVersion:
        return "must be a version string such as '5.4'"
    return None


def _positive_number(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return "must be a number greater than 0"
    return None


def _positive_int(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return "must be a whole number greater than 0"
    return None


def _non_negative_int(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return "must be a whole number, 0 or more"
    return None


def _str_list(value: Any) -> str | None:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        return "must be a list of non-empty strings"
    return None


def _one_of(*choices: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value in choices else "must be one of " + ", ".join(repr(c) for c in choices)

    return check


_SYSCTL_KEY = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_-]+)+$")


def _sysctls(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return "must be a dict of sysctl key -> value"
    for key, val in value.items():
        if not isinstance(key, str) or not _SYSCTL_KEY.match(key):
            return f"has a malformed sysctl key {key!r}"
        if isinstance(val, bool) or not isinstance(val, (int, str)):
            return f"has a non-scalar value for {key!r}"
    return None


def _os_versions(value: Any) -> str | None:
    if not isinstance(value, Mapping) or not value:
        return "must be a dict of os-release ID -> minimum VERSION_ID"
    for os_id, minimum in value.items():
        if not isinstance(os_id, str) or _version(minimum):
            return f"has a bad entry {os_id!r}: {minimum!r}"
    return None


def _arch(value: Any) -> str | None:
    if value not in K3S_ARCHES:
        return "is not an architecture K3s ships for (amd64, arm64, arm)"
    return None


def _bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be True or False"


def _url(value: Any) -> str | None:
    if not isinstance(value, str) or not re.match(r"^https?://[^/\s]+", value):
        return "must be an http:// or https:// URL"
    return None


def _bundle(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return "must be the path of a bundle directory"
    if not (Path(value) / "manifest.json").is_file():
        return "is not a bundle (no manifest.json there)"
    return None


def _catalog_components() -> set[str]:
    from edgewasm.artifacts import load_catalog

    return set(load_catalog())


def _components(value: Any) -> str | None:
    error = _str_list(value)
    if error:
        return error
    unknown = sorted(set(value) - _catalog_components())
    return f"names unknown components {unknown}" if unknown else None


def _versions(value: Any) -> str | None:
    if not isinstance(value, Mapping) or not all(isinstance(v, str) and v for v in value.values()):
        return "must be a dict of component -> version string"
    unknown = sorted(set(value) - _catalog_components())
    return f"names unknown components {unknown}" if unknown else None


def _str(value: Any) -> str | None:
    return None if isinstance(value, str) and value.strip() else "must be a non-empty string"


def _str_dict(value: Any) -> str | None:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return "must be a dict of string -> string"
    return None


_TAINT = re.compile(r"^[\w./-]+(=[\w.-]*)?:(NoSchedule|PreferNoSchedule|NoExecute)$")


def _taints(value: Any) -> str | None:
    error = _str_list(value)
    if error:
        return error
    bad = [t for t in value if not _TAINT.match(t)]
    return f"has malformed taints {bad} (key=value:NoSchedule|PreferNoSchedule|NoExecute)" if bad else None


def _mirrors(value: Any) -> str | None:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, (list, tuple)) and v and all(_url(u) is None for u in v)
        for k, v in value.items()
    ):
        return "must be a dict of registry -> list of http(s) endpoint URLs"
    return None


def _k3s_env(value: Any) -> str | None:
    error = _str_dict(value)
    if error:
        return error
    if {"K3S_TOKEN", "K3S_AGENT_TOKEN"} & set(value):
        return "must not hold the token"
    return None


def _abs_path(value: Any) -> str | None:
    return None if isinstance(value, str) and value.startswith("/") else "must be an absolute path"


_RUNTIME_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]*$")


def _containerd_runtimes(value: Any) -> str | None:
    from edgewasm.wasm import K3S_RUNTIMES

    if not isinstance(value, Mapping):
        return "must be a dict of runtime name -> {'runtime_type': ..., 'binary': ..., 'pod_annotations': [...]}"
    for name, spec in value.items():
        if not isinstance(name, str) or not _RUNTIME_NAME.match(name):
            return f"has a bad runtime name {name!r} (lower-case letters, digits, '.', '-')"
        if name in K3S_RUNTIMES:
            return f"redefines {name!r}, which K3s writes into containerd's config itself (containerd would refuse both)"
        if not isinstance(spec, Mapping) or _str(spec.get("runtime_type")) or _abs_path(spec.get("binary")):
            return f"needs runtime_type and an absolute binary path for {name!r}"
        if "pod_annotations" in spec and _str_list(spec["pod_annotations"]):
            return f"has bad pod_annotations for {name!r} (a list of annotation names)"
        if set(spec) - {"runtime_type", "binary", "pod_annotations"}:
            return f"has unknown keys {sorted(set(spec) - {'runtime_type', 'binary', 'pod_annotations'})} for {name!r}"
    return None


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|k|M|G)?$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def _namespaces(value: Any) -> str | None:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and _DNS_LABEL.match(v) for v in value):
        return "must be a list of namespace names (lower-case DNS labels)"
    return None


def _quantity(value: Any) -> str | None:
    return None if isinstance(value, str) and _QUANTITY.match(value) else "must be a Kubernetes quantity such as '128Mi' or '50m'"


def _repos(value: Any) -> str | None:
    error = _str_list(value)
    if error or not value:
        return "must be a non-empty list of registries or repository prefixes"
    bad = [r for r in value if any(c.isspace() for c in r) or "*" in r or r.startswith(("http://", "https://"))]
    return f"has entries that are not image prefixes {bad} (no scheme, spaces or '*')" if bad else None


def _tags(value: Any) -> str | None:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and _TAG.match(v) for v in value):
        return "must be a list of image tags such as 'latest'"
    return None


# key -> (check, fix hint)
SETTINGS: dict[str, tuple[Callable[[Any], str | None], str]] = {
    "edgewasm_arch": (_arch, "set it to the host's arch (amd64, arm64 or arm) or remove the host"),
    "edgewasm_role": (_one_of("server", "agent"), "put the host in k3s_servers or k3s_agents"),
    "edgewasm_bundle": (_bundle, "build one: edgewasm-bundle build NAME --inventory INVENTORY, then set bundles/NAME"),
    "edgewasm_require_wasm": (_bool, "True refuses hosts that cannot run WebAssembly (armv7)"),
    "edgewasm_crun": (_bool, "True sets up the crun route (needs a crun >= 1.8.5 with a +WASM: handler)"),
    "edgewasm_crun_binary": (_abs_path, "the wasm-enabled crun, e.g. '/usr/local/sbin/crun'"),
    "edgewasm_crun_min_version": (_version, "e.g. edgewasm_crun_min_version = '1.8.5'"),
    "edgewasm_crun_packages": (_str_list, "packages from your own apt repository that bring a wasm-enabled crun"),
    "edgewasm_wasm_pod_annotations": (_str_list, "e.g. ['module.wasm.image/variant', 'run.oci.handler']"),
    "edgewasm_containerd_runtimes": (_containerd_runtimes, "e.g. {'crun-gpu': {'runtime_type': "
                                     "'io.containerd.runc.v2', 'binary': '/usr/local/bin/crun'}}"),
    "artifact_versions": (_versions, "e.g. artifact_versions = {'k3s': 'v1.32.2+k3s1'}; components: group_data/artifacts.toml"),
    "artifact_components": (_components, "list components from group_data/artifacts.toml"),
    "artifact_mirror": (_url, "e.g. artifact_mirror = 'https://mirror.example/upstream'"),
    "k3s_ha": (_bool, "True for HA servers with embedded etcd (use an odd number of servers)"),
    "k3s_cluster_name": (_str, "e.g. k3s_cluster_name = 'site-a'"),
    "k3s_token": (_str, "prefer k3s_token_file (a 0600 file on the operator's machine)"),
    "k3s_token_file": (_str, "a path such as 'secrets/site-a.token'"),
    "k3s_node_ip": (_str, "the node's address, e.g. '10.20.0.11'"),
    "k3s_api_address": (_str, "the address agents use to reach the first server"),
    "k3s_tls_san": (_str_list, "e.g. k3s_tls_san = ['k3s.site-a.example']"),
    "k3s_disable": (_str_list, "e.g. k3s_disable = ['traefik', 'servicelb']"),
    "k3s_node_labels": (_str_dict, "e.g. k3s_node_labels = {'edge.example/site': 'a'}"),
    "k3s_node_taints": (_taints, "e.g. k3s_node_taints = ['dedicated=edge:NoSchedule']"),
    "k3s_default_runtime": (_str, "a containerd runtime name, e.g. 'crun'"),
    "k3s_kubelet_args": (_str_list, "e.g. k3s_kubelet_args = ['max-pods=50']"),
    "k3s_registry_mirrors": (_mirrors, "e.g. {'docker.io': ['https://registry.site-a.example']}"),
    "k3s_env": (_k3s_env, "proxy settings and the like; the token goes in k3s_token or k3s_token_file"),
    "k3s_ready_timeout": (_positive_int, "seconds, e.g. k3s_ready_timeout = 300"),
    "k3s_kubeconfig_fetch": (_str, "a local path, e.g. 'kubeconfig/site-a.yaml'"),
    "gatekeeper_enabled": (_bool, "False leaves Gatekeeper and the image policies off this cluster"),
    "gatekeeper_namespace": (_str, "e.g. gatekeeper_namespace = 'gatekeeper-system'"),
    "gatekeeper_replicas": (_positive_int, "1 fits a 2 GB Raspberry Pi; 3 for HA on larger servers"),
    "gatekeeper_failure_policy": (_one_of("Fail", "Ignore"), "'Fail' (closed: nothing unchecked gets in) or 'Ignore' (open)"),
    "gatekeeper_webhook_timeout": (_positive_int, "seconds, 1-30, e.g. 3"),
    "gatekeeper_audit_interval": (_positive_int, "seconds between audits, e.g. 300"),
    "gatekeeper_cpu_request": (_quantity, "e.g. '50m'"),
    "gatekeeper_memory_request": (_quantity, "e.g. '128Mi'"),
    "gatekeeper_memory_limit": (_quantity, "e.g. '384Mi'"),
    "gatekeeper_exempt_namespaces": (_namespaces, "e.g. ['kube-system', 'kube-public', 'kube-node-lease']"),
    "policy_allowed_repos": (_repos, "e.g. ['registry.site-a.example', 'docker.io/edgewasm/']"),
    "policy_disallowed_tags": (_tags, "e.g. ['latest']"),
    "policy_namespaces": (_namespaces, "namespaces the image policies apply to; [] for all but the exempt ones"),
    "preflight_min_kernel": (_version, "e.g. preflight_min_kernel = '5.4'"),
    "preflight_min_disk_gb": (_positive_number, "e.g. preflight_min_disk_gb = 4"),
    "preflight_packages": (_str_list, "e.g. preflight_packages = ['ca-certificates', 'iptables']"),
    "preflight_apt_cache_time": (_non_negative_int, "seconds, e.g. 86400; 0 never refreshes apt lists"),
    "preflight_kernel_modules": (_str_list, "e.g. preflight_kernel_modules = ['overlay', 'br_netfilter']"),
    "preflight_sysctls": (_sysctls, "e.g. preflight_sysctls = {'net.ipv4.ip_forward': 1}"),
    "preflight_swap": (_one_of("keep", "disable"), "use 'keep' (K3s tolerates swap) or 'disable'"),
    "preflight_supported_os": (_os_versions, "e.g. preflight_supported_os = {'debian': '11'}"),
    "preflight_pi_cgroup_flags": (_str_list, "e.g. ['cgroup_memory=1', 'cgroup_enable=memory']"),
    "preflight_reboot_timeout": (_positive_int, "seconds, e.g. preflight_reboot_timeout = 600"),
}


def check_host_data(name: str, data: Mapping[str, Any]) -> list[str]:
    """Problems with one host's merged data, each naming host, key, value and fix."""
    problems = []
    for key, value in data.items():
        if key in SETTINGS:
            check, fix = SETTINGS[key]
            error = check(value)
            if error:
                problems.append(f"{name}: {key} = {value!r} {error}; fix: {fix}")
        elif key.startswith(OWNED_PREFIXES):
            problems.append(f"{name}: unknown setting {key!r}; fix: check the spelling against edgewasm/config.py SETTINGS")
    return problems


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
    servers = [h.name for h in hosts if h.data.get("edgewasm_role") == "server"]
    if any(h.data.get("edgewasm_role") for h in hosts) and not servers:
        problems.append(f"inventory {inventory_file}: no host has edgewasm_role 'server'; fix: add one to k3s_servers")
    problems.extend(_cluster_wide_problems(hosts))
    if not problems:
        problems.extend(_bundle_problems(hosts))
    if problems:
        raise InventoryError(
            f"inventory {inventory_file} is invalid, no host was contacted:\n  " + "\n  ".join(problems)
        )


# One Gatekeeper and one set of image policies per cluster: every server must agree.
CLUSTER_WIDE_PREFIXES = ("gatekeeper_", "policy_")


def _cluster_wide_problems(hosts) -> list[str]:
    servers = [h for h in hosts if h.data.get("edgewasm_role") == "server"]
    keys = sorted({k for h in servers for k in h.data.dict() if k.startswith(CLUSTER_WIDE_PREFIXES)})
    problems = []
    for key in keys:
        values = {h.name: h.data.get(key) for h in servers}
        if len({repr(v) for v in values.values()}) > 1:
            problems.append(f"servers disagree on {key}: {values}; fix: set it once for the cluster "
                            "(group_data/all.py or the k3s_servers group)")
    return problems


def _bundle_problems(hosts) -> list[str]:
    """Every configured bundle checked file by file against its manifest."""
    from edgewasm.bundle import verify

    problems = []
    for bundle in sorted({h.data.get("edgewasm_bundle") for h in hosts} - {None}):
        users = sorted(h.name for h in hosts if h.data.get("edgewasm_bundle") == bundle)
        for problem in verify(Path(bundle)):
            problems.append(f"bundle {bundle} (for {', '.join(users)}): {problem}; "
                            "fix: rebuild it (edgewasm-bundle build) or copy it again")
    return problems
