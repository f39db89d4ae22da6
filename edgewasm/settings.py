"""Every setting edgewasm reads from inventory data, declared once: name, type, default,
check, fix and a one-line doc.

Validation (edgewasm/config.py), the deploys' defaults (pyinfra ``data_defaults``, see
deploys/__init__.py), the documentation in group_data/all.py and docs/settings.md are
all derived from ``SETTINGS``; tests/unit/test_settings.py proves that no default lives
anywhere else. A default of ``None`` means "unset" (the doc line says what happens then).
"""

from __future__ import annotations

import copy
import difflib
import ipaddress
import pprint
import re
import sys
import textwrap
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from edgewasm.arch import K3S_ARCHES
from edgewasm.artifacts import load_catalog
from edgewasm.k3s_runtimes import K3S_RUNTIMES
from edgewasm.openssh import from_problem, parse_public_key
from edgewasm.os_releases import releases

Check = Callable[[Any], "str | None"]

# Data keys edgewasm owns: anything with these prefixes that is not declared is a typo.
OWNED_PREFIXES = ("preflight_", "edgewasm_", "artifact_", "k3s_", "gatekeeper_", "policy_", "check_")

# Roles are group membership, as in the K3s Ansible playbook's server/agent groups.
ROLE_GROUPS = {"k3s_servers": "server", "k3s_agents": "agent"}


def role(groups: Iterable[str]) -> str | None:
    """``server`` or ``agent`` from a host's inventory groups (None: not a K3s node)."""
    found = [r for g, r in ROLE_GROUPS.items() if g in set(groups)]
    return found[0] if found else None


# ------------------------------------------------------------------------------ checks

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


def _rollout_batch(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return None
    if isinstance(value, str) and re.fullmatch(r"([1-9][0-9]?|100)%", value):
        return None
    return "must be a number of agents (1 or more) or a percentage of them, '1%' to '100%'"


def _os_releases(value: Any) -> str | None:
    if _str_list(value):
        return _str_list(value)
    unknown = [v for v in value if v not in releases()]
    return f"names releases edgewasm/os_releases.toml lacks: {unknown}" if unknown else None


def _module_names(value: Any) -> str | None:
    if _str_list(value) or not all(re.fullmatch(r"[A-Za-z0-9_-]+", v) for v in value):
        return "must be a list of kernel module names (letters, digits, '_', '-')"
    return None


def _one_of(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        return None if value in choices else "must be one of " + ", ".join(repr(c) for c in choices)

    return check


_SYSCTL_KEY = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_-]+)+$")


def _sysctls(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return "must be a dict of sysctl key -> value"
    for key, val in value.items():
        if not isinstance(key, str) or not _SYSCTL_KEY.fullmatch(key):
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
    return None if value in K3S_ARCHES else "is not an architecture K3s ships for (amd64, arm64, arm)"


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


def _file(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return "must be the path of a file"
    return None if Path(value).expanduser().is_file() else "is not a file on this machine"


def _sha256(value: Any) -> str | None:
    return None if isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value) else "must be 64 hex digits"


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
    bad = [t for t in value if not _TAINT.fullmatch(t)]
    return f"has malformed taints {bad} (key=value:NoSchedule|PreferNoSchedule|NoExecute)" if bad else None


def _mirrors(value: Any) -> str | None:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, (list, tuple)) and v and all(_url(u) is None for u in v)
        for k, v in value.items()
    ):
        return "must be a dict of registry -> list of http(s) endpoint URLs"
    return None


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _k3s_env(value: Any) -> str | None:
    error = _str_dict(value)
    if error:
        return error
    if {"K3S_TOKEN", "K3S_AGENT_TOKEN"} & set(value):
        return "must not hold the token"
    bad = [k for k in value if not _ENV_NAME.fullmatch(k)]
    if bad:
        return f"has names that are not environment variable names {bad} (letters, digits, '_')"
    # A line break would start a new line (a new variable) in the systemd environment file.
    broken = [k for k, v in value.items() if any(c in v for c in "\n\r\0")]
    return f"has values with line breaks or NUL for {broken}" if broken else None


def parse_env_file(text: str) -> dict[str, str]:
    """KEY=VALUE lines (blank lines and # comments skipped) of a k3s_env_file; ValueError
    names the line number, never its value."""
    found = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not _ENV_NAME.fullmatch(key.strip()):
            raise ValueError(f"line {number} is not KEY=VALUE")
        found[key.strip()] = value
    return found


def _env_file(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return "must be the path of a file on the operator's machine"
    path = Path(value)
    if not path.is_file():
        return "is not a file"
    if path.stat().st_mode & 0o077:
        return f"is readable by others (mode {path.stat().st_mode & 0o777:o}); chmod 600 it"
    try:
        return _k3s_env(parse_env_file(path.read_text()))
    except (ValueError, UnicodeDecodeError) as exc:
        return f"cannot be read as KEY=VALUE lines ({exc})"


def _abs_path(value: Any) -> str | None:
    return None if isinstance(value, str) and value.startswith("/") else "must be an absolute path"


_RUNTIME_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
_RUNTIME_KEYS = {"runtime_type", "binary", "pod_annotations"}


def _containerd_runtimes(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return "must be a dict of runtime name -> {'runtime_type': ..., 'binary': ..., 'pod_annotations': [...]}"
    for name, spec in value.items():
        if not isinstance(name, str) or not _RUNTIME_NAME.fullmatch(name):
            return f"has a bad runtime name {name!r} (lower-case letters, digits, '.', '-')"
        if name in K3S_RUNTIMES:
            return f"redefines {name!r}, which K3s writes into containerd's config itself (containerd would refuse both)"
        if not isinstance(spec, Mapping) or _str(spec.get("runtime_type")) or _abs_path(spec.get("binary")):
            return f"needs runtime_type and an absolute binary path for {name!r}"
        if "pod_annotations" in spec and _str_list(spec["pod_annotations"]):
            return f"has bad pod_annotations for {name!r} (a list of annotation names)"
        if set(spec) - _RUNTIME_KEYS:
            return f"has unknown keys {sorted(set(spec) - _RUNTIME_KEYS)} for {name!r}"
    return None


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|k|M|G)?$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def _namespaces(value: Any) -> str | None:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and _DNS_LABEL.fullmatch(v) for v in value):
        return "must be a list of namespace names (lower-case DNS labels)"
    return None


def _quantity(value: Any) -> str | None:
    if isinstance(value, str) and _QUANTITY.fullmatch(value):
        return None
    return "must be a Kubernetes quantity such as '128Mi' or '50m'"


