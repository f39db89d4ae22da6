"""K3s hardening (docs/k3s.md, "Hardening"): Secrets encrypted at rest, Pod Security
admission, the API server's audit log, and the kernel defaults the kubelet protects.

Each check names the CIS Kubernetes Benchmark control it answers as K3s's CIS self-assessment
guide numbers it: the v2.0 guide (K3s v1.34 to v1.37) for the API server and Pod Security;
protect-kernel-defaults as the v1.24 guide numbers it, the last guide that lists it.

PYTEST_DONT_REWRITE: the K3s config (the k3s_config fixture) may hold secrets a hand edit put
there. An assertion prints only its own message, which names keys and files, never a value
found in the config.
"""

import pytest

from edgewasm.compliance import applies, reads
from edgewasm.compliance.admission import UNTRUSTED_IMAGE, pod_security_verdict, privileged_pod_manifest, trusted_image
from edgewasm.compliance.checks.standin import LIGHT_STANDIN
from edgewasm.k3s import (AUDIT_LOG, AUDIT_LOG_DIR, AUDIT_POLICY, K3S_BIN, PROTECTED_KERNEL_DEFAULTS, PSA_CONFIG,
                          apiserver_args, pod_security_check_namespace, pod_security_values)
from edgewasm.settings import value as setting
from edgewasm.templates import render

# What the test bed's light stand-in cannot show (it runs no API server); the test bed's
# own report allows skips that start so (tests/testbed/test_compliance.py).
STANDIN_SKIP = "test bed: this machine runs the light K3s stand-in (no API server: {}); its K3s config is checked"
PERSISTED_SYSCTLS = "/etc/sysctl.d/90-k3s.conf"  # deploys/preflight.py, SYSCTL_FILE


def _light(host) -> bool:
    return LIGHT_STANDIN in host.run(f"{K3S_BIN} --version").stdout


def _root_file(host, access, path: str, mode: int = 0o600):
    file = access.file(host, path)  # as the check user: through its read helper
    assert file.exists, f"{path} is missing"
    assert file.mode == mode and file.user == "root", f"{path}: mode {file.mode:o} owner {file.user}, not {mode:o} root"
    return file


def _apiserver_args_missing(k3s_config, wanted: list[str]) -> list[str]:
    found = k3s_config.get("kube-apiserver-arg") or []
    found = found if isinstance(found, list) else [found]
    return [arg for arg in wanted if arg not in found]


@applies.only(applies.secrets_encryption)
def test_secrets_are_encrypted_at_rest(host, access, k3s_config):
    """CIS 1.2.27 (Ensure that the --encryption-provider-config argument is set as appropriate) and
    1.2.28 (Ensure that encryption providers are appropriately configured): the K3s config asks for
    secrets-encryption, and k3s secrets-encrypt status on this server says Encryption Status: Enabled.

    Fix: set k3s_secrets_encryption = True and run the deploy (K3s restarts with it); Secrets written
    before stay as they were until rewritten: k3s secrets-encrypt rotate-keys on a server rewrites them all."""
    assert k3s_config.get("secrets-encryption") is True, "the K3s config does not set secrets-encryption: true"
    if _light(host):
        pytest.skip(STANDIN_SKIP.format("no encryption status to ask"))
    if access.helper:
        pytest.skip("the nightly check's user may not ask K3s for the encryption status (k3s secrets-encrypt "
                    "status needs root and the server token); the K3s config's secrets-encryption is checked")
    status = host.run(f"{K3S_BIN} secrets-encrypt status")
    assert status.rc == 0, f"k3s secrets-encrypt status failed: {(status.stderr.strip().splitlines() or [''])[-1]}"
    first = (status.stdout.splitlines() or [""])[0].strip()
    assert first == "Encryption Status: Enabled", f"k3s secrets-encrypt status says {first!r}"


@applies.only(applies.pod_security)
def test_pod_security_admission_is_configured(host, access, host_data, k3s_config):
    """CIS 5.2.1 (Ensure that the cluster has at least one active policy control mechanism in place):
    the Pod Security admission configuration is edgewasm's for the k3s_pod_security* settings (0600,
    root's), and the K3s config passes it to kube-apiserver (admission-control-config-file).

    Fix: run the deploy on the servers; check k3s_pod_security, k3s_pod_security_audit and
    k3s_pod_security_exempt_namespaces (a hand-edited configuration is drift)."""
    psa = _root_file(host, access, PSA_CONFIG)
    assert psa.content_string == render("k3s/psa.yaml.j2", **pod_security_values(host_data)), \
        f"{PSA_CONFIG} is not the configuration of the k3s_pod_security* settings"
    missing = _apiserver_args_missing(k3s_config, [f"admission-control-config-file={PSA_CONFIG}"])
    assert not missing, f"the K3s config's kube-apiserver-arg lacks {missing}"


