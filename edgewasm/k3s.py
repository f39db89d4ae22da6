"""K3s decisions that need no host: roles, join URL, token custody, config values."""

from __future__ import annotations

import shlex

import hashlib
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from edgewasm import settings

K3S_BIN = "/usr/local/bin/k3s"
CONFIG_DIR = "/etc/rancher/k3s"
TOKEN_FILE = f"{CONFIG_DIR}/cluster-token"  # the server token: servers only
AGENT_TOKEN_FILE = f"{CONFIG_DIR}/agent-token"  # the agent token: every node
SERVER_TOKEN = "/var/lib/rancher/k3s/server/token"
KUBECONFIG = f"{CONFIG_DIR}/k3s.yaml"
API_PORT = 6443

# Hardening (docs/k3s.md, "Hardening"). Servers read both files at start; 0600 root.
PSA_CONFIG = f"{CONFIG_DIR}/psa.yaml"  # k3s_pod_security: an AdmissionConfiguration for kube-apiserver
AUDIT_POLICY = f"{CONFIG_DIR}/audit-policy.yaml"  # k3s_audit_log
SERVER_DIR = "/var/lib/rancher/k3s/server"  # K3s makes it 0700
AUDIT_LOG_DIR = f"{SERVER_DIR}/logs"  # 0700: the log names every request's user and object
AUDIT_LOG = f"{AUDIT_LOG_DIR}/audit.log"
# What the kubelet holds the kernel to (Kubernetes' setupKernelTunables, in the kubelet K3s
# embeds): by default it writes these itself; with protect-kernel-defaults it refuses to
# start while any differs. K3s's hardening guide lists the first four; the kubelet checks
# the keyrings' limits too (the kernel's own defaults, set here so a changed one is found
# by preflight, not by a kubelet that will not start).
PROTECTED_KERNEL_DEFAULTS = {
    "vm.overcommit_memory": 1,
    "vm.panic_on_oom": 0,
    "kernel.panic": 10,
    "kernel.panic_on_oops": 1,
    "kernel.keys.root_maxkeys": 1000000,
    "kernel.keys.root_maxbytes": 25000000,
}


# The digest of everything K3s reads at start, as it was when K3s last got ready here:
# a run that wrote an input but never restarted (interrupted, or its rollout stopped)
# leaves it stale, and the next run restarts K3s on that alone.
STARTED_INPUTS = "/var/lib/edgewasm/k3s-started-inputs"


