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

from edgewasm import check_access, settings
from edgewasm.artifacts import load_catalog
from edgewasm.check_access import CHECK_KUBECONFIG, helper_command
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


# ------------------------------------------------------------------ how a host is read

_PERMS = "rwxrwxrwx"


def symbolic_mode(text: str) -> int:
    """``-rw-r-----`` (stat's %A) -> 0o640 (setuid, setgid and sticky read as x)."""
    bits = text[1:10]
    return sum(1 << (8 - i) for i, c in enumerate(bits) if c not in "-ST" and c.lower() in _PERMS[i] + "st")


def parse_stat(line: str) -> dict:
    """The helper's (and pyinfra's File fact's) stat line -> user, group, mode, size."""
    fields = dict(part.split("=", 1) for part in line.split() if "=" in part and part.split("=", 1)[0]
                  in ("user", "group", "mode", "size"))
    return {"user": fields.get("user"), "group": fields.get("group"),
            "mode": symbolic_mode(fields.get("mode", "-" * 10)), "size": int(fields.get("size", 0))}


class HelperFile:
    """A root-only file as the check user sees it, through the read helper
    (edgewasm/check_access.py): the attributes of Testinfra's File the checks use."""

    def __init__(self, host, path: str):
        self.host, self.path = host, path

    def _stat(self) -> dict | None:
        line = self.host.run(helper_command("stat", self.path)).stdout.strip()
        return parse_stat(line) if line else None

    @property
    def exists(self) -> bool:
        return self._stat() is not None

    def _stat_of(self, field: str):
        found = self._stat()
        if found is None:
            raise AssertionError(f"{self.path} does not exist")
        return found[field]

    @property
    def mode(self) -> int:
        return self._stat_of("mode")

    @property
    def user(self) -> str:
        return self._stat_of("user")

    @property
    def content_string(self) -> str:
        result = self.host.run(helper_command("read", self.path))
        if result.rc != 0:
            raise AssertionError(f"{self.path}: the read helper could not read it (exit {result.rc})")
        return result.stdout

    @property
    def sha256sum(self) -> str:
        return self.host.run(helper_command("sha256", self.path)).stdout.split()[0]


class Access:
    """How the checks read one host: as root (``helper`` False: every command as it is), or
    as the nightly check's user (``helper`` True), who reads root-only files only through
    the read helper and talks to Kubernetes with its own kubeconfig. The checks ask this,
    never which of the two it is, except where only root can check at all."""

    def __init__(self, helper: bool):
        self.helper = helper

    def __repr__(self) -> str:
        return f"Access({'check user, through the read helper' if self.helper else 'root'})"

    def routed(self, path: str) -> bool:
        return self.helper and check_access.statable(path)

    def file(self, host, path: str):
        """Testinfra's ``host.file(path)``, or the same attributes through the helper."""
        return HelperFile(host, path) if self.routed(path) else host.file(path)

    def file_reads(self, path: str, *attrs: str) -> list[tuple[str, ...]]:
        """What ``file(host, path)`` sends for ``attrs``, for the prefetch."""
        if not self.routed(path):
            return file_reads(path, *attrs)
        commands = {"exists": "stat", "mode": "stat", "user": "stat", "content": "read", "sha256sum": "sha256"}
        return [(helper_command(c, path),) for c in dict.fromkeys(commands[a] for a in attrs)
                if c == "stat" or check_access.readable(path)]

    def salted_digest(self, path: str) -> str:
        return helper_command("digest", SALT, path) if self.routed(path) else salted_digest(path)

    def secret_digest(self, path: str) -> str:
        return helper_command("secret-digest", SALT, path) if self.routed(path) else secret_digest(path)

    def holds_k3s_token(self, path: str) -> str:
        return helper_command("is-k3s-token", path) if self.routed(path) else holds_k3s_token(path)

    def env_token_lines(self, path: str) -> str:
        return helper_command("token-lines", path) if self.routed(path) else env_token_lines(path)

    def line_digests(self) -> str:
        return helper_command("line-digests", SALT) if self.helper else SMALL_FILE_LINE_DIGESTS

    @property
    def audit_log_tail(self) -> str:
        """AUDIT_LOG_TAIL as this access may send it (the helper answers the same lines)."""
        return helper_command("audit-tail") if self.helper else AUDIT_LOG_TAIL

    @staticmethod
    def digest(output: str) -> str:
        """A digest command's answer: the digest, or MISSING."""
        word = (output.split() or [MISSING])[0]
        return MISSING if word == "absent" else word

    @property
    def kubectl(self) -> str:
        """K3s's kubectl as this access may run it (the check user: its ServiceAccount)."""
        return f"{K3S_BIN} kubectl --kubeconfig {CHECK_KUBECONFIG}" if self.helper else f"{K3S_BIN} kubectl"