@applies.only(applies.first_server, applies.pod_security_enforced)
def test_a_privileged_pod_is_refused_by_pod_security(cluster_host, access, host_data):
    """CIS 5.2.2 (Minimize the admission of privileged containers): the API server refuses, for
    Pod Security, a privileged pod that mounts the node's containerd socket (a server-side dry
    run in a namespace that is not exempt; nothing is created).

    Fix: check kube-apiserver's admission-control-config-file (journalctl -u k3s | grep 'Running
    kube-apiserver'), then run the deploy on the servers, which restarts K3s with it."""
    namespace = pod_security_check_namespace(host_data)
    if namespace is None:
        pytest.skip("every namespace this check could use is exempt from Pod Security "
                    "(k3s_pod_security_exempt_namespaces)")
    repos = setting(host_data, "policy_allowed_repos")
    # An image the image policies admit: Pod Security alone is what may refuse it.
    image = trusted_image(repos[0]) if repos else UNTRUSTED_IMAGE
    manifest = privileged_pod_manifest("edgewasm-smoke-privileged", namespace, image)
    result = cluster_host.run(f"{access.kubectl} apply --dry-run=server -f - <<'EOF'\n{manifest}\nEOF")
    verdict, detail = pod_security_verdict(result.rc, result.stdout, result.stderr)
    assert verdict == "denied", f"a privileged pod in {namespace} was not refused by Pod Security ({verdict}): {detail}"
    assert "privileged" in detail, f"refused by Pod Security, but not for being privileged: {detail}"


@applies.only(applies.audit_log)
def test_api_server_audit_log_is_written(host, access, host_data, k3s_config):
    """CIS 1.2.16 (Ensure that the --audit-log-path argument is set), 1.2.17 (--audit-log-maxage),
    1.2.18 (--audit-log-maxbackup) and 1.2.19 (--audit-log-maxsize): the K3s config passes the
    audit policy, log path and rotation of the k3s_audit_log* settings to kube-apiserver, the
    policy is edgewasm's (0600, root's), and the log is written, 0600 in a 0700 directory.

    Fix: run the deploy on the servers; if the log stays empty, read journalctl -u k3s for the
    API server's audit errors (a full disk where /var/lib/rancher lives)."""
    policy = _root_file(host, access, AUDIT_POLICY)
    assert policy.content_string == render("k3s/audit-policy.yaml.j2"), f"{AUDIT_POLICY} is not edgewasm's audit policy"
    wanted = [arg for arg in apiserver_args(host_data) if arg.startswith(("audit-policy-file=", "audit-log-"))]
    missing = _apiserver_args_missing(k3s_config, wanted)
    assert not missing, f"the K3s config's kube-apiserver-arg lacks {missing}"
    _root_file(host, access, AUDIT_LOG_DIR, 0o700)
    if _light(host):
        pytest.skip(STANDIN_SKIP.format("nothing writes an audit log"))
    _root_file(host, access, AUDIT_LOG)
    size, _, last = host.run(access.audit_log_tail).stdout.partition("\n")
    assert size.strip() not in ("", "0"), f"{AUDIT_LOG} is empty"
    assert '"kind":"Event"' in last and '"stage":' in last, f"the last line of {AUDIT_LOG} is not an audit event"


@applies.only(applies.protect_kernel_defaults)
def test_kernel_defaults_are_protected(host, access, k3s_config):
    """CIS 4.2.6 (Ensure that the --protect-kernel-defaults argument is set to true; the v1.24
    guide's number, K3s's hardening guide still asks for it): the K3s config sets
    protect-kernel-defaults, and the kernel values the kubelet then insists on hold now and are
    persisted in /etc/sysctl.d/90-k3s.conf.

    Fix: run the deploy (preflight sets and persists them); a later file in /etc/sysctl.d may
    override 90-k3s.conf, and a kubelet that refuses to start says which value differs
    (journalctl -u k3s or -u k3s-agent)."""
    assert k3s_config.get("protect-kernel-defaults") is True, \
        "the K3s config does not set protect-kernel-defaults: true"
    live = {key: access.file(host, reads.sysctl_path(key)).content_string.strip()
            for key in PROTECTED_KERNEL_DEFAULTS}
    wrong = [f"{key} = {live[key] or '?'} (the kubelet needs {wanted})"
             for key, wanted in PROTECTED_KERNEL_DEFAULTS.items() if live[key] != str(wanted)]
    assert not wrong, f"kernel values the kubelet refuses to start with: {', '.join(wrong)}"
    persisted = access.file(host, PERSISTED_SYSCTLS).content_string.splitlines()
    unpersisted = [key for key, wanted in PROTECTED_KERNEL_DEFAULTS.items() if f"{key} = {wanted}" not in persisted]
    assert not unpersisted, f"{PERSISTED_SYSCTLS} does not persist {', '.join(unpersisted)}"
