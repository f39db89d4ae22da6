"""Least privilege for the nightly check (docs/compliance.md, "Least privilege"): what
``deploys/check_access.py`` puts on every fleet host, decided here without a host.

The nightly check connects as a dedicated user (``check_access_user``) whose key is
``restrict``-ed and bound to the management hosts (``from=``). That user reads root-only
state through one root-owned helper, the only command sudo lets it run; the helper reads
a fixed allowlist of paths and answers secrets only as salted digests. On servers it talks
to Kubernetes with a ServiceAccount token that may read what the checks read and create
pods only where the checks create them.

Everything here is pure: the authorized_keys line, the sudoers drop-in, the helper (a
template whose allowlist is a variable, so the tests run it on temporary paths), the RBAC
manifest and the script that writes the kubeconfig on a server.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterable, Mapping

from edgewasm import settings, templates
from edgewasm.artifacts import load_catalog
from edgewasm.k3s import (AGENT_TOKEN_FILE, API_PORT, AUDIT_LOG, AUDIT_LOG_DIR, AUDIT_POLICY, CONFIG_DIR, K3S_BIN,
                          KUBECONFIG, PSA_CONFIG, READ_ONLY_ENV, SERVER_DIR, SERVER_TOKEN, STARTED_INPUTS, TOKEN_FILE,
                          pod_security_check_namespace)
from edgewasm.openssh import from_problem, parse_public_key
from edgewasm.policy import POLICY_TEMPLATES
from edgewasm.wasm import CONTAINERD_DIR, MANIFESTS_DIR, SHIM_DIR

HELPER = "/usr/local/libexec/edgewasm/check-read"
SUDOERS = "/etc/sudoers.d/edgewasm-check"  # no '.' in the name: sudo skips such files in sudoers.d
CHECK_KUBECONFIG = f"{CONFIG_DIR}/edgewasm-check.kubeconfig"
NAMESPACE = "edgewasm-check"  # the ServiceAccount's own namespace
SERVICE_ACCOUNT = "edgewasm-check"
TOKEN_SECRET = "edgewasm-check-token"
RBAC_MANIFEST = f"{MANIFESTS_DIR}/edgewasm-check-rbac.yaml"
SUDO = ("sudo", "-n", HELPER)

# ------------------------------------------------------------------ the helper's allowlist

UNITS = ("k3s", "k3s-agent")
# Root-only files whose content is no secret, that the checks and the drift dry run read:
# their content (``read``), sha256 (``sha256``) and state (``stat``).
READ_PATHS = (
    f"{CONFIG_DIR}/config.yaml",
    f"{CONFIG_DIR}/registries.yaml",
    f"{CONTAINERD_DIR}/config.toml.tmpl",
    f"{CONTAINERD_DIR}/config-v3.toml.tmpl",
    *(f"/etc/systemd/system/{unit}.service" for unit in UNITS),
    "/etc/modules-load.d/k3s.conf",
    "/etc/sysctl.d/90-k3s.conf",
    PSA_CONFIG,  # K3s hardening (docs/k3s.md): policies, no secret
    AUDIT_POLICY,
    STARTED_INPUTS,
    SUDOERS,
    HELPER,
)
# (directory, name prefix, name suffix): any file directly in the directory so named.
READ_PATTERNS = (
    (f"{CONFIG_DIR}/config.yaml.d", "", ".yaml"),
    (MANIFESTS_DIR, "edgewasm-", ".yaml"),
)
# Files that hold secrets: only salted digests of them (``digest``, ``secret-digest``), the
# shape of a token (``is-k3s-token``), a count of token lines (``token-lines``), their state.
SECRET_PATHS = (
    AGENT_TOKEN_FILE,
    TOKEN_FILE,
    SERVER_TOKEN,
    KUBECONFIG,
    CHECK_KUBECONFIG,
    *(f"/etc/systemd/system/{unit}.service.env" for unit in UNITS),
)
# Directories (and the audit log) whose state only (mode, owner, size) is asked (K3s keeps
# some of them 0700; the audit log names every request's user and object: never read).
STAT_PATHS = (CONFIG_DIR, f"{CONFIG_DIR}/config.yaml.d", MANIFESTS_DIR, CONTAINERD_DIR, "/etc/sudoers.d",
              SERVER_DIR, AUDIT_LOG_DIR, AUDIT_LOG)
# Where ``line-digests`` looks for a secret's line in every small file (test_k3s.py).
LINE_DIGEST_DIRS = ("/etc/rancher", "/etc/systemd/system", "/var/lib/rancher/k3s/agent/etc")
# What else ``inputs`` digests (K3s's start inputs that anyone may read: the binary and the
# runwasi shims' links; deploys/k3s.py).
INPUT_PATHS = (K3S_BIN, *sorted(f"{SHIM_DIR}/{entry['shim']}" for entry in load_catalog().values() if entry.get("shim")))

_SAFE_PATH = re.compile(r"/[A-Za-z0-9._/-]*")


def helper_values(read_paths: Iterable[str] = READ_PATHS,
                  read_patterns: Iterable[tuple[str, str, str]] = READ_PATTERNS,
                  secret_paths: Iterable[str] = SECRET_PATHS, stat_paths: Iterable[str] = STAT_PATHS,
                  line_digest_dirs: Iterable[str] = LINE_DIGEST_DIRS, input_paths: Iterable[str] = INPUT_PATHS,
                  audit_log: str = AUDIT_LOG) -> dict:
    """The helper template's allowlist. Every path is rendered into a ``case`` pattern (or,
    ``audit_log``, a command's fixed argument), so each must be a plain absolute path (no
    glob or shell character): refused here otherwise."""
    values = {"read_paths": list(read_paths), "read_patterns": [tuple(p) for p in read_patterns],
              "secret_paths": list(secret_paths), "stat_paths": list(stat_paths),
              "line_digest_dirs": list(line_digest_dirs), "input_paths": list(input_paths), "audit_log": audit_log}
    paths = [*values["read_paths"], *values["secret_paths"], *values["stat_paths"], *values["line_digest_dirs"],
             *values["input_paths"], *(d for d, _, _ in values["read_patterns"]), audit_log]
    names = [part for _, prefix, suffix in values["read_patterns"] for part in (prefix, suffix)]
    bad = [p for p in paths if not _plain(p)]
    bad += [n for n in names if n and not re.fullmatch(r"[A-Za-z0-9._-]+", n)]
    if bad:
        raise ValueError(f"not plain paths or names for the helper's allowlist: {bad}")
    return values


def helper_script(**allowlist) -> str:
    """The helper, ``templates/check_access/check-read.j2`` with its allowlist (``helper_values``)."""
    return templates.render("check_access/check-read.j2", **helper_values(**allowlist))


def _plain(path: object) -> bool:
    """As the helper's ``plain``: an absolute path of letters, digits, '.', '_', '-' and
    single '/', without '..' and not ending in '/'."""
    return (isinstance(path, str) and bool(_SAFE_PATH.fullmatch(path)) and ".." not in path and "//" not in path
            and not path.endswith("/"))


# The same answers as the production helper's (tests/unit/test_check_access.py keeps them
# equal): which of its commands a path may be given to.
def readable(path: str) -> bool:
    if not _plain(path):
        return False
    if path in READ_PATHS:
        return True
    directory, _, name = path.rpartition("/")
    return any(directory == d and name.startswith(prefix) and name.endswith(suffix) and len(name) >= len(prefix + suffix)
               for d, prefix, suffix in READ_PATTERNS)


def secret(path: str) -> bool:
    return _plain(path) and path in SECRET_PATHS


def statable(path: str) -> bool:
    return readable(path) or secret(path) or (_plain(path) and path in STAT_PATHS)


def inputs_ok(path: str) -> bool:
    return statable(path) or (_plain(path) and path in INPUT_PATHS)


def check_user(data: Mapping) -> str | None:
    """Whom a host's inventory connects as, when that is not root: the check user (only a
    read may connect so: config.check_host_data)."""
    user = data.get("ssh_user") or "root"
    return None if user == "root" else user


def via_helper(data: Mapping) -> bool:
    """Whether reads of this host go through the helper: a read-only run (edgewasm-check's
    dry run) that connects as the check user."""
    return bool(os.environ.get(READ_ONLY_ENV)) and check_user(data) is not None


def helper_command(*args: str) -> str:
    """``sudo -n HELPER ARGS`` as the check user sends it (each argument quoted)."""
    return shlex.join([*SUDO, *args])


# ------------------------------------------------------------------ SSH and sudo

def authorized_keys_line(public_key: str, sources: list[str]) -> str:
    """The check user's one authorized_keys line: ``restrict`` (no pty, no port, agent or
    X11 forwarding, no ~/.ssh/rc) and ``from=`` the management hosts. No forced command:
    Testinfra runs many different commands, and what the user may do as root is bounded by
    sudoers and the helper, not by this line."""
    kind, blob = parse_public_key(public_key)
    problems = [p for p in map(from_problem, sources) if p]
    if not sources or problems:
        raise ValueError("; ".join(problems) or "no management host address to allow it from")
    return f'restrict,from="{",".join(sources)}" {kind} {blob} edgewasm-check\n'


def sudoers(user: str) -> str:
    """The sudoers drop-in: ``user`` may run the helper (with any arguments, which it
    checks itself) as root without a password, and nothing else."""
    if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", user):
        raise ValueError(f"{user!r} is not a system user name")
    return templates.render("check_access/sudoers.j2", account=user, helper=HELPER)


# ------------------------------------------------------------------ Kubernetes

def pod_namespaces(data: Mapping) -> list[str]:
    """Where the cluster checks create pods: hello-wasm's in ``default`` (its manifest names
    no namespace), and the server-side dry runs, which Kubernetes authorizes as creations:
    the policy smoke test's in the first of policy_namespaces (else ``default``), the Pod
    Security check's privileged pod where it runs it (k3s.pod_security_check_namespace)
    while k3s_pod_security refuses privileged pods."""
    found = {"default"}
    if settings.value(data, "gatekeeper_enabled"):
        found.add((settings.value(data, "policy_namespaces") or ["default"])[0])
    if settings.value(data, "k3s_pod_security") != "privileged":
        found.update(n for n in [pod_security_check_namespace(data)] if n)
    return sorted(found)


def constraint_resources() -> list[str]:
    """The constraint kinds' resource names (Gatekeeper names a constraint CRD after its
    template: k8sallowedrepos ...)."""
    return sorted(t.stem.lower() for t in POLICY_TEMPLATES)


def rbac_manifest(data: Mapping) -> str:
    return templates.render("check_access/rbac.yaml.j2", **rbac_values(data))


def rbac_values(data: Mapping) -> dict:
    """The check's ServiceAccount, its long-lived token Secret and its rights: read the
    kinds the checks read (nodes, RuntimeClasses, constraints; pods in Gatekeeper's
    namespace), create and delete pods where the checks run them (``pod_namespaces``)."""
    gatekeeper = settings.value(data, "gatekeeper_enabled")
    roles: dict[str, set[str]] = {}
    for namespace in pod_namespaces(data):
        roles.setdefault(namespace, set()).add("run")
    if gatekeeper:
        roles.setdefault(settings.value(data, "gatekeeper_namespace"), set()).add("read")
    return {"namespace": NAMESPACE, "account": SERVICE_ACCOUNT, "secret": TOKEN_SECRET,
            "roles": {ns: sorted(kinds) for ns, kinds in sorted(roles.items())},
            "constraints": constraint_resources() if gatekeeper else []}


def kubeconfig_script(user: str, write: bool, k3s: str = K3S_BIN, dest: str = CHECK_KUBECONFIG,
                      wait: int = 120) -> str:
    """A root sh script on a server that builds the check user's kubeconfig from its
    ServiceAccount token Secret: ``write`` False prints ``current`` (the file is what it
    would write, 0640 root:``user``), ``stale`` or ``pending`` (K3s has not filled the
    token in yet); ``write`` True writes it (umask 077, then chgrp and chmod 0640, renamed
    into place) and prints ``written``, waiting up to ``wait`` seconds for the token (K3s
    applies the RBAC manifest a moment after it is written). The token stays in a shell variable and a pipe: on
    no command line (printf is a builtin), in no output."""
    q = shlex.quote
    get = f"{q(k3s)} kubectl -n {q(NAMESPACE)} get secret {q(TOKEN_SECRET)} -o"
    content = templates.render("check_access/kubeconfig.j2", api_port=API_PORT)
    read_secret = [
        f"ca=$({get} 'jsonpath={{.data.ca\\.crt}}' 2>/dev/null) || ca=''",
        f"token=$({get} 'jsonpath={{.data.token}}' 2>/dev/null | base64 -d 2>/dev/null) || token=''",
    ]
    lines = ["set -u", "umask 077"]
    if write:
        lines += ["t=0", "while :; do", *read_secret, 'if [ -n "$ca" ] && [ -n "$token" ]; then break; fi',
                  f"t=$((t+2)); if [ $t -gt {int(wait)} ]; then",
                  f"echo {q(f'the token of ServiceAccount {NAMESPACE}/{SERVICE_ACCOUNT} is not filled in after {wait}s; check K3s applied {RBAC_MANIFEST}')} >&2",
                  "exit 1; fi; sleep 2; done"]
    else:
        lines += [*read_secret, 'if [ -z "$ca" ] || [ -z "$token" ]; then echo pending; exit 0; fi']
    lines.append(f"render() {{ printf {q(content)} \"$ca\" \"$token\"; }}")
    current = (f"render | cmp -s - {q(dest)} && [ \"$(stat -c %a:%U:%G {q(dest)})\" = {q(f'640:root:{user}')} ]")
    if write:
        lines += [
            f"if {current}; then echo current; exit 0; fi",
            f"tmp=$(mktemp {q(dest + '.XXXXXX')}) || exit 1",
            'render > "$tmp" || { rm -f "$tmp"; exit 1; }',
            f'chown root:{q(user)} "$tmp" && chmod 0640 "$tmp" && mv -f "$tmp" {q(dest)} || {{ rm -f "$tmp"; exit 1; }}',
            "echo written",
        ]
    else:
        lines.append(f"if {current}; then echo current; else echo stale; fi")
    return "\n".join(lines) + "\n"


def kubeconfig_works_script(user: str, k3s: str = K3S_BIN, dest: str = CHECK_KUBECONFIG) -> str:
    """What the check user itself can tell of its kubeconfig (it may not read the token's
    Secret): ``current`` when it is 0640 root:``user`` and lets it list nodes, else ``stale``."""
    q = shlex.quote
    return (f"if [ \"$(stat -c %a:%U:%G {q(dest)} 2>/dev/null)\" = {q(f'640:root:{user}')} ] && "
            f"{q(k3s)} kubectl --kubeconfig {q(dest)} get nodes -o name >/dev/null 2>&1; "
            "then echo current; else echo stale; fi")