def access_for(data) -> Access:
    """A host's access from its inventory data: through the helper when the checks connect
    as anyone but root (the nightly fleet inventory's ssh_user = check_access_user)."""
    return Access(helper=check_access.check_user(data) is not None)


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


def first_server_reads(access: Access = Access(False)) -> list[tuple[str, ...]]:
    """What every host's checks ask the first server (tokens compared by salted digest)."""
    return [*SYSTEM_INFO, (access.salted_digest(AGENT_TOKEN_FILE),), (access.salted_digest(TOKEN_FILE),),
            (access.secret_digest(TOKEN_FILE),)]


def host_reads(data: dict, role: str | None, is_first_server: bool, access: Access | None = None
               ) -> list[tuple[str, ...]]:
    """The read-only commands the checks of a host with this inventory ``data`` and
    ``role`` send (as Testinfra spells them: a template and its arguments; through the
    read helper what ``access`` reads so)."""
    access = access or access_for(data)
    file_reads = access.file_reads  # as the module's, through the helper where the access says so
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
              (access.env_token_lines(f"/etc/systemd/system/{unit}.service.env"),),
              ("systemctl is-enabled %s", unit), ("systemctl is-active %s", unit),
              *file_reads(K3S_CONFIG, "mode", "user", "content"),
              *file_reads(AGENT_TOKEN_FILE, "mode", "user"), (access.salted_digest(AGENT_TOKEN_FILE),),
              (access.secret_digest(AGENT_TOKEN_FILE),),
              *file_reads(TOKEN_FILE, "exists"),
              *(read for name in ("config.toml.tmpl", "config-v3.toml.tmpl")
                for read in file_reads(f"{CONTAINERD_DIR}/{name}", "exists", "content")),
              *(read for path in shim_links() for read in file_reads(path, "is_symlink", "linked_to", "exists"))]
    if settings.value(data, "k3s_protect_kernel_defaults"):
        reads += [read for key in PROTECTED_KERNEL_DEFAULTS for read in file_reads(sysctl_path(key), "content")]
    if role == "agent":
        reads.append((access.line_digests(),))
    if role == "server":
        reads += [*file_reads(TOKEN_FILE, "mode", "user"), (access.salted_digest(TOKEN_FILE),),
                  *file_reads(KUBECONFIG, "mode", "user"), *file_reads(SERVER_TOKEN, "mode", "user"),
                  (access.secret_digest(SERVER_TOKEN),), (access.secret_digest(TOKEN_FILE),),
                  (access.holds_k3s_token(SERVER_TOKEN),),
                  *file_reads(PSA_CONFIG, "exists", "mode", "user", "content"),
                  *file_reads(AUDIT_POLICY, "exists", "mode", "user", "content"),
                  *file_reads(AUDIT_LOG_DIR, "mode", "user"), *file_reads(AUDIT_LOG, "exists", "mode", "user"),
                  (access.audit_log_tail,)]
        for name in ("edgewasm-runtimeclasses.yaml", "edgewasm-gatekeeper.yaml", "edgewasm-policy-constraints.yaml",
                     "edgewasm-policy-k8sallowedrepos.yaml", "edgewasm-policy-k8sdisallowedtags.yaml"):
            reads += file_reads(f"{MANIFESTS_DIR}/{name}", "exists", "mode", "user", "content")
    if is_first_server:
        reads += first_server_reads(access)
    return reads