def rollout_batch(value: int | str, agents: int) -> int:
    """How many agents restart at once: a count, or a percentage of ``agents`` rounded
    down (Kubernetes' maxUnavailable), never less than 1."""
    if isinstance(value, str) and value.endswith("%"):
        return max(1, agents * int(value[:-1]) // 100)
    return max(1, int(value))


def inputs_digest_script(paths: list[str]) -> str:
    """A sh script printing one sha256 over ``paths``: each file's content, each link's
    target, each absence, so a removed file or a moved link changes it too."""
    quoted = " ".join(shlex.quote(p) for p in paths)
    return (f"for f in {quoted}; do if [ -L \"$f\" ]; then echo \"link $f $(readlink \"$f\")\"; "
            "elif [ -f \"$f\" ]; then sha256sum \"$f\"; else echo \"absent $f\"; fi; done "
            "| sha256sum | cut -d' ' -f1")


def unit_name(role: str) -> str:
    """install.sh's unit names: k3s for servers, k3s-agent for agents."""
    return "k3s" if role == "server" else "k3s-agent"


def api_address(data: Mapping) -> str:
    return data.get("k3s_api_address") or data.get("k3s_node_ip") or data.get("ssh_hostname")


def join_url(first_server_name: str, first_server_data: Mapping) -> str:
    return f"https://{api_address(first_server_data) or first_server_name}:{API_PORT}"


def config_values(name: str, data: Mapping, role: str, is_first_server: bool, server_url: str) -> dict:
    """What templates/k3s/config.yaml.j2 renders for one host."""
    ha = settings.value(data, "k3s_ha")
    return {
        "role": role,
        "cluster_init": role == "server" and is_first_server and ha,
        # Agents and further servers join the first server; a lone server joins nobody.
        "server_url": None if (role == "server" and is_first_server) else server_url,
        # Least privilege: agents join with the agent token and never hold the server
        # token (a node holding it can join as a server); servers accept both.
        "token_file": TOKEN_FILE if role == "server" else AGENT_TOKEN_FILE,
        "agent_token_file": AGENT_TOKEN_FILE if role == "server" else None,
        "node_name": name,
        "node_ip": data.get("k3s_node_ip"),
        "tls_san": list(settings.value(data, "k3s_tls_san")),
        "disable": list(settings.value(data, "k3s_disable")),
        "node_labels": dict(settings.value(data, "k3s_node_labels")),
        "node_taints": list(settings.value(data, "k3s_node_taints")),
        "default_runtime": data.get("k3s_default_runtime"),
        "kubelet_args": list(settings.value(data, "k3s_kubelet_args")),
        "snapshotter": data.get("k3s_snapshotter"),
        "pause_image": data.get("k3s_pause_image"),
        "flannel_iface": data.get("k3s_flannel_iface"),
        # Cluster-wide choices K3s takes from servers only.
        "flannel_backend": data.get("k3s_flannel_backend") if role == "server" else None,
        "helm_job_image": data.get("k3s_helm_job_image") if role == "server" else None,
        # Hardening: protect-kernel-defaults is every node's kubelet's; the rest are the
        # API server's and controller manager's, which run on servers only (an agent given
        # one of those keys would refuse to start).
        "protect_kernel_defaults": bool(settings.value(data, "k3s_protect_kernel_defaults")),
        "secrets_encryption": role == "server" and bool(settings.value(data, "k3s_secrets_encryption")),
        "kube_apiserver_args": apiserver_args(data) if role == "server" else [],
        "kube_controller_manager_args":
            list(settings.value(data, "k3s_kube_controller_manager_args")) if role == "server" else [],
    }


def apiserver_args(data: Mapping) -> list[str]:
    """kube-apiserver-arg for a server: the hardening files and the audit log's rotation
    (from the settings), then the operator's k3s_kube_apiserver_args (validation refuses
    any that would replace these)."""
    # Whatever the level: at 'privileged' nothing is refused, and audit and warn still apply.
    args = [f"admission-control-config-file={PSA_CONFIG}"]
    if settings.value(data, "k3s_audit_log"):
        args += [f"audit-policy-file={AUDIT_POLICY}", f"audit-log-path={AUDIT_LOG}",
                 f"audit-log-maxage={settings.value(data, 'k3s_audit_log_maxage')}",
                 f"audit-log-maxbackup={settings.value(data, 'k3s_audit_log_maxbackup')}",
                 f"audit-log-maxsize={settings.value(data, 'k3s_audit_log_maxsize')}"]
    return args + list(settings.value(data, "k3s_kube_apiserver_args"))


def pod_security_exempt(data: Mapping) -> list[str]:
    """Namespaces Pod Security leaves alone: k3s_pod_security_exempt_namespaces, and
    Gatekeeper's while it is on (its namespace is edgewasm's to fill)."""
    exempt = list(settings.value(data, "k3s_pod_security_exempt_namespaces"))
    if settings.value(data, "gatekeeper_enabled"):
        exempt.append(settings.value(data, "gatekeeper_namespace"))
    return list(dict.fromkeys(exempt))


def pod_security_check_namespace(data: Mapping) -> str | None:
    """Where the Pod Security check dry-runs its privileged pod (edgewasm/compliance/checks/
    test_hardening.py): the first of policy_namespaces, then ``default``, that Pod Security
    does not exempt; None when all are. The check user's RBAC lets it create pods there
    (edgewasm/check_access.py, pod_namespaces)."""
    exempt = pod_security_exempt(data)
    return next((n for n in [*settings.value(data, "policy_namespaces"), "default"] if n not in exempt), None)


def pod_security_values(data: Mapping) -> dict:
    """What templates/k3s/psa.yaml.j2 renders for a server."""
    return {"enforce": settings.value(data, "k3s_pod_security"),
            "audit": settings.value(data, "k3s_pod_security_audit"),
            "exempt": pod_security_exempt(data)}


def kernel_sysctls(data: Mapping) -> dict:
    """The sysctls preflight sets and persists: preflight_sysctls, and with
    k3s_protect_kernel_defaults the kubelet's own values (PROTECTED_KERNEL_DEFAULTS)."""
    wanted = dict(settings.value(data, "preflight_sysctls"))
    if settings.value(data, "k3s_protect_kernel_defaults"):
        wanted.update(PROTECTED_KERNEL_DEFAULTS)
    return wanted


def kernel_defaults_problems(name: str, data: Mapping) -> list[str]:
    """preflight_sysctls that k3s_protect_kernel_defaults would make the kubelet refuse,
    each naming host, key, value and fix."""
    if not settings.value(data, "k3s_protect_kernel_defaults"):
        return []
    sysctls = settings.value(data, "preflight_sysctls")
    return [f"{name}: preflight_sysctls sets {key} = {sysctls[key]!r}, but with k3s_protect_kernel_defaults the "
            f"kubelet refuses to start unless it is {wanted}; fix: remove {key} from preflight_sysctls (preflight "
            "sets it), or set k3s_protect_kernel_defaults = False"
            for key, wanted in PROTECTED_KERNEL_DEFAULTS.items()
            if isinstance(sysctls, Mapping) and key in sysctls and str(sysctls[key]) != str(wanted)]


# kind -> (the token in data, the operator's token file)
TOKEN_SETTINGS = {"server": ("k3s_token", "k3s_token_file"), "agent": ("k3s_agent_token", "k3s_agent_token_file")}


def token_path(data: Mapping, kind: str = "server") -> Path:
    """The operator's token file of ``kind`` (server or agent), {k3s_cluster_name} filled in."""
    template = settings.value(data, TOKEN_SETTINGS[kind][1])
    return Path(template.replace("{k3s_cluster_name}", settings.value(data, "k3s_cluster_name")))


# Set by edgewasm-check's dry run: decide as a deploy would, but write and generate nothing.
READ_ONLY_ENV = "EDGEWASM_READ_ONLY"


def cluster_token(data: Mapping, read_from_server=None, kind: str = "server", read_only: bool = False) -> bytes:
    """The cluster's server (or agent) token: from data, else the operator's 0600 token
    file, else read from the first server (``read_from_server()``), else newly generated.
    Kept in the token file so every host and every later run get the same one.
    ``read_only`` (a drift check, perhaps on a management host holding no token file):
    nothing is written or generated; b"" when neither data, file nor server has one."""
    in_data = data.get(TOKEN_SETTINGS[kind][0])
    if in_data:
        return str(in_data).strip().encode()
    path = token_path(data, kind)
    if path.exists():
        return path.read_bytes().strip()
    token = read_from_server() if read_from_server else ""
    if read_only:
        return token.strip().encode()
    token = token or secrets.token_hex(24)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token.strip() + "\n")
    os.replace(path.with_suffix(".tmp"), path)
    return token.strip().encode()


def service_env(data: Mapping) -> dict[str, str]:
    """The K3s service's environment: k3s_env, then the lines of k3s_env_file."""
    env = dict(settings.value(data, "k3s_env"))
    path = data.get("k3s_env_file")
    if path:
        env.update(settings.parse_env_file(Path(path).read_text()))
    return env


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def rewrite_kubeconfig(text: str, server_url: str) -> str:
    """K3s writes https://127.0.0.1:6443; an operator's copy must name the server."""
    return text.replace("https://127.0.0.1:6443", server_url).replace("https://localhost:6443", server_url)


def drain_args(node: str, timeout: int) -> list[str]:
    """``kubectl`` arguments that cordon ``node`` and move its pods off: DaemonSet pods
    stay (they would come straight back), emptyDir data goes with its pod, and a
    PodDisruptionBudget that does not allow the eviction within ``timeout`` fails it."""
    return ["drain", node, "--ignore-daemonsets", "--delete-emptydir-data", f"--timeout={timeout}s"]