def _repos(value: Any) -> str | None:
    if _str_list(value):
        return "must be a list of registries or repository prefixes"
    bad = [r for r in value if any(c.isspace() for c in r) or "*" in r or r.startswith(("http://", "https://"))]
    return f"has entries that are not image prefixes {bad} (no scheme, spaces or '*')" if bad else None


def _tags(value: Any) -> str | None:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and _TAG.fullmatch(v) for v in value):
        return "must be a list of image tags such as 'latest'"
    return None


# Debian package names (policy 5.6.1), with apt's optional :arch and =version: they reach
# apt-get's command line on the host.
_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?(=[A-Za-z0-9.+~:_-]+)?")


def _packages(value: Any) -> str | None:
    error = _str_list(value)
    if error:
        return error
    bad = [v for v in value if not _PACKAGE.fullmatch(v)]
    return (f"has entries that are not Debian package names {bad} (a-z, 0-9, '+', '-', '.'; "
            "optionally :arch or =version)" if bad else None)


def _int_between(low: int, high: int, unit: str, why: str) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return f"must be a whole number of {unit} from {low} to {high} ({why})"
        return None

    return check


def _cluster_name(value: Any) -> str | None:
    if isinstance(value, str) and _DNS_LABEL.fullmatch(value):
        return None
    return ("must be a lowercase name of a-z, 0-9 and '-', not starting or ending with '-', at most 63 "
            "characters: it is part of the operator's token file paths (secrets/<name>.token)")


def _user_name(value: Any) -> str | None:
    if isinstance(value, str) and re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", value):
        return None
    return "must be a system user name (a-z, 0-9, '_', '-', starting with a letter or '_', at most 32 characters)"


def _check_user(value: Any) -> str | None:
    if value == "root":
        return "must not be root: the nightly check's user holds no more than its key, sudoers and RBAC give it"
    return _user_name(value)


