"""The nightly check's least privilege, the parts that need no host: its authorized_keys
line, the sudoers drop-in, the read helper (rendered with an allowlist of temporary
paths and run here), the RBAC manifest (against the pinned Kubernetes schema), the script
that writes its kubeconfig (against a fake k3s), and the settings' validation."""

import base64
import hashlib
import shlex
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from edgewasm import check_access, settings
from edgewasm.compliance import reads
from edgewasm.compliance.reads import K3S_CONFIG
from edgewasm.compliance.schema import validate_manifest
from edgewasm.config import check_host_data
from edgewasm.k3s import (AUDIT_LOG, AUDIT_LOG_DIR, AUDIT_POLICY, PSA_CONFIG, SERVER_DIR, TOKEN_FILE,
                          inputs_digest_script, pod_security_check_namespace)
from edgewasm.openssh import from_problem, parse_public_key
from pyinfra.facts.files import File

SALT = "0123456789abcdef0123456789abcdef"


def _key(kind: str = "ssh-ed25519", inner: str | None = None) -> str:
    inner = kind if inner is None else inner
    blob = struct.pack(">I", len(inner)) + inner.encode() + struct.pack(">I", 32) + b"k" * 32
    return f"{kind} {base64.b64encode(blob).decode()} ops@laptop"


# ------------------------------------------------------------------ SSH and sudo

def test_authorized_keys_line_is_restricted_and_bound_to_the_management_hosts():
    line = check_access.authorized_keys_line(_key() + "\n", ["10.0.0.5", "10.0.1.0/24", "mgmt-1.site-a"])
    kind, blob = parse_public_key(_key())
    assert line == f'restrict,from="10.0.0.5,10.0.1.0/24,mgmt-1.site-a" {kind} {blob} edgewasm-check\n'
    assert line.count("\n") == 1 and "command=" not in line and "ops@laptop" not in line


@pytest.mark.parametrize("sources", [[], ['10.0.0.5" ,command="sh'], ["10.0.0.5,10.0.0.6"], ["*"], ["!10.0.0.5"],
                                     ["10.0.0.1/24"], ["a b"], ["10.0.0.300"]])
def test_authorized_keys_line_refuses_sources_that_are_not_plain_addresses(sources):
    with pytest.raises(ValueError):
        check_access.authorized_keys_line(_key(), sources)


@pytest.mark.parametrize("entry", ["10.0.0.5", "fd00::5", "10.0.0.0/8", "fd00::/64", "mgmt-1", "mgmt-1.site-a.example"])
def test_from_accepts_addresses_networks_and_names(entry):
    assert from_problem(entry) is None


@pytest.mark.parametrize("text,why", [
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n", "PRIVATE"),
    (_key() + "\n" + _key() + "\n", "2 keys"),
    ('restrict ' + _key(), "not one OpenSSH public key"),
    ("ssh-ed25519 not-base64!", "not base64"),
    (_key("ssh-ed25519", inner="ssh-rsa"), "not ssh-ed25519"),
])
def test_public_key_parsing_refuses_what_is_not_one_public_key(text, why):
    with pytest.raises(ValueError, match=why):
        parse_public_key(text)


def test_sudoers_allows_the_helper_alone():
    text = check_access.sudoers("edgewasm-check")
    rules = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert rules == [f"edgewasm-check ALL=(root) NOPASSWD: {check_access.HELPER}"]
    assert "." not in Path(check_access.SUDOERS).name  # sudo skips such names in sudoers.d
    with pytest.raises(ValueError):
        check_access.sudoers("root ALL=(ALL) ALL\nx")


