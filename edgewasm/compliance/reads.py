"""What a host's checks read, sent as one SSH command when its checks start.

Testinfra sends a command for every attribute a check asks (a file's mode, owner, hash and
content are four round trips) and again whenever two checks ask the same. Each host's
connection (``hosts.KnownHostsParamikoBackend``) first runs every command below in one
exec and answers those commands from what they printed; anything else a check runs
(kubectl, hello-wasm, a command this list lacks) still goes to the host. The list only
saves round trips: a command missing here, or spelled differently from Testinfra's, is
simply sent on its own, never answered wrongly. Commands here are read-only.
"""

from __future__ import annotations

import secrets

from pyinfra.facts.server import LinuxDistribution

from edgewasm import settings
from edgewasm.artifacts import load_catalog
from edgewasm.compliance import files
from edgewasm.k3s import (AGENT_TOKEN_FILE, AUDIT_LOG, AUDIT_LOG_DIR, AUDIT_POLICY, CONFIG_DIR, K3S_BIN, KUBECONFIG,
                          PROTECTED_KERNEL_DEFAULTS, PSA_CONFIG, SERVER_TOKEN, TOKEN_FILE, unit_name)
from edgewasm.wasm import CONTAINERD_DIR, MANIFESTS_DIR, SHIM_DIR
from facts.host import PI_CMDLINE_PATHS, BoardModel, Cgroups, FreeDisk, KernelModuleStates, PiBootCmdline

K3S_CONFIG = f"{CONFIG_DIR}/config.yaml"

# Testinfra's own spellings (testinfra/modules/file.py, GNUFile; systeminfo.py; service.py).
FILE_ATTRS = {
    "exists": ("test -e %s",),
    "mode": ("stat -Lc %%a %s",),
    "user": ("stat -Lc %%U %s",),
    "sha256sum": ("sha256sum %s | cut -d ' ' -f 1",),
    "content": ("cat -- %s",),
    "linked_to": ("realpath %s",),
    "is_symlink": ("test -L %s",),
}
SYSTEM_INFO = [("uname -s",), ("uname -r",), ("uname -m",), ("cat /etc/os-release",)]


def file_reads(path: str, *attrs: str) -> list[tuple[str, ...]]:
    return [(FILE_ATTRS[a][0], path) for a in attrs]


def shim_links() -> list[str]:
    return [f"{SHIM_DIR}/{entry['shim']}" for entry in load_catalog().values() if entry.get("shim")]


def sysctl_path(key: str) -> str:
    return "/proc/sys/" + key.replace(".", "/")


# Secrets are compared by digests computed on the host, salted afresh by every check
# process: no secret leaves its host, and a digest a log or report might show says nothing
# outside the run (an unsalted sha256 of a short secret can be looked up).
SALT = secrets.token_hex(16)
MISSING = "missing"


def salted_digest(path: str) -> str:
    """sha256 of SALT and the file's bytes, computed on the host; ``missing`` when it is not a file."""
    return f"if [ -f {path} ]; then {{ printf %s {SALT}; cat {path}; }} | sha256sum; else echo {MISSING}; fi"


def secret_digest(path: str) -> str:
    """sha256 of SALT and the secret part of a token file (after the last ':' of
    K10...::user:secret), computed on the host (edgewasm/compliance/checks/test_k3s.py);
    ``missing`` when it is not a file."""
    return (f"if [ -f {path} ]; then {{ printf %s {SALT}; awk '{{sub(/.*:/, \"\"); print}}' {path}; }} | sha256sum; "
            f"else echo {MISSING}; fi")


def holds_k3s_token(path: str) -> str:
    """Whether a file is a K3s token (K10<CA hash>::user:secret), asked on the host: ``yes`` or ``no``."""
    return f"if grep -qE '^K10[0-9a-f]*::[^:]+:.' {path}; then echo yes; else echo no; fi"