def _public_key_file(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return "must be the path of an OpenSSH public key file on the operator's machine"
    path = Path(value).expanduser()
    if not path.is_file():
        return "is not a file on this machine"
    try:
        parse_public_key(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        return f"is not an OpenSSH public key: {exc}"
    return None


def _from_sources(value: Any) -> str | None:
    if not isinstance(value, (list, tuple)):
        return "must be a list of management host addresses, networks (CIDR) or names"
    problems = [p for p in map(from_problem, value) if p]
    return "; ".join(problems) or None


def _node_ip(value: Any) -> str | None:
    form = ("must be the node's IP address, IPv4 or IPv6, or one of each joined by ',' for dual-stack "
            "(no spaces, no zone)")
    if not isinstance(value, str) or "%" in value:
        return form
    try:
        addresses = [ipaddress.ip_address(part) for part in value.split(",")]
    except ValueError:
        return form
    if len(addresses) > 2 or (len(addresses) == 2 and addresses[0].version == addresses[1].version):
        return form
    unreachable = [str(a) for a in addresses if a.is_unspecified or a.is_loopback or a.is_multicast]
    return (f"has {unreachable}, an address other nodes cannot reach it at (unspecified, loopback or multicast)"
            if unreachable else None)


# Node labels in Kubernetes' syntax: an optional DNS-subdomain prefix and '/', then a name
# of at most 63 characters; a value of at most 63, or empty.
_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_LABEL_PREFIX = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
# The kubernetes.io and k8s.io labels a kubelet may set on its own Node: these, and any
# under [*.]kubelet.kubernetes.io/ or [*.]node.kubernetes.io/ (Kubernetes'
# kubelet refuses to start with any other there, and its NodeRestriction admission plugin
# refuses them too; node-role.kubernetes.io/ is an admin's, set with kubectl label).
KUBELET_LABELS = frozenset({
    "kubernetes.io/hostname", "kubernetes.io/arch", "kubernetes.io/os",
    "beta.kubernetes.io/arch", "beta.kubernetes.io/os", "beta.kubernetes.io/instance-type",
    "node.kubernetes.io/instance-type", "topology.kubernetes.io/region", "topology.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/region", "failure-domain.beta.kubernetes.io/zone",
})
KUBELET_LABEL_NAMESPACES = ("kubelet.kubernetes.io", "node.kubernetes.io")
# edgewasm's own: runtime.edgewasm.io/<handler>, from the runtimes a host really has
# (edgewasm.wasm.LABEL_PREFIX; tests/unit/test_settings.py keeps the two equal).
EDGEWASM_LABEL_NAMESPACE = "runtime.edgewasm.io"


def _in_namespace(namespace: str, *parents: str) -> bool:
    return any(namespace == p or namespace.endswith("." + p) for p in parents)


def _label_key_ok(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    return bool(_LABEL_NAME.fullmatch(name)) and (
        not prefix and "/" not in key or len(prefix) <= 253 and bool(_LABEL_PREFIX.fullmatch(prefix)))


def _node_labels(value: Any) -> str | None:
    error = _str_dict(value)
    if error:
        return error
    malformed = [f"{k}={v}" for k, v in value.items() if not _label_key_ok(k) or v and not _LABEL_NAME.fullmatch(v)]
    if malformed:
        return (f"has malformed labels {malformed} (key: an optional DNS-subdomain prefix and '/', then at most "
                "63 letters, digits, '-', '_' or '.'; value: at most 63 of those, or empty)")
    namespace = {k: k.rpartition("/")[0] for k in value}
    reserved = [k for k, ns in namespace.items() if _in_namespace(ns, "kubernetes.io", "k8s.io")
                and k not in KUBELET_LABELS and not _in_namespace(ns, *KUBELET_LABEL_NAMESPACES)]
    if reserved:
        return (f"has labels in Kubernetes' reserved namespaces that a node may not set on itself {reserved}: the "
                "kubelet refuses to start with them (and NodeRestriction refuses them); kubernetes.io/ and k8s.io/ "
                "labels are a kubelet's only under [*.]kubelet.kubernetes.io/, [*.]node.kubernetes.io/ and the "
                "well-known ones (topology.kubernetes.io/zone, topology.kubernetes.io/region, "
                "node.kubernetes.io/instance-type, kubernetes.io/hostname, kubernetes.io/arch, kubernetes.io/os)")
    ours = [k for k, ns in namespace.items() if _in_namespace(ns, EDGEWASM_LABEL_NAMESPACE)]
    if ours:
        return (f"has labels edgewasm sets itself {ours}: runtime.edgewasm.io/<handler> says the host really "
                "runs that runtime, and edgewasm sets it from what it installed")
    return None


# kubelet flags edgewasm sets itself (through K3s) from its own settings. K3s lets a
# kubelet-arg replace its own value for a flag, so one given here would undo that setting
# (node-labels=... drops every k3s_node_labels and runtime label, past their checks).
MANAGED_KUBELET_FLAGS = {
    "node-labels": "k3s_node_labels",
    "register-with-taints": "k3s_node_taints",
    "node-ip": "k3s_node_ip",
    "hostname-override": "the host's inventory name, which is its K3s node name",
    "pod-infra-container-image": "k3s_pause_image",
    "container-runtime-endpoint": "K3s's containerd, which carries the Wasm runtimes (k3s_default_runtime, "
                                  "edgewasm_containerd_runtimes)",
    "fail-swap-on": "preflight_swap",
    # A kubelet flag wins over the kubelet config K3s writes from its own protect-kernel-defaults.
    "protect-kernel-defaults": "k3s_protect_kernel_defaults",
}
# kube-apiserver flags edgewasm (or K3s, for a setting of edgewasm's) sets: one given in
# k3s_kube_apiserver_args would replace it (K3s's rule for a flag without '+'), and with
# it the hardening the setting promises.
MANAGED_APISERVER_FLAGS = {
    "admission-control-config-file": "k3s_pod_security (the Pod Security admission configuration it writes)",
    "audit-policy-file": "k3s_audit_log (the audit policy it writes)",
    "audit-log-path": "k3s_audit_log",
    "audit-log-maxage": "k3s_audit_log_maxage",
    "audit-log-maxbackup": "k3s_audit_log_maxbackup",
    "audit-log-maxsize": "k3s_audit_log_maxsize",
    "encryption-provider-config": "k3s_secrets_encryption (K3s writes that file and rotates its keys: "
                                  "k3s secrets-encrypt)",
    "encryption-provider-config-automatic-reload": "k3s_secrets_encryption",
}
# The controller manager's flags are K3s's own; none is set from an edgewasm setting.
MANAGED_CONTROLLER_MANAGER_FLAGS: dict[str, str] = {}
# K3s's form: an optional '--', the flag, '+' (append to K3s's value) or '-' (prepend), '=', the value.
_COMPONENT_ARG = re.compile(r"(?:--)?([a-z0-9]+(?:-[a-z0-9]+)*)([+-]?)=([^\x00-\x1f\x7f]*)")


def _component_args(component: str, managed: Mapping[str, str],
                    extra: Callable[[list], "str | None"] | None = None) -> Check:
    """Extra flags of one K3s component (kubelet, kube-apiserver, ...) in K3s's form, none
    of the ``managed`` ones edgewasm sets from its settings."""
    def check(value: Any) -> str | None:
        error = _str_list(value)
        if error:
            return error
        shapes = [(arg, _COMPONENT_ARG.fullmatch(arg)) for arg in value]
        malformed = [arg for arg, shape in shapes if not shape]
        if malformed:
            return (f"has arguments not of the form flag=value {malformed} (no spaces around '=', no leading '-' "
                    "but K3s's optional '--', no line breaks)")
        found = sorted({shape.group(1) for _, shape in shapes} & set(managed))
        if found:
            return (f"sets {component} flags edgewasm sets itself: "
                    + "; ".join(f"{flag} (edgewasm sets it from {managed[flag]})" for flag in found))
        return extra([shape for _, shape in shapes]) if extra else None

    return check


def _admission_plugins(shapes: list) -> str | None:
    """What an admission-plugin flag would take away: PodSecurity (k3s_pod_security's
    enforcement) or, replacing K3s's enable-admission-plugins=NodeRestriction, the rule that
    a node may change only its own Node and pods."""
    for shape in shapes:
        flag, how, plugins = shape.group(1), shape.group(2), shape.group(3).split(",")
        if flag == "disable-admission-plugins" and "PodSecurity" in plugins:
            return ("disables the PodSecurity admission plugin, which enforces k3s_pod_security; "
                    "set k3s_pod_security = 'privileged' to enforce nothing")
        if flag == "enable-admission-plugins" and not how and "NodeRestriction" not in plugins:
            return ("replaces K3s's enable-admission-plugins=NodeRestriction without NodeRestriction (a node could "
                    "then change other nodes); add to it with enable-admission-plugins+=PLUGIN")
    return None


_kubelet_args = _component_args("kubelet", MANAGED_KUBELET_FLAGS)
_apiserver_args = _component_args("kube-apiserver", MANAGED_APISERVER_FLAGS, _admission_plugins)
_controller_manager_args = _component_args("kube-controller-manager", MANAGED_CONTROLLER_MANAGER_FLAGS)
_pod_security_level = _one_of("privileged", "baseline", "restricted")


# ------------------------------------------------------------------------- declaration

@dataclass(frozen=True)
class Setting:
    name: str
    type: str  # for people: docs and group_data/all.py
    default: Any  # None: unset
    check: Check
    fix: str  # how to give a good value, shown with every refusal
    doc: str  # one line
    section: str
    secret: bool = False  # shown only as <redacted>; compared by digest
    # host: each host its own value; cluster: every K3s node of the inventory must agree;
    # servers: every server must agree (one Gatekeeper, one set of policies per cluster)
    scope: str = "host"


def _section(section: str, *settings: tuple) -> list[Setting]:
    return [Setting(name, type_, default, check, fix, doc, section)
            for name, type_, default, check, fix, doc in settings]


SETTINGS: dict[str, Setting] = {s.name: s for s in [
    *_section(
        "Hosts and artifacts",
        ("edgewasm_arch", "str", None, _arch,
         "set it to the host's arch (amd64, arm64 or arm) or remove the host",
         "The arch the operator expects (amd64, arm64, arm); preflight refuses a host that differs. "
         "Unset: taken from the host."),
        ("edgewasm_bundle", "str", None, _bundle,
         "build one: edgewasm-bundle build NAME --inventory INVENTORY, then set bundles/NAME",
         "Offline bundle directory on the operator's machine (docs/offline.md). Unset: hosts download "
         "from upstream or artifact_mirror."),
        ("edgewasm_bundle_sha256", "str", None, _sha256,
         "sha256sum bundles/NAME/manifest.json on the machine that built it, and set that",
         "The bundle's manifest digest, kept apart from the bundle: a bundle whose manifest was "
         "rewritten is refused."),
        ("edgewasm_bundle_signers", "str", None, _file,
         "write an OpenSSH allowed_signers file: one line 'NAME KEYTYPE KEY' per trusted public key "
         "(e.g. echo \"ops $(cat ~/.ssh/id_ed25519.pub)\" > bundle_signers)",
         "OpenSSH allowed_signers file of the keys trusted to sign bundles (edgewasm-bundle build --sign-key, "
         "edgewasm-bundle sign); a bundle whose manifest.json.sig is not by one of them is refused. A bundle "
         "needs this or edgewasm_bundle_sha256 (docs/offline.md, \"Trusting a bundle\")."),
        ("edgewasm_bundle_unverified", "bool", False, _bool,
         "set edgewasm_bundle_signers or edgewasm_bundle_sha256 instead",
         "True deploys a bundle that neither a signature nor a pinned digest vouches for, with a warning every "
         "run: whoever can write the bundle then controls every host. Never on a real fleet."),
        ("edgewasm_os_releases", "list[str]", ["debian-bookworm", "debian-trixie"], _os_releases,
         "list the ID-VERSION_CODENAME of the hosts' /etc/os-release, e.g. ['debian-trixie', "
         "'ubuntu-noble']; releases: edgewasm/os_releases.toml",
         "OS releases whose preflight_packages an offline bundle carries (.deb closure, apt-resolved). "
         "Raspberry Pi OS 64-bit is debian-bookworm or debian-trixie, after the Debian release it is built on."),
        ("edgewasm_parallel_hosts", "int", 50, _positive_int,
         "e.g. edgewasm_parallel_hosts = 50; lower it when the operator's machine or the site's "
         "uplink is small",
         "Hosts pyinfra talks to at once (connections, facts, operations) once the deploy starts; "
         "the bound that keeps a fleet of hundreds from opening hundreds of SSH sessions at once. "
         "Overrides pyinfra's --parallel."),
        ("edgewasm_require_wasm", "bool", False, _bool,
         "True refuses hosts that cannot run WebAssembly (armv7)",
         "Refuse hosts whose arch upstream builds no Wasm runtimes for (armv7), instead of warning."),
        ("artifact_versions", "dict[str, str]", {}, _versions,
         "e.g. artifact_versions = {'k3s': 'v1.32.2+k3s1'}; components: edgewasm/artifacts.toml",
         "Versions that differ from the catalogue's pins, by component."),
        ("artifact_components", "list[str]", None, _components,
         "list components from edgewasm/artifacts.toml",
         "Only these catalogue components on the host. Unset: every component."),
        ("artifact_mirror", "str", None, _url,
         "e.g. artifact_mirror = 'https://mirror.example/upstream'",
         "Internal mirror of upstream release trees: MIRROR/<upstream host>/<upstream path>."),
    ),
    *_section(
        "WebAssembly (docs/wasm.md)",
        ("edgewasm_wasm_runtimes_from", "str", "distribution", _one_of("distribution", "upstream"),
         "'distribution' or 'upstream'",
         "Where crun and WasmEdge come from on a host whose OS release packages them with Wasm "
         "(edgewasm/os_releases.toml, [<release>.ships]; Debian trixie: crun 1.21 +WASM:wasmedge, WasmEdge "
         "0.14.1): 'distribution' takes the release's packages (from the bundle when offline); 'upstream' "
         "takes WasmEdge's release tarball and only the crun you bring. Releases that ship neither (Debian "
         "bookworm) take the upstream route either way."),
        ("edgewasm_crun", "bool", False, _bool,
         "True sets up the crun route (needs a crun >= 1.8.5 with a +WASM: handler)",
         "The crun route: a crun >= edgewasm_crun_min_version with a +WASM: handler (Debian trixie's, "
         "taken from the release under edgewasm_wasm_runtimes_from = 'distribution'; not bookworm's or Ubuntu's)."),
        ("edgewasm_crun_min_version", "str", "1.8.5", _version,
         "e.g. edgewasm_crun_min_version = '1.8.5'",
         "Oldest crun the crun route accepts."),
        ("edgewasm_crun_binary", "str", "/usr/bin/crun", _abs_path,
         "the wasm-enabled crun, e.g. '/usr/local/sbin/crun'",
         "The wasm-enabled crun the crun-wasm runtime runs."),
        ("edgewasm_crun_packages", "list[str]", [], _packages,
         "packages from your own apt repository that bring a wasm-enabled crun",
         "Packages that bring that crun (judged right after their install)."),
        ("edgewasm_wasm_pod_annotations", "list[str]", ["module.wasm.image/variant", "run.oci.handler"], _str_list,
         "e.g. ['module.wasm.image/variant', 'run.oci.handler']",
         "Annotations containerd passes to crun for the crun-wasm runtime."),
        # Off by default: the bench images are a measuring tool an operator asks for, not
        # part of a running fleet. On every host they would put a shell-capable busybox
        # image on each node (runnable offline by anyone allowed to create pods, no pull
        # needed), grow every node's images directory and every bundle, and make every
        # bundle build fetch busybox from Debian's archive, which a site that never
        # benches should not depend on.
        ("edgewasm_bench_images", "bool", False, _bool,
         "True puts the edgewasm-bench images on the host (and in bundles built for it)",
         "The edgewasm-bench workload images, bench-wasm (WASI) and bench-native (runc baseline: Debian's "
         "busybox-static, docs/wasm.md), in K3s's images directory on amd64 and arm64 hosts. Off: a measuring "
         "tool, not part of the fleet. With artifact_components set, list bench-wasm and bench-native there."),
        ("edgewasm_containerd_runtimes", "dict[str, dict]", {}, _containerd_runtimes,
         "e.g. {'crun-gpu': {'runtime_type': 'io.containerd.runc.v2', 'binary': '/usr/local/bin/crun'}}",
         "More containerd runtimes for K3s's template (names K3s emits itself are refused)."),
    ),
    *_section(
        "K3s (docs/k3s.md)",
        ("k3s_ha", "bool", False, _bool,
         "True for HA servers with embedded etcd (use an odd number of servers)",
         "HA servers with embedded etcd: the first server initialises the cluster."),
        ("k3s_cluster_name", "str", "k3s", _cluster_name,
         "e.g. k3s_cluster_name = 'site-a'",
         "Names the operator's token files (k3s_token_file, k3s_agent_token_file): a-z, 0-9 and '-'."),
        ("k3s_token", "str", None, _str,
         "prefer k3s_token_file (a 0600 file on the operator's machine)",
         "The server token in data (prefer k3s_token_file: data is printed by debug-inventory)."),
        ("k3s_token_file", "str", "secrets/{k3s_cluster_name}.token", _str,
         "a path such as 'secrets/site-a.token'",
         "The operator's 0600 server-token file (servers only); generated (or read from the first "
         "server) when missing."),
        ("k3s_agent_token", "str", None, _str,
         "prefer k3s_agent_token_file (a 0600 file on the operator's machine)",
         "The agent token in data (prefer k3s_agent_token_file)."),
        ("k3s_agent_token_file", "str", "secrets/{k3s_cluster_name}.agent-token", _str,
         "a path such as 'secrets/site-a.agent-token'",
         "The operator's 0600 agent-token file: agents join with it and never hold the server token."),
        ("k3s_node_ip", "str", None, _node_ip,
         "the node's address, e.g. '10.20.0.11', or '10.20.0.11,fd00:20::11' for dual-stack",
         "The node's IP address, or an IPv4 and an IPv6 one joined by ',' for dual-stack (K3s node-ip)."),
        ("k3s_api_address", "str", None, _str,
         "the address agents use to reach the first server",
         "What agents dial. Unset: the first server's k3s_node_ip, then its ssh_hostname."),
        ("k3s_tls_san", "list[str]", [], _str_list,
         "e.g. k3s_tls_san = ['k3s.site-a.example']",
         "Extra names in the servers' API certificate."),
        ("k3s_disable", "list[str]", [], _str_list,
         "e.g. k3s_disable = ['traefik', 'servicelb']",
         "K3s packaged components not to deploy."),
        ("k3s_node_labels", "dict[str, str]", {}, _node_labels,
         "use a prefix of your own, e.g. k3s_node_labels = {'edge.example/site': 'a'}, or a kubelet's own "
         "(topology.kubernetes.io/zone, node.kubernetes.io/...); give node-role.kubernetes.io/ labels with "
         "kubectl label node NODE node-role.kubernetes.io/worker= on the first server",
         "Node labels. kubernetes.io/ and k8s.io/ ones only where a kubelet may set them on its own node "
         "(so no node-role.kubernetes.io/); none under runtime.edgewasm.io/, which edgewasm sets from the "
         "runtimes the host has."),
        ("k3s_node_taints", "list[str]", [], _taints,
         "e.g. k3s_node_taints = ['dedicated=edge:NoSchedule']",
         "Node taints, key=value:Effect."),
        ("k3s_default_runtime", "str", None, _str,
         "a containerd runtime name, e.g. 'crun'",
         "containerd runtime for pods without a RuntimeClass. Unset: K3s's (runc)."),
        ("k3s_kubelet_args", "list[str]", [], _kubelet_args,
         "give each as flag=value, e.g. k3s_kubelet_args = ['max-pods=50', 'rotate-certificates=true']; "
         "for a flag edgewasm sets, change what it sets it from instead",
         "Extra kubelet arguments, flag=value; not the flags edgewasm sets from its own settings (node-labels, "
         "register-with-taints, node-ip, hostname-override, pod-infra-container-image, "
         "container-runtime-endpoint, fail-swap-on, protect-kernel-defaults)."),
        ("k3s_snapshotter", "str", None, _one_of("overlayfs", "fuse-overlayfs", "native", "stargz"),
         "one of overlayfs, fuse-overlayfs, native, stargz",
         "containerd snapshotter (K3s snapshotter). Unset: K3s's (overlayfs), which K3s refuses where "
         "the data directory is itself on overlayfs (containers, some images): use native there."),
        ("k3s_flannel_backend", "str", None, _one_of("vxlan", "host-gw", "wireguard-native", "none"),
         "one of vxlan, host-gw, wireguard-native, none",
         "flannel backend (servers; K3s flannel-backend). Unset: K3s's (vxlan); host-gw where all "
         "nodes share one L2 network; none with your own CNI."),
        ("k3s_flannel_iface", "str", None, _str,
         "a network interface name, e.g. 'eth0'",
         "The interface flannel carries pod traffic on (K3s flannel-iface). Unset: the one of the "
         "default route; set it on nodes without one (isolated sites)."),
        ("k3s_pause_image", "str", None, _str,
         "an image the nodes have, e.g. 'registry.site-a.example/rancher/mirrored-pause:3.6'",
         "The pod sandbox image (K3s pause-image). Unset: K3s's, from its airgap images."),
        ("k3s_helm_job_image", "str", None, _str,
         "an image the nodes have, e.g. 'registry.site-a.example/rancher/klipper-helm:v0.9.10'",
         "The image K3s's helm-controller runs HelmChart jobs in (servers; K3s helm-job-image). "
         "Unset: K3s's klipper-helm, from its airgap images."),
        ("k3s_registry_mirrors", "dict[str, list[str]]", {}, _mirrors,
         "e.g. {'docker.io': ['https://registry.site-a.example']}",
         "registries.yaml mirrors by registry; empty removes the file."),
        ("k3s_env", "dict[str, str]", {}, _k3s_env,
         "KEY: value pairs on one line each, e.g. {'NO_PROXY': '10.0.0.0/8'}; credentials go in "
         "k3s_env_file, tokens in k3s_token_file",
         "Environment for the K3s service (a 0600 env file), e.g. proxies."),
        ("k3s_env_file", "str", None, _env_file,
         "a 0600 file such as 'secrets/site-a.env' with KEY=VALUE lines",
         "More environment for the K3s service from a 0600 file on the operator's machine (proxy "
         "credentials): never in data, which pyinfra's debug-inventory prints."),
        ("k3s_rollout_batch", "int|str", "25%", _rollout_batch,
         "a number of agents or a percentage of them, e.g. k3s_rollout_batch = 5 or '25%'",
         "Agents restarted at once when running nodes must restart (an upgrade, a config change), "
         "each batch ready before the next; servers always restart one at a time. "
         "Default as Kubernetes' maxUnavailable (25%, rounded down, at least 1)."),
        ("k3s_drain", "bool", False, _bool,
         "True where nodes run workloads worth moving before a restart",
         "Cordon and drain a running node (kubectl on the first server) before restarting it, and "
         "uncordon it once ready; a drain that fails (a PodDisruptionBudget) stops the rollout."),
        ("k3s_ready_timeout", "int", 300, _positive_int,
         "seconds, e.g. k3s_ready_timeout = 300",
         "Seconds a (re)started K3s may take to get ready before the host fails."),
        ("k3s_kubeconfig_fetch", "str", None, _str,
         "a local path, e.g. 'kubeconfig/site-a.yaml'",
         "Copy the first server's kubeconfig here (0600), naming the server."),
    ),
    *_section(
        "Hardening (docs/k3s.md, \"Hardening\"); on by default",
        ("k3s_secrets_encryption", "bool", True, _bool,
         "True; turning it off on a running cluster first needs k3s secrets-encrypt disable and reencrypt "
         "(docs/k3s.md, \"Hardening\")",
         "Secrets encrypted at rest in the datastore (servers; K3s secrets-encryption, an AES-CBC key K3s makes "
         "and keeps). CIS 1.2.27, 1.2.28."),
        ("k3s_pod_security", "str", "baseline", _pod_security_level,
         "one of 'baseline' (no privileged pods, host namespaces or hostPath), 'restricted', or 'privileged' "
         "(enforce nothing)",
         "Pod Security level enforced in every namespace but the exempt ones (servers; an AdmissionConfiguration "
         "passed to kube-apiserver). baseline refuses privileged pods, hostPath volumes (the containerd socket) "
         "and host namespaces. CIS 5.2.1, 5.2.2."),
        ("k3s_pod_security_audit", "str", "restricted", _pod_security_level,
         "one of 'restricted', 'baseline', 'privileged'",
         "Pod Security level whose violations are recorded in the audit log and returned to the client as "
         "warnings, without refusing the pod (servers)."),
        ("k3s_pod_security_exempt_namespaces", "list[str]", ["kube-system"], _namespaces,
         "e.g. ['kube-system']; gatekeeper_namespace is added while Gatekeeper is on",
         "Namespaces Pod Security leaves alone (servers): K3s's own pods. gatekeeper_namespace is exempt too "
         "while gatekeeper_enabled."),
        ("k3s_audit_log", "bool", True, _bool,
         "True; False leaves the API server without an audit log",
         "API server audit log (servers): who did what to which object, never a request or response body, in "
         "/var/lib/rancher/k3s/server/logs/audit.log (directory 0700). CIS 1.2.16."),
        ("k3s_audit_log_maxage", "int", 30, _positive_int, "days, e.g. k3s_audit_log_maxage = 30",
         "Days a rotated audit log is kept (servers; audit-log-maxage). CIS 1.2.17."),
        ("k3s_audit_log_maxbackup", "int", 10, _positive_int, "a count, e.g. k3s_audit_log_maxbackup = 10",
         "Rotated audit logs kept (servers; audit-log-maxbackup). CIS 1.2.18."),
        ("k3s_audit_log_maxsize", "int", 100, _positive_int, "MB, e.g. k3s_audit_log_maxsize = 100",
         "MB an audit log grows to before it is rotated (servers; audit-log-maxsize). CIS 1.2.19."),
        ("k3s_protect_kernel_defaults", "bool", True, _bool,
         "True (preflight sets the kernel values the kubelet needs); False only where they cannot be set",
         "The kubelet refuses to start when the kernel's vm.overcommit_memory, vm.panic_on_oom, kernel.panic, "
         "kernel.panic_on_oops, kernel.keys.root_maxkeys or kernel.keys.root_maxbytes differ from its values, "
         "instead of changing them (every node; K3s protect-kernel-defaults); preflight sets them. CIS 4.2.6 "
         "(benchmark v1.24)."),
        ("k3s_kube_apiserver_args", "list[str]", [], _apiserver_args,
         "give each as flag=value, e.g. ['request-timeout=300s', 'enable-admission-plugins+=EventRateLimit']; "
         "for a flag edgewasm sets, change what it sets it from instead",
         "Extra kube-apiserver arguments (servers; K3s kube-apiserver-arg), flag=value; not the ones the "
         "hardening settings set (admission-control-config-file, audit-policy-file, audit-log-*, "
         "encryption-provider-config*), not disabling PodSecurity, not dropping NodeRestriction."),
        ("k3s_kube_controller_manager_args", "list[str]", [], _controller_manager_args,
         "give each as flag=value, e.g. ['terminated-pod-gc-threshold=10']",
         "Extra kube-controller-manager arguments (servers; K3s kube-controller-manager-arg), flag=value."),
    ),
    *_section(
        "Gatekeeper and image policies (docs/policies.md); one value per cluster",
        ("gatekeeper_enabled", "bool", True, _bool,
         "False leaves Gatekeeper and the image policies off this cluster",
         "Gatekeeper and the image policies on the cluster's servers."),
        ("gatekeeper_namespace", "str", "gatekeeper-system", _str,
         "e.g. gatekeeper_namespace = 'gatekeeper-system'",
         "Namespace Gatekeeper runs in."),
        ("gatekeeper_replicas", "int", 1, _positive_int,
         "1 fits a 2 GB Raspberry Pi; 3 for HA on larger servers",
         "Controller replicas: 1 fits a 2 GB Raspberry Pi beside K3s; upstream's 3 do not."),
        ("gatekeeper_cpu_request", "str", "50m", _quantity, "e.g. '50m'",
         "CPU request of the controller and audit pods."),
        ("gatekeeper_memory_request", "str", "128Mi", _quantity, "e.g. '128Mi'",
         "Memory request of the controller and audit pods."),
        ("gatekeeper_memory_limit", "str", "384Mi", _quantity, "e.g. '384Mi'",
         "Memory limit of the controller and audit pods."),
        ("gatekeeper_failure_policy", "str", "Fail", _one_of("Fail", "Ignore"),
         "'Fail' (closed: nothing unchecked gets in) or 'Ignore' (open)",
         "Fail: while Gatekeeper is down nothing outside the exempt namespaces is admitted; "
         "Ignore (upstream's): admitted unchecked."),
        ("gatekeeper_webhook_timeout", "int", 3,
         _int_between(1, 30, "seconds", "Kubernetes refuses a webhook timeoutSeconds outside 1-30"),
         "seconds, 1-30, e.g. 3",
         "Seconds the API server waits for the webhook (Kubernetes allows 1-30)."),
        ("gatekeeper_audit_interval", "int", 300, _positive_int, "seconds between audits, e.g. 300",
         "Seconds between audits of existing objects."),
        ("gatekeeper_exempt_namespaces", "list[str]", ["kube-system", "kube-public", "kube-node-lease"], _namespaces,
         "e.g. ['kube-system', 'kube-public', 'kube-node-lease']",
         "Never checked (and labelled so the webhook is not even called): the cluster's own pods."),
        ("policy_allowed_repos", "list[str]", [], _repos,
         "name the registries you trust, e.g. ['registry.site-a.example', 'docker.io/edgewasm/']",
         "Trusted registry hosts ('registry.example', 'registry.example:5000', 'localhost') or "
         "repositories ('ghcr.io/acme/app', 'docker.io/edgewasm/'), matched at their own boundary. "
         "Empty: Gatekeeper is refused until you name them."),
        ("policy_disallowed_tags", "list[str]", ["latest"], _tags, "e.g. ['latest']",
         "Image tags refused everywhere the policies apply."),
        ("policy_namespaces", "list[str]", [], _namespaces,
         "namespaces the image policies apply to; [] for all but the exempt ones",
         "Namespaces the policies apply to; [] means every namespace but the exempt ones."),
    ),
    *_section(
        "Preflight",
        ("preflight_min_kernel", "str", "5.4", _version, "e.g. preflight_min_kernel = '5.4'",
         "Oldest kernel accepted (Ubuntu 20.04 ships 5.4; Pi OS bookworm 6.1+)."),
        ("preflight_min_disk_gb", "number", 4, _positive_number, "e.g. preflight_min_disk_gb = 4",
         "Free GiB needed where /var/lib/rancher lives (binary, images, containerd state)."),
        ("preflight_supported_os", "dict[str, str]", {"debian": "11", "ubuntu": "20.04", "raspbian": "11"},
         _os_versions, "e.g. preflight_supported_os = {'debian': '11'}",
         "os-release ID -> oldest VERSION_ID."),
        ("preflight_packages", "list[str]", ["ca-certificates", "iptables", "conntrack", "socat", "xz-utils", "sudo"],
         _packages, "e.g. preflight_packages = ['ca-certificates', 'iptables']",
         "What K3s needs from the distribution beside its own binary (xz-utils: Wasmtime is a .tar.xz), and sudo "
         "(the nightly check user's one sudo rule, check_access_key)."),
        ("preflight_apt_cache_time", "int", 86400, _non_negative_int,
         "seconds, e.g. 86400; 0 never refreshes apt lists",
         "Refresh apt lists before installing when older than this (0: never)."),
        ("preflight_kernel_modules", "list[str]", ["overlay", "br_netfilter"], _module_names,
         "e.g. preflight_kernel_modules = ['overlay', 'br_netfilter']",
         "Kernel modules loaded now and at every boot."),
        ("preflight_sysctls", "dict[str, int|str]", {
            "net.ipv4.ip_forward": 1,
            "net.bridge.bridge-nf-call-iptables": 1,
            "net.bridge.bridge-nf-call-ip6tables": 1,
        }, _sysctls, "e.g. preflight_sysctls = {'net.ipv4.ip_forward': 1}",
         "sysctls set now and at every boot."),
        ("preflight_swap", "str", "keep", _one_of("keep", "disable"),
         "use 'keep' (K3s tolerates swap) or 'disable'",
         "keep: the kubelet runs with fail-swap-on=false; disable: swapoff, fstab lines commented, "
         "dphys-swapfile stopped."),
        ("preflight_pi_cgroup_flags", "list[str]", ["cgroup_memory=1", "cgroup_enable=memory"], _str_list,
         "e.g. ['cgroup_memory=1', 'cgroup_enable=memory']",
         "Appended once to a Raspberry Pi's boot line; the Pi is then rebooted."),
        ("preflight_reboot_timeout", "int", 600, _positive_int,
         "seconds, e.g. preflight_reboot_timeout = 600",
         "Seconds a rebooted host may take to come back."),
    ),
    *_section(
        "Nightly compliance check, on a management host (edgewasm/compliance/nightly.py, docs/compliance.md)",
        ("check_inventory", "str", None, _str,
         "set the path, on the operator's machine, of the fleet inventory to check, written for the "
         "management host (its ssh_key and ssh_known_hosts_file under ~ of check_user)",
         "The fleet inventory the management host checks every night; copied to ~check_user/inventories/."),
        ("check_ssh_key", "str", None, _str,
         "set the path, on the operator's machine, of the private key that reaches the fleet",
         "The SSH key edgewasm-check uses, installed as ~check_user/.ssh/id_edgewasm (0600, that user's "
         "only); the fleet inventory's ssh_key should say ~/.ssh/id_edgewasm."),
        ("check_known_hosts", "str", None, _str,
         "set the path, on the operator's machine, of a known_hosts file with every fleet host's key",
         "Installed as ~check_user/.ssh/known_hosts; the fleet inventory's ssh_known_hosts_file should "
         "say ~/.ssh/known_hosts."),
        ("check_bundle", "str", None, _str,
         "set it to the fleet inventory's edgewasm_bundle (e.g. 'bundles/site-a'), or leave it unset",
         "The fleet's bundle, copied to the same path under ~check_user (the checks read its manifest). "
         "Unset: the fleet deploys from upstream."),
        ("check_wheelhouse", "str", None, _str,
         "set a directory of wheels for the management host's Python and arch, or leave it unset",
         "Wheels of edgewasm-check's dependencies. Unset: downloaded once on the operator's machine "
         "(pip, at the versions it runs) into ~/.cache/edgewasm/check/wheelhouse."),
        ("check_packages", "list[str]", ["python3", "python3-venv"], _packages,
         "e.g. check_packages = ['python3', 'python3-venv']",
         "Distribution packages edgewasm-check needs; from the management host's edgewasm_bundle when "
         "set, else from its apt sources."),
        ("check_user", "str", "edgewasm-check", _user_name, "e.g. check_user = 'edgewasm-check'",
         "The unprivileged system user the check runs as; it holds only the key and known_hosts."),
        ("check_schedule", "str", "*-*-* 03:00:00", _str,
         "a systemd OnCalendar expression, e.g. '*-*-* 03:00:00' or 'daily'",
         "When the check runs (systemd timer OnCalendar=)."),
        ("check_randomized_delay", "str", "30min", _str, "a systemd time span, e.g. '30min'",
         "Random delay added to each run (RandomizedDelaySec=), so management hosts do not all start at once."),
        ("check_textfile_dir", "str", "/var/lib/prometheus/node-exporter", _abs_path,
         "the directory node_exporter's --collector.textfile.directory reads",
         "Where the check writes its metrics for node_exporter's textfile collector."),
        ("check_keep", "int", 30, _positive_int, "e.g. check_keep = 30", "Runs of reports kept."),
        ("check_parallel", "int", 16, _positive_int, "e.g. check_parallel = 16", "Hosts checked at once."),
    ),
    *_section(
        "The nightly check's access to each fleet host (deploys/check_access.py, docs/compliance.md \"Least privilege\")",
        ("check_access_key", "str", None, _public_key_file,
         "set the path, on the operator's machine, of the nightly check's PUBLIC key (the .pub of check_ssh_key)",
         "Installs the check user on every host: that key, restricted (no pty, no forwarding) and accepted only "
         "from check_access_from; sudo for the read helper alone; on servers a read-mostly kubeconfig. Unset: "
         "no check user (the check then needs root's key)."),
        ("check_access_from", "list[str]", [], _from_sources,
         "list the management hosts' addresses, networks or names, e.g. ['10.0.0.5', '10.0.1.0/24']",
         "Where the check key is accepted from (authorized_keys from=); required with check_access_key."),
        ("check_access_user", "str", "edgewasm-check", _check_user, "e.g. check_access_user = 'edgewasm-check'",
         "The check's user on each fleet host (not root); the nightly fleet inventory connects as it (ssh_user)."),
    ),
]}

SECRET = ("k3s_token", "k3s_agent_token", "k3s_env")  # k3s_env holds proxy credentials
CLUSTER_WIDE = ("edgewasm_parallel_hosts", "k3s_ha", "k3s_cluster_name", "k3s_drain", "k3s_rollout_batch",
                "k3s_token", "k3s_token_file", "k3s_agent_token", "k3s_agent_token_file")
# One value for every server: the cluster's API server behaves the same whichever server
# answers (and K3s keeps one encryption configuration for the cluster).
SERVERS_WIDE = ("k3s_secrets_encryption", "k3s_pod_security", "k3s_pod_security_audit",
                "k3s_pod_security_exempt_namespaces", "k3s_audit_log", "k3s_audit_log_maxage",
                "k3s_audit_log_maxbackup", "k3s_audit_log_maxsize")
SETTINGS = {name: replace(s, secret=name in SECRET,
                          scope="cluster" if name in CLUSTER_WIDE
                          else "servers" if name.startswith(("gatekeeper_", "policy_")) or name in SERVERS_WIDE
                          else "host")
            for name, s in SETTINGS.items()}


def defaults() -> dict[str, Any]:
    """Every declared default (a fresh copy: callers may change theirs)."""
    return copy.deepcopy({s.name: s.default for s in SETTINGS.values()})


def merged(data: Mapping) -> dict[str, Any]:
    """A host's data over the defaults, for code that reads another host's data or works
    outside a deploy (deploys get the defaults from pyinfra's data_defaults)."""
    return {**defaults(), **{k: v for k, v in data.items() if v is not None}}


def value(data: Mapping, key: str) -> Any:
    """One setting: the host's value, else the declared default."""
    found = data.get(key)
    return copy.deepcopy(SETTINGS[key].default) if found is None else found


REDACTED = "<redacted>"


def shown(key: str, found: Any) -> str:
    """A value as errors, logs and reports may show it: secrets redacted (k3s_env keeps
    its variable names, never their values)."""
    setting = SETTINGS.get(key)
    if setting is None or not setting.secret:
        return repr(found)
    if isinstance(found, Mapping):
        return "{" + ", ".join(f"{k!r}: {REDACTED!r}" for k in found) + "}"
    return REDACTED


class Secret(str):
    """A secret setting's value in reports: usable as the string it is, but its repr (what
    pytest prints for a failed assertion, and so JUnit) is <redacted>."""

    def __repr__(self) -> str:
        return repr(REDACTED)


def redacted(data: Mapping) -> dict[str, Any]:
    """``data`` with every secret setting's strings wrapped in ``Secret``."""
    out = dict(data)
    for key in SECRET:
        value = out.get(key)
        if isinstance(value, str):
            out[key] = Secret(value)
        elif isinstance(value, Mapping):
            out[key] = {k: Secret(v) if isinstance(v, str) else v for k, v in value.items()}
    return out


# Data keys that are pyinfra's or SSH's own: never taken for a misspelt setting.
_FOREIGN = re.compile(r"^(_|ssh_|winrm_|docker_|chroot_|local_|vagrant_|terraform_)")


def closest(key: str) -> str | None:
    """The declared setting ``key`` most likely misspells, if any is close."""
    found = difflib.get_close_matches(key, SETTINGS, n=1, cutoff=0.85)
    return found[0] if found else None


# Privilege escalation: edgewasm's secret uploads and the kubeconfig fetch are proven as
# root over SSH only.
_ESCALATION = ("_sudo", "_su_user", "_doas")


def problem(host: str, key: str, found: Any) -> str | None:
    """What is wrong with one value, naming host, key, value (redacted if secret) and fix;
    None when fine."""
    setting = SETTINGS.get(key)
    if key in _ESCALATION and found:
        return (f"{host}: {key} = {found!r}: edgewasm connects as root (its 0600 secret uploads and the "
                "kubeconfig fetch are not proven through sudo/su/doas); fix: let root log in with a key "
                "(ssh_user = 'root', PermitRootLogin prohibit-password) and drop " + key)
    if key == "ssh_user" and found not in (None, "root"):
        return (f"{host}: ssh_user = {found!r}: edgewasm needs root on the host; fix: ssh_user = 'root' "
                "with a key (PermitRootLogin prohibit-password)")
    if setting is None:
        guess = None if _FOREIGN.match(key) else closest(key)
        if guess:
            return f"{host}: unknown setting {key!r}; fix: check the spelling: did you mean {guess!r}? (docs/settings.md)"
        if key.startswith(OWNED_PREFIXES):
            return (f"{host}: unknown setting {key!r}; fix: check the spelling against the settings "
                    "in docs/settings.md")
        return None
    error = setting.check(found)
    return f"{host}: {key} = {shown(key, found)} {error}; fix: {setting.fix}" if error else None


# ------------------------------------------------------------------------ documentation

def group_data_all() -> str:
    """group_data/all.py: every setting with its default, commented out (a test keeps the
    file equal to this)."""
    lines = [
        "# Every edgewasm setting with its default, generated from edgewasm/settings.py",
        "# (python -m edgewasm.settings all.py). The defaults apply without this file;",
        "# uncomment a line here (every host), in group_data/<group>.py or in the inventory",
        "# to change it. Every value is checked before any host is contacted.",
    ]
    section = None
    for s in SETTINGS.values():
        if s.section != section:
            section = s.section
            lines += ["", f"# --- {section} ---"]
        lines += [f"# {line}" for line in textwrap.wrap(s.doc, 86)]
        shown = pprint.pformat(s.default, width=80 - len(s.name) - 5, sort_dicts=False)
        lines += [f"# {s.name} = {shown.splitlines()[0]}", *(f"#{' ' * (len(s.name) + 4)}{line}"
                                                           for line in shown.splitlines()[1:])]
    return "\n".join(lines) + "\n"


def settings_table() -> str:
    """docs/settings.md (a test keeps the file equal to this)."""
    lines = [
        "# Settings",
        "",
        "Generated from `edgewasm/settings.py` (`python -m edgewasm.settings settings.md`), the one",
        "declaration of every setting: validation, the deploys' defaults and this page come from",
        "it. Set them per host, per group (`group_data/<group>.py`) or for every host",
        "(`group_data/all.py` or the inventory's `all` group). Roles are groups: `k3s_servers`,",
        "`k3s_agents`.",
    ]
    section = None
    for s in SETTINGS.values():
        if s.section != section:
            section = s.section
            lines += ["", f"## {section}", "", "| setting | type | default | what |", "| --- | --- | --- | --- |"]
        default = "unset" if s.default is None else f"`{s.default!r}`"
        lines.append(f"| `{s.name}` | {s.type} | {default} | {s.doc.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m edgewasm.settings all.py|settings.md``: print a generated file."""
    which = (argv if argv is not None else sys.argv[1:]) or ["settings.md"]
    print({"all.py": group_data_all, "settings.md": settings_table}[which[0]](), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