@pytest.mark.skipif(not shutil.which("visudo"), reason="visudo (sudo) is not installed here")
def test_sudoers_passes_visudo(tmp_path):
    path = tmp_path / "edgewasm-check"
    path.write_text(check_access.sudoers("edgewasm-check"))
    result = subprocess.run(["visudo", "-cf", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# ------------------------------------------------------------------ the read helper

@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "manifests" / "edgewasm-sub").mkdir(parents=True)
    (root / "bin").mkdir()
    files = {
        "etc/config.yaml": "token-file: /etc/rancher/k3s/agent-token\nnode-label: []\n",
        "etc/token": "K10abc::server:s3cret\n",
        "etc/plain-token": "s3cret\n",
        "etc/k3s.env": "HTTP_PROXY=x\nK3S_TOKEN=nope\n",
        "manifests/edgewasm-a.yaml": "kind: A\n",
        "manifests/other.yaml": "kind: B\n",
        "manifests/edgewasm-sub/x.yaml": "kind: C\n",
        "shadow": "root:$6$hash:::\n",
        "bin/k3s": "binary\n",
    }
    for name, text in files.items():
        (root / name).write_text(text)
    (root / "bin" / "shim").symlink_to(root / "bin" / "k3s")
    helper = tmp_path / "check-read"
    helper.write_text(check_access.helper_script(
        read_paths=[f"{root}/etc/config.yaml"], read_patterns=[(f"{root}/manifests", "edgewasm-", ".yaml")],
        secret_paths=[f"{root}/etc/token", f"{root}/etc/plain-token", f"{root}/etc/k3s.env", f"{root}/etc/missing"],
        stat_paths=[f"{root}/etc"], line_digest_dirs=[f"{root}/etc"],
        input_paths=[f"{root}/bin/k3s", f"{root}/bin/shim", f"{root}/bin/gone"], audit_log=f"{root}/logs/audit.log"))
    helper.chmod(0o755)
    return root, helper


def run(helper, *args):
    return subprocess.run(["sh", str(helper), *args], capture_output=True, text=True)


def salted(data: bytes) -> str:
    return hashlib.sha256(SALT.encode() + data).hexdigest()


def test_helper_reads_only_its_non_secret_files(tree):
    root, helper = tree
    assert run(helper, "read", f"{root}/etc/config.yaml").stdout == (root / "etc/config.yaml").read_text()
    assert run(helper, "read", f"{root}/manifests/edgewasm-a.yaml").stdout == "kind: A\n"
    for path in (f"{root}/shadow", "/etc/shadow", f"{root}/etc/token", f"{root}/manifests/other.yaml",
                 f"{root}/manifests/edgewasm-sub/x.yaml", f"{root}/etc/../shadow", f"{root}/manifests/../shadow",
                 f"{root}/manifests/edgewasm-..yaml", f"{root}//etc/config.yaml", "etc/config.yaml",
                 f"{root}/etc/config.yaml\n/etc/shadow", f"{root}/etc/config.yaml;id"):
        result = run(helper, "read", path)
        assert (result.returncode, result.stdout) == (2, ""), path
        assert "not a path this helper reads" in result.stderr
    assert run(helper, "read", f"{root}/etc/config.yaml", f"{root}/etc/config.yaml").returncode == 2


def test_helper_refuses_a_call_with_any_path_outside_before_reading_any(tree):
    root, helper = tree
    result = run(helper, "sha256", f"{root}/etc/config.yaml", f"{root}/shadow")
    assert (result.returncode, result.stdout) == (2, "")


def test_helper_gives_secrets_only_as_salted_digests(tree):
    root, helper = tree
    token = (root / "etc/token").read_bytes()
    out = run(helper, "digest", SALT, f"{root}/etc/token", f"{root}/etc/missing").stdout.split()
    assert out == [salted(token), "absent"]
    assert "s3cret" not in run(helper, "digest", SALT, f"{root}/etc/token").stdout
    # what follows the last ':' of each line, as edgewasm/compliance/reads.secret_digest
    assert run(helper, "secret-digest", SALT, f"{root}/etc/token").stdout.split() == [salted(b"s3cret\n")]
    assert run(helper, "secret-digest", SALT, f"{root}/etc/plain-token").stdout.split() == [salted(b"s3cret\n")]
    assert run(helper, "is-k3s-token", f"{root}/etc/token").stdout == "yes\n"
    assert run(helper, "is-k3s-token", f"{root}/etc/plain-token").stdout == "no\n"
    assert run(helper, "token-lines", f"{root}/etc/k3s.env").stdout == "1\n"
    for args in (("read", f"{root}/etc/token"), ("sha256", f"{root}/etc/token"),
                 ("secret-digest", SALT, f"{root}/etc/config.yaml"), ("is-k3s-token", f"{root}/shadow")):
        assert run(helper, *args).returncode == 2, args


@pytest.mark.parametrize("salt", ["", "short", "0123456789ABCDEF0123", "0123456789abcdef 01", "z" * 20, "a" * 129])
def test_helper_takes_only_a_hex_salt(tree, salt):
    root, helper = tree
    assert run(helper, "digest", salt, f"{root}/etc/token").returncode == 2
    assert run(helper, "line-digests", salt).returncode == 2


def test_helper_stat_is_pyinfras_file_fact(tree):
    """Its output is what pyinfra's File fact prints, so the drift dry run parses it alike."""
    root, helper = tree
    for path in (f"{root}/etc/token", f"{root}/etc", f"{root}/manifests/edgewasm-a.yaml"):
        own = subprocess.run(["sh", "-c", File().command(path=path).get_raw_value()], capture_output=True,
                             text=True).stdout
        assert own and run(helper, "stat", path).stdout == own
    assert File().process(run(helper, "stat", f"{root}/etc/token").stdout.splitlines())["mode"] == 644
    assert run(helper, "stat", f"{root}/etc/missing").stdout == ""
    assert run(helper, "stat", f"{root}/shadow").returncode == 2


def test_helper_sha256_and_inputs_match_what_the_deploy_computes(tree):
    root, helper = tree
    assert run(helper, "sha256", f"{root}/etc/config.yaml").stdout.split()[0] == \
        hashlib.sha256((root / "etc/config.yaml").read_bytes()).hexdigest()
    paths = [f"{root}/bin/k3s", f"{root}/bin/shim", f"{root}/bin/gone", f"{root}/etc/token"]
    expected = subprocess.run(["sh", "-c", inputs_digest_script(paths)], capture_output=True, text=True).stdout
    assert run(helper, "inputs", *paths).stdout == expected
    assert run(helper, "inputs", f"{root}/shadow").returncode == 2


def test_helper_line_digests_name_the_file_holding_a_secret_line(tree):
    root, helper = tree
    lines = run(helper, "line-digests", SALT).stdout.splitlines()
    digest = salted(b"s3cret\n")
    assert f"{digest} {root}/etc/plain-token" in lines
    assert not any("s3cret" in line for line in lines)


def test_helper_audit_tail_answers_as_the_checks_own_command_and_shows_no_event(tree):
    """As root the audit-log check runs reads.AUDIT_LOG_TAIL; the check user gets the same
    lines from the helper: the log's size, its last line's kind and stage, nothing else."""
    root, helper = tree
    log = root / "logs" / "audit.log"
    own = reads.AUDIT_LOG_TAIL.replace(AUDIT_LOG, str(log))
    assert AUDIT_LOG not in own
    as_root = lambda: subprocess.run(["sh", "-c", own], capture_output=True, text=True).stdout  # noqa: E731
    assert run(helper, "audit-tail").stdout == as_root() == "0\n\n"  # no log yet
    log.parent.mkdir()
    log.write_text('{"kind":"Event","level":"Metadata","user":{"username":"system:admin"},'
                   '"objectRef":{"resource":"secrets","name":"s3cret"},"stage":"ResponseComplete"}\n')
    answer = run(helper, "audit-tail").stdout
    assert answer == as_root()
    assert answer.splitlines() == [str(log.stat().st_size), '"kind":"Event" "stage":"ResponseComplete" ']
    assert "admin" not in answer and "s3cret" not in answer
    assert run(helper, "audit-tail", "/etc/shadow").returncode == 2


def test_helper_refuses_what_it_does_not_know(tree):
    _, helper = tree
    assert run(helper).returncode == 2
    assert run(helper, "cat", "/etc/shadow").returncode == 2
    assert run(helper, "sh", "-c", "id").returncode == 2


@pytest.mark.parametrize("path", [*check_access.READ_PATHS, *check_access.SECRET_PATHS, *check_access.STAT_PATHS,
                                  *check_access.INPUT_PATHS, "/etc/rancher/k3s/config.yaml.d/10-x.yaml",
                                  "/var/lib/rancher/k3s/server/manifests/edgewasm-check-rbac.yaml",
                                  "/var/lib/rancher/k3s/server/manifests/traefik.yaml", "/etc/shadow",
                                  "/etc/rancher/k3s/config.yaml.d/../../../shadow", "/etc/rancher/k3s/config.yaml.d/a/b.yaml",
                                  "/var/lib/rancher/k3s/server/manifests/edgewasm-.yaml", "/root/.ssh/id_ed25519"])
def test_python_and_the_helper_agree_on_every_path(tmp_path, path):
    """The drift dry run routes a fact through the helper by check_access.readable and its
    kin: they must answer as the helper does (a refused path would be a failed fact)."""
    helper = tmp_path / "check-read"
    helper.write_text(check_access.helper_script())
    for command, allowed in (("sha256", check_access.readable(path)), ("stat", check_access.statable(path)),
                             ("is-k3s-token", check_access.secret(path)), ("inputs", check_access.inputs_ok(path))):
        refused = run(helper, command, path).returncode == 2
        assert refused != allowed, (command, path)


def test_the_production_helper_parses_and_lists_nothing_under_home_or_shadow():
    script = check_access.helper_script()
    assert subprocess.run(["sh", "-n"], input=script, text=True).returncode == 0
    assert "/etc/shadow" not in script and "/root" not in script and "eval" not in script
    with pytest.raises(ValueError):
        check_access.helper_script(read_paths=["/etc/*"])
    with pytest.raises(ValueError):
        check_access.helper_script(read_paths=["/etc/../shadow"])


# ------------------------------------------------------------------ Kubernetes

DATA = {"policy_allowed_repos": ["registry.site-a.example"]}


def _rules(docs, kind, namespace=None):
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"].get("namespace") == namespace]
    return doc["rules"]


def test_rbac_manifest_is_valid_and_reads_only_what_the_checks_read():
    docs = validate_manifest(check_access.rbac_manifest(DATA))
    kinds = [(d["kind"], d["metadata"]["name"], d["metadata"].get("namespace")) for d in docs]
    assert ("Secret", check_access.TOKEN_SECRET, check_access.NAMESPACE) in kinds
    (secret,) = [d for d in docs if d["kind"] == "Secret"]
    assert secret["type"] == "kubernetes.io/service-account-token"
    assert secret["metadata"]["annotations"] == {"kubernetes.io/service-account.name": check_access.SERVICE_ACCOUNT}
    cluster = _rules(docs, "ClusterRole")
    assert all(set(r["verbs"]) <= {"get", "list", "watch"} for r in cluster)
    assert {(g, res) for r in cluster for g in r["apiGroups"] for res in r["resources"]} == {
        ("", "nodes"), ("node.k8s.io", "runtimeclasses"),
        ("constraints.gatekeeper.sh", "k8sallowedrepos"), ("constraints.gatekeeper.sh", "k8sdisallowedtags")}
    # pods are created and deleted only in default (hello-wasm and, no policy_namespaces, the smoke test)
    assert {d["metadata"]["namespace"] for d in docs if d["kind"] == "Role"} == {"default", "gatekeeper-system"}
    assert {v for r in _rules(docs, "Role", "gatekeeper-system") for v in r["verbs"]} == {"get", "list", "watch"}
    assert any("create" in r["verbs"] for r in _rules(docs, "Role", "default"))
    assert not any(r["resources"] == ["secrets"] for d in docs if "rules" in d for r in d["rules"])


def test_rbac_follows_the_smoke_tests_namespace_and_gatekeeper():
    docs = validate_manifest(check_access.rbac_manifest({**DATA, "policy_namespaces": ["apps", "web"]}))
    assert {d["metadata"]["namespace"] for d in docs if d["kind"] == "RoleBinding"} == \
        {"apps", "default", "gatekeeper-system"}
    off = validate_manifest(check_access.rbac_manifest({"gatekeeper_enabled": False}))
    assert {d["metadata"]["namespace"] for d in off if d["kind"] == "Role"} == {"default"}
    assert all(g != "constraints.gatekeeper.sh" for r in _rules(off, "ClusterRole") for g in r["apiGroups"])


FAKE_K3S = """#!/bin/sh
# kubectl -n NS get secret NAME -o jsonpath=...
case "$8" in
*ca*) [ -n "${FAKE_CA:-}" ] && printf %s "$FAKE_CA" ;;
*token*) [ -n "${FAKE_TOKEN:-}" ] && printf %s "$FAKE_TOKEN" | base64 ;;
esac
"""


def test_kubeconfig_script_writes_once_and_keeps_the_token_off_its_output(tmp_path):
    k3s = tmp_path / "k3s"
    k3s.write_text(FAKE_K3S)
    k3s.chmod(0o755)
    dest = tmp_path / "check.kubeconfig"
    user = subprocess.run(["id", "-gn"], capture_output=True, text=True).stdout.strip()
    env = {"PATH": "/usr/bin:/bin", "FAKE_CA": "Q0E=", "FAKE_TOKEN": "tok-" + "s" * 40}

    def script(write):
        # the test runs unprivileged: chown to its own group stands in for root:<user>
        text = check_access.kubeconfig_script(user, write, k3s=str(k3s), dest=str(dest))
        text = text.replace(f"root:{user}", f"$(id -un):{user}")
        return subprocess.run(["sh", "-c", text], capture_output=True, text=True, env=env)

    assert script(False).stdout == "stale\n"
    written = script(True)
    assert written.stdout == "written\n" and "tok-" not in written.stdout + written.stderr
    assert f"token: tok-{'s' * 40}" in dest.read_text() and "certificate-authority-data: Q0E=" in dest.read_text()
    assert oct(dest.stat().st_mode & 0o777) == "0o640"
    assert script(False).stdout == "current\n" and script(True).stdout == "current\n"
    env["FAKE_TOKEN"] = "tok-rotated"
    assert script(False).stdout == "stale\n"
    env["FAKE_TOKEN"] = ""
    assert script(False).stdout == "pending\n"
    assert not list(tmp_path.glob("check.kubeconfig.*"))


def test_kubeconfig_script_never_names_the_token_on_a_command_line():
    text = check_access.kubeconfig_script("edgewasm-check", True)
    # read into a variable from a pipe; used only by the emptiness test and as an argument
    # of printf, a shell builtin (no process of its own, so in no process list)
    assert text.count("$token") == 2 and '[ -n "$token" ]' in text and '"$ca" "$token"; }' in text
    assert "render() { printf " in text


# ------------------------------------------------------------------ settings

def test_settings_validate_the_key_and_sources(tmp_path):
    pub = tmp_path / "nightly.pub"
    pub.write_text(_key() + "\n")
    private = tmp_path / "nightly"
    private.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n")
    assert settings.problem("h", "check_access_key", str(pub)) is None
    assert "PRIVATE" in settings.problem("h", "check_access_key", str(private))
    assert "not a file" in settings.problem("h", "check_access_key", str(tmp_path / "none.pub"))
    assert settings.problem("h", "check_access_from", ["10.0.0.5", "10.0.1.0/24"]) is None
    assert settings.problem("h", "check_access_from", ['10.0.0.5",command="id']) is not None
    assert settings.problem("h", "check_access_user", "root") is not None
    assert settings.problem("h", "check_access_user", "edgewasm-check") is None
    # the key without where it is accepted from is refused
    assert any("check_access_from is empty" in p for p in check_host_data("h", {"check_access_key": str(pub)}))


def test_only_a_read_may_connect_as_the_check_user():
    data = {"ssh_user": "edgewasm-check"}
    assert any("ssh_user" in p for p in check_host_data("h", data))
    assert check_host_data("h", data, read_only=True) == []
    assert any("ssh_user" in p for p in check_host_data("h", {"ssh_user": "ops"}, read_only=True))


# ------------------------------------------------------------------ the checks' access

class FakeHost:
    """A Testinfra host whose commands run here: through the helper rendered on the
    temporary tree when they are the helper's."""

    def __init__(self, helper):
        self.helper, self.sent = helper, []

    def run(self, command):
        self.sent.append(command)
        command = command.replace(shlex.join(check_access.SUDO), shlex.quote(f"sh {self.helper}").strip("'"), 1)
        done = subprocess.run(["sh", "-c", command], capture_output=True, text=True)
        return type("Result", (), {"rc": done.returncode, "stdout": done.stdout, "stderr": done.stderr})()

    def check_output(self, command):
        return self.run(command).stdout.rstrip("\n")


def test_access_as_root_is_todays():
    access = reads.access_for({})
    assert not access.helper and access.kubectl == "/usr/local/bin/k3s kubectl"
    assert access.salted_digest(TOKEN_FILE) == reads.salted_digest(TOKEN_FILE)
    assert access.file_reads(K3S_CONFIG, "mode", "content") == reads.file_reads(K3S_CONFIG, "mode", "content")
    assert reads.access_for({"ssh_user": "root"}).helper is False


def test_access_as_the_check_user_reads_root_only_files_through_the_helper():
    access = reads.access_for({"ssh_user": "edgewasm-check"})
    assert access.helper and access.kubectl.endswith(f"kubectl --kubeconfig {check_access.CHECK_KUBECONFIG}")
    assert access.salted_digest(TOKEN_FILE) == check_access.helper_command("digest", reads.SALT, TOKEN_FILE)
    assert access.file_reads(K3S_CONFIG, "mode", "user", "content") == [
        (check_access.helper_command("stat", K3S_CONFIG),), (check_access.helper_command("read", K3S_CONFIG),)]
    # a secret's content is never asked, even when a check would ask it
    assert access.file_reads(TOKEN_FILE, "mode", "content") == [(check_access.helper_command("stat", TOKEN_FILE),)]
    # what anyone may read is read as before
    assert access.file_reads("/etc/fstab", "content") == reads.file_reads("/etc/fstab", "content")


def test_the_check_users_reads_send_no_secret_and_only_what_the_helper_answers():
    data = settings.merged({"ssh_user": "edgewasm-check"})
    sent = [r[0] for r in reads.host_reads(data, "server", True, reads.access_for(data))
            + reads.host_reads(data, "agent", False, reads.access_for(data))]
    for command in sent:
        for path in check_access.SECRET_PATHS:
            if path in command and not command.startswith("sudo "):
                pytest.fail(f"reads {path} without the helper: {command}")
        if command.startswith("sudo "):
            words = shlex.split(command)
            assert words[:3] == list(check_access.SUDO)
            assert words[3] in ("stat", "read", "sha256", "digest", "secret-digest", "is-k3s-token", "token-lines",
                                "line-digests", "audit-tail"), command
            paths = [w for w in words[4:] if w.startswith("/")]
            allowed = {"read": check_access.readable, "sha256": check_access.readable}.get(words[3],
                                                                                            check_access.statable)
            assert all(map(allowed, paths)), command


def test_the_check_user_reads_the_k3s_hardening_through_the_helper():
    """The hardening checks (test_hardening.py) read root-only files and the audit log: as
    the check user every such read goes through the helper, which answers each."""
    access = reads.access_for({"ssh_user": "edgewasm-check"})
    data = settings.merged({"ssh_user": "edgewasm-check"})
    sent = [" ".join(r) for r in reads.host_reads(data, "server", True, access)]
    for path in (PSA_CONFIG, AUDIT_POLICY, AUDIT_LOG_DIR, AUDIT_LOG):
        asked = [c for c in sent if path in shlex.split(c)]
        assert asked and all(c.startswith("sudo ") for c in asked), (path, asked)
    assert access.audit_log_tail == check_access.helper_command("audit-tail") in sent
    assert reads.access_for({}).audit_log_tail == reads.AUDIT_LOG_TAIL
    assert check_access.readable(PSA_CONFIG) and check_access.readable(AUDIT_POLICY)
    assert check_access.statable(AUDIT_LOG) and not check_access.readable(AUDIT_LOG)  # never its events


def test_the_drift_dry_run_reads_the_k3s_hardening_through_the_helper():
    """deploys/k3s.py's hardening facts (a server's Pod Security configuration, audit policy,
    server and audit log directories, K3s's start inputs with them) are routed through the
    helper when the dry run connects as the check user (facts/check_access.through_helper)."""
    from pyinfra.facts.files import Directory, Sha256File

    from facts.check_access import through_helper
    from facts.k3s import InputsDigest

    for path in (PSA_CONFIG, AUDIT_POLICY):
        assert through_helper(File, {"path": path}) and through_helper(Sha256File, {"path": path}), path
    for path in (SERVER_DIR, AUDIT_LOG_DIR):
        assert through_helper(Directory, {"path": path}), path
    assert through_helper(InputsDigest, {"paths": [f"{check_access.CONFIG_DIR}/config.yaml", PSA_CONFIG,
                                                   AUDIT_POLICY, *check_access.INPUT_PATHS]})


def test_the_check_user_may_dry_run_the_pod_security_checks_pod():
    """Its RBAC lets it create pods where test_hardening.py dry-runs the privileged pod."""
    for extra in ({}, {"gatekeeper_enabled": False, "policy_namespaces": ["apps"]},
                  {"policy_namespaces": ["kube-system", "web"]}):
        data = {**DATA, **extra}
        assert pod_security_check_namespace(data) in check_access.pod_namespaces(data), extra
    assert check_access.pod_namespaces({"gatekeeper_enabled": False, "policy_namespaces": ["apps"],
                                        "k3s_pod_security": "privileged"}) == ["default"]
    assert pod_security_check_namespace({"policy_namespaces": ["apps"],
                                         "k3s_pod_security_exempt_namespaces": ["apps", "default"]}) is None


def test_helper_file_answers_as_testinfra_would(tree):
    root, helper = tree
    host = FakeHost(helper)
    f = reads.HelperFile(host, f"{root}/etc/config.yaml")
    assert f.exists and f.mode == 0o644 and f.content_string == (root / "etc/config.yaml").read_text()
    assert f.user == subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    assert f.sha256sum == hashlib.sha256((root / "etc/config.yaml").read_bytes()).hexdigest()
    (root / "etc/token").chmod(0o600)
    assert reads.HelperFile(host, f"{root}/etc/token").mode == 0o600
    assert not reads.HelperFile(host, f"{root}/etc/missing").exists
    with pytest.raises(AssertionError):
        reads.HelperFile(host, f"{root}/etc/token").content_string  # noqa: B018 - a secret is never read


@pytest.mark.parametrize("text,mode", [("-rw-------", 0o600), ("-rw-r-----", 0o640), ("drwxr-xr-x", 0o755),
                                       ("-rwsr-xr-x", 0o755), ("-r--r-----", 0o440), ("drwxrwxrwt", 0o777)])
def test_symbolic_modes(text, mode):
    assert reads.symbolic_mode(text) == mode


def test_the_digests_compare_across_root_and_the_check_user(tree):
    """A check compares a host's digest with the first server's, each read its own way."""
    root, helper = tree
    token = f"{root}/etc/token"
    as_root = reads.Access.digest(FakeHost(helper).check_output(reads.salted_digest(token)))
    through = reads.Access.digest(FakeHost(helper).check_output(
        check_access.helper_command("digest", reads.SALT, token)))
    assert as_root == through != reads.MISSING
    assert reads.Access.digest(FakeHost(helper).check_output(
        check_access.helper_command("digest", reads.SALT, f"{root}/etc/missing"))) == reads.MISSING
    assert reads.Access.digest(FakeHost(helper).check_output(reads.secret_digest(token))) == \
        reads.Access.digest(FakeHost(helper).check_output(check_access.helper_command("secret-digest", reads.SALT,
                                                                                      token)))


# ------------------------------------------------------------------ the report says what the check changed

def test_every_report_says_what_the_check_changed():
    from datetime import datetime, timezone

    from edgewasm.compliance import formats, report

    made = report.footprint(["default", "apps"], "edgewasm-check")
    data = report.build("inventories/site.py", "site", "r", datetime.now(timezone.utc), 1.0, [], None, made=made)
    line = "Changes made by this check: pods created and deleted in namespace(s) apps, default"
    assert data["changes_made"]["text"].startswith(line)
    assert "Read as edgewasm-check" in data["changes_made"]["text"]
    assert line in formats.to_markdown(data) and line in formats.to_html(data)
    assert report.build("i", "i", "r", datetime.now(timezone.utc), 1.0, [], None)["changes_made"]["pod_namespaces"] == []