def env_token_lines(path: str) -> str:
    """How many lines of an environment file set a K3s token, counted on the host."""
    return f"grep -c -e K3S_TOKEN -e K3S_AGENT_TOKEN {path}"


# Every line of every small file K3s or edgewasm configures, as "<salted digest of what
# follows its last ':' or '='> <file>" (an agent must hold no line that is the server's
# secret: edgewasm/compliance/checks/test_k3s.py).
SMALL_FILE_LINE_DIGESTS = (
    "find /etc/rancher /etc/systemd/system /var/lib/rancher/k3s/agent/etc -maxdepth 3 -type f -size -64k "
    "2>/dev/null | while IFS= read -r f; do awk '{sub(/.*[:=]/, \"\"); print}' \"$f\" 2>/dev/null | "
    "while IFS= read -r l || [ -n \"$l\" ]; do "
    f"printf '%s %s\\n' \"$({{ printf %s {SALT}; printf '%s\\n' \"$l\"; }} | sha256sum | cut -d ' ' -f 1)\" \"$f\"; "
    "done; done")


# The audit log's size and its last event's kind and stage (never the event: it names users
# and objects), read on the host (edgewasm/compliance/checks/test_hardening.py).
AUDIT_LOG_TAIL = (f"stat -c %s {AUDIT_LOG} 2>/dev/null || echo 0; tail -n 1 {AUDIT_LOG} 2>/dev/null | "
                  "grep -o -e '\"kind\":\"Event\"' -e '\"stage\":\"[A-Za-z]*\"' | tr '\\n' ' '; echo")


def artifact_paths(plan) -> tuple[list, list[str]]:
    """(the plan's placements with a destination on the host, the hidden names an upload
    on its way to each would have)."""
    placed = [p for p in plan.placements if p.dest]  # "" : read on the operator's machine only
    return placed, [f"{d}/.{n}.edgewasm-upload" for d, _, n in (p.dest.rpartition("/") for p in placed)]


def foreign_paths(plan, manifest: dict) -> list[str]:
    """Where the bundle's files for other arches would sit on this host."""
    own = {e["dest"] for e in manifest["artifacts"] if e["arch"] in (plan.arch, "all")}
    # An arch-independent file (the wasip1/wasm hello image) has one dest for every arch.
    return sorted({e["dest"] for e in manifest["artifacts"] if e["arch"] not in (plan.arch, "all")} - own)


def plan_reads(plan, manifest: dict | None) -> list[tuple[str, ...]]:
    """What the checks read that the host's plan decides (sent once the plan is known)."""
    placed, partials = artifact_paths(plan)
    reads = [(files.command([p.dest for p in placed] + partials),)]
    if manifest:
        reads.append((files.command(foreign_paths(plan, manifest)),))
    for component, entry in load_catalog().items():
        if entry.get("shim") and component in plan.versions:
            reads += file_reads(f"/opt/edgewasm/{component}/{plan.versions[component]}/{entry['shim']}", "mode")
    for runtime in plan.packaged.values():
        reads.append(("dpkg-query -f '${Version}' -W %s", runtime.packages[0]))
        reads += [("dpkg-query -f '${Status}' -W %s", p) for p in runtime.packages[1:]]
    if "wasmedge" in plan.versions and "wasmedge" not in plan.packaged:
        for lib in ("lib64", "lib"):
            reads += file_reads(f"/opt/edgewasm/wasmedge/{plan.versions['wasmedge']}/{lib}/libwasmedge.so.0", "exists")
    return reads


def first_server_reads() -> list[tuple[str, ...]]:
    """What every host's checks ask the first server (tokens compared by salted digest)."""
    return [*SYSTEM_INFO, (salted_digest(AGENT_TOKEN_FILE),), (salted_digest(TOKEN_FILE),),
            (secret_digest(TOKEN_FILE),)]


def host_reads(data: dict, role: str | None, is_first_server: bool) -> list[tuple[str, ...]]:
    """The read-only commands the checks of a host with this inventory ``data`` and
    ``role`` send (as Testinfra spells them: a template and its arguments)."""
    reads = [*SYSTEM_INFO, (BoardModel().command(),), ("test -d %s", "/run/systemd/system/"),
             (LinuxDistribution().command(),), (Cgroups().command(),), (PiBootCmdline().command(),),
             (FreeDisk().command(path="/var/lib/rancher"),),
             (KernelModuleStates().command(modules=settings.value(data, "preflight_kernel_modules")),),
             ("tail -n +2 /proc/swaps",), *file_reads("/etc/fstab", "content"),
             *(read for path in PI_CMDLINE_PATHS for read in file_reads(path, "content")),
             *file_reads("/etc/modules-load.d/k3s.conf", "mode", "content"),
             *file_reads("/etc/sysctl.d/90-k3s.conf", "content"),
             *(read for key in settings.value(data, "preflight_sysctls") for read in file_reads(sysctl_path(key), "content")),
             *(("dpkg-query -f '${Status}' -W %s", p) for p in settings.value(data, "preflight_packages")),
             ("wasmtime --version",), ("wasmedge --version",),
             *file_reads("/etc/ld.so.conf.d/edgewasm-wasmedge.conf", "content")]
    if role is None:
        return reads
    unit = unit_name(role)
    reads += [(f"{K3S_BIN} --version",), *file_reads(K3S_BIN, "mode", "user", "sha256sum"),
              *file_reads(f"/etc/systemd/system/{unit}.service", "content"),
              *file_reads(f"/etc/systemd/system/{unit}.service.env", "mode"),
              (env_token_lines(f"/etc/systemd/system/{unit}.service.env"),),
              ("systemctl is-enabled %s", unit), ("systemctl is-active %s", unit),
              *file_reads(K3S_CONFIG, "mode", "user", "content"),
              *file_reads(AGENT_TOKEN_FILE, "mode", "user"), (salted_digest(AGENT_TOKEN_FILE),),
              (secret_digest(AGENT_TOKEN_FILE),),
              *file_reads(TOKEN_FILE, "exists"),
              *(read for name in ("config.toml.tmpl", "config-v3.toml.tmpl")
                for read in file_reads(f"{CONTAINERD_DIR}/{name}", "exists", "content")),
              *(read for path in shim_links() for read in file_reads(path, "is_symlink", "linked_to", "exists"))]
    if settings.value(data, "k3s_protect_kernel_defaults"):
        reads += [read for key in PROTECTED_KERNEL_DEFAULTS for read in file_reads(sysctl_path(key), "content")]
    if role == "agent":
        reads.append((SMALL_FILE_LINE_DIGESTS,))
    if role == "server":
        reads += [*file_reads(TOKEN_FILE, "mode", "user"), (salted_digest(TOKEN_FILE),),
                  *file_reads(KUBECONFIG, "mode", "user"), *file_reads(SERVER_TOKEN, "mode", "user"),
                  (secret_digest(SERVER_TOKEN),), (secret_digest(TOKEN_FILE),), (holds_k3s_token(SERVER_TOKEN),),
                  *file_reads(PSA_CONFIG, "exists", "mode", "user", "content"),
                  *file_reads(AUDIT_POLICY, "exists", "mode", "user", "content"),
                  *file_reads(AUDIT_LOG_DIR, "mode", "user"), *file_reads(AUDIT_LOG, "exists", "mode", "user"),
                  (AUDIT_LOG_TAIL,)]
        for name in ("edgewasm-runtimeclasses.yaml", "edgewasm-gatekeeper.yaml", "edgewasm-policy-constraints.yaml",
                     "edgewasm-policy-k8sallowedrepos.yaml", "edgewasm-policy-k8sdisallowedtags.yaml"):
            reads += file_reads(f"{MANIFESTS_DIR}/{name}", "exists", "mode", "user", "content")
    if is_first_server:
        reads += first_server_reads()
    return reads
