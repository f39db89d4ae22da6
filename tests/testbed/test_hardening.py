"""K3s hardening on the test bed's real K3s (docs/k3s.md, "Hardening"), with the inventory's
defaults: Pod Security refuses a privileged pod that mounts the node's containerd socket (the
way around the image policies: such a pod could retag any image under a trusted name), a
Secret reaches the datastore encrypted, and the API server's audit log records the policy
smoke test's refused pod, by name and with the refusal, never a body.

Runs on the shared default bed after test_compliance (conftest.SHARED_BED): its lone amd64
server runs real K3s on kine/SQLite (no cluster-init), whose database this reads directly.
"""

import base64
import json
import secrets
import shlex
import sqlite3
import time

import pytest

from edgewasm import settings
from edgewasm import testbed as tb
from edgewasm.compliance.admission import (POD_SECURITY_DENIAL, pod_manifest, privileged_pod_manifest,
                                           running_webhook_pods, smoke_problems, smoke_verdicts, trusted_image,
                                           wait_enforced)
from edgewasm.k3s import AUDIT_LOG, AUDIT_LOG_DIR, K3S_BIN, SERVER_DIR
from edgewasm.policy import REPOS_CONSTRAINT
from tests.testbed.helpers import REPORTS, deploy

pytestmark = pytest.mark.testbed

# kine's SQLite database on a server without cluster-init (K3s: <data-dir>/server/db/state.db),
# its newest pages in the write-ahead log beside it.
STATE_DB = f"{SERVER_DIR}/db/state.db"
# What the API server stores encrypted values under (k8s.io/apiserver, encryptionconfig):
# K3s's default provider, and the one secrets-encryption-provider may choose instead.
ENCRYPTED_PREFIXES = (b"k8s:enc:aescbc:v1:", b"k8s:enc:secretbox:v1:")
ENFORCED_TIMEOUT = 300
# What the bed showed, for the people reading CI's output (a record, not an assertion).
EVIDENCE = REPORTS / "hardening-evidence.txt"


def _record(title: str, text: str) -> None:
    EVIDENCE.parent.mkdir(parents=True, exist_ok=True)
    with EVIDENCE.open("a") as out:
        out.write(f"== {title}\n{text.rstrip()}\n\n")


@pytest.fixture(scope="module")
def converged(testbed):
    EVIDENCE.unlink(missing_ok=True)
    code, _, log = deploy()
    assert code == 0, log[-5000:]
    return testbed


@pytest.fixture(scope="module")
def server(converged):
    (first,) = [h for h in converged if h.role == "server"]
    assert first.kubernetes, "the default bed's server runs real K3s"
    return first


@pytest.fixture(scope="module")
def data(server):
    """The server's inventory data over the defaults: what the deploy hardened it with."""
    (entry,) = [d for name, d in tb.inventory_groups()["k3s_servers"] if name == server.name]
    return settings.merged(entry)


@pytest.fixture(scope="module")
def kubectl(server):
    """``kubectl ARGS`` (with STDIN) through K3s's kubectl on the server: (status, stdout, stderr)."""
    def run(args, stdin=None):
        command = f"{K3S_BIN} kubectl {shlex.join(args)}"
        if stdin is not None:
            command += f" <<'EOF'\n{stdin}\nEOF"
        done = tb.ssh(server.address, command, check=False)
        return done.returncode, done.stdout, done.stderr
    return run


def test_the_defaults_are_what_is_tested(data):
    """The bed deploys edgewasm's defaults: the hardening under test is what a fleet gets."""
    assert settings.value(data, "k3s_secrets_encryption") is True
    assert settings.value(data, "k3s_pod_security") == "baseline"
    assert settings.value(data, "k3s_pod_security_audit") == "restricted"
    assert settings.value(data, "k3s_audit_log") is True


def test_pod_security_refuses_a_privileged_pod_that_mounts_the_containerd_socket(kubectl, data):
    # An image the image policies trust: Gatekeeper would admit it, Pod Security must not.
    image = trusted_image(settings.value(data, "policy_allowed_repos")[0])
    code, out, err = kubectl(["apply", "--dry-run=server", "-f", "-"],
                             privileged_pod_manifest("edgewasm-hardening-privileged", "default", image))
    assert code != 0 and POD_SECURITY_DENIAL in err, (code, out, err)
    assert '"baseline:latest"' in err and "privileged" in err and "hostPath" in err, err
    _record("a privileged pod mounting the containerd socket, trusted image, namespace default", err)
    # The exemption is as configured: K3s's own namespace admits it (a dry run: nothing is made).
    code, out, err = kubectl(["apply", "--dry-run=server", "-f", "-"],
                             privileged_pod_manifest("edgewasm-hardening-privileged", "kube-system", image))
    assert code == 0 and "(server dry run)" in out, (code, out, err)
    # A plain pod is admitted, with restricted's warning (k3s_pod_security_audit).
    code, out, err = kubectl(["apply", "--dry-run=server", "-f", "-"],
                             pod_manifest("edgewasm-hardening-plain", "default", image))
    assert code == 0 and "(server dry run)" in out, (code, out, err)
    assert 'would violate PodSecurity "restricted:latest"' in err, err


def _stored(server, key: str) -> bytes | None:
    """The newest live value kine holds for ``key``, read from the server's SQLite database
    on this machine: through the overlay the machine runs on (the same file, locks and
    write-ahead log K3s uses), else from its upper directory."""
    for layer in ("merged", "upper"):
        db = tb.hosts_dir() / server.name / layer / STATE_DB.lstrip("/")
        if db.is_file():
            break
    else:
        pytest.fail(f"{STATE_DB} is not on {server.name}: the default bed's lone server runs kine on SQLite")
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        row = connection.execute("SELECT value FROM kine WHERE name = ? AND deleted = 0 ORDER BY id DESC LIMIT 1",
                                 (key,)).fetchone()
    finally:
        connection.close()
    return None if row is None else bytes(row[0])


def test_a_secret_is_stored_encrypted_and_never_in_the_audit_log(server, kubectl):
    name = f"edgewasm-hardening-{secrets.token_hex(4)}"
    plaintext = f"edgewasm-plaintext-{secrets.token_hex(16)}"
    forms = [plaintext.encode(), base64.b64encode(plaintext.encode())]
    since = _audit_log_size(server)
    code, out, err = kubectl(["create", "secret", "generic", name, "-n", "default",
                              f"--from-literal=value={plaintext}"])
    assert code == 0, err
    try:
        # The API server reads it back, decrypted.
        code, out, err = kubectl(["get", "secret", name, "-n", "default", "-o", "jsonpath={.data.value}"])
        assert code == 0 and base64.b64decode(out) == plaintext.encode(), err
        value = _stored(server, f"/registry/secrets/default/{name}")
        assert value is not None, f"kine holds no /registry/secrets/default/{name}"
        assert value.startswith(ENCRYPTED_PREFIXES), f"stored unencrypted: {value[:40]!r}"
        assert not any(form in value for form in forms)
        _record(f"kine's {STATE_DB}, /registry/secrets/default/{name}", f"first bytes: {value[:40]!r}")
        # Nowhere in the datastore's files (a page of an earlier, unencrypted write would
        # be), nor in the audit log, which names the Secret only.
        for path in (f"{STATE_DB}*", AUDIT_LOG):
            for form in forms:
                found = tb.ssh(server.address, f"cat {path} | grep -c -a -F -e {shlex.quote(form.decode())}",
                               check=False).stdout.strip()
                assert found == "0", f"{path} holds the Secret's value ({found} times)"
        events = [e for e in _audit_events(server, since) if (e.get("objectRef") or {}).get("name") == name
                  and e.get("verb") == "create"]
        assert events and all(e["level"] == "Metadata" and "requestObject" not in e and "responseObject" not in e
                              for e in events), events
    finally:
        kubectl(["delete", "secret", name, "-n", "default", "--ignore-not-found"])


def _audit_log_size(server) -> int:
    return int(tb.ssh(server.address, f"stat -c %s {AUDIT_LOG}").stdout.strip())


def _audit_events(server, since: int) -> list[dict]:
    """The audit log's events written after byte ``since`` (all of it when it was rotated
    since: then it is smaller)."""
    start = since + 1 if _audit_log_size(server) >= since else 1
    lines = tb.ssh(server.address, f"tail -c +{start} {AUDIT_LOG}").stdout.splitlines()
    events = []
    for line in lines:
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut where the read began
            continue
    return events


def test_the_audit_log_records_the_policy_smoke_tests_refused_pod(server, kubectl, data):
    modes = tb.ssh(server.address, f"stat -c '%a %U' {AUDIT_LOG_DIR} {AUDIT_LOG}").stdout.split("\n")
    assert modes[:2] == ["700 root", "600 root"], modes
    namespace = (settings.value(data, "policy_namespaces") or ["default"])[0]
    problems = wait_enforced(kubectl, REPOS_CONSTRAINT,
                             lambda: running_webhook_pods(kubectl, settings.value(data, "gatekeeper_namespace")),
                             ENFORCED_TIMEOUT)
    assert problems == [], f"constraint not enforced after {ENFORCED_TIMEOUT}s: {problems}"
    since = _audit_log_size(server)
    # The compliance check's own smoke test (test_policies.py): an untrusted pod refused by
    # Gatekeeper, a trusted one admitted; server-side dry runs, nothing is made.
    repo = settings.value(data, "policy_allowed_repos")[0]
    assert smoke_problems(smoke_verdicts(kubectl, namespace, repo, REPOS_CONSTRAINT)) == []
    deadline = time.monotonic() + 15
    while True:
        events = {}
        for event in _audit_events(server, since):
            ref = event.get("objectRef") or {}
            if event.get("verb") == "create" and ref.get("resource") == "pods" and ref.get("namespace") == namespace:
                events.setdefault(ref.get("name"), []).append(event)
        if {"edgewasm-smoke-untrusted", "edgewasm-smoke-trusted"} <= set(events) or time.monotonic() > deadline:
            break
        time.sleep(1)
    refused = (events.get("edgewasm-smoke-untrusted") or [None])[-1]
    assert refused is not None, f"no audit event for the refused pod; pods seen: {sorted(events)}"
    status = refused.get("responseStatus") or {}
    assert status.get("code") == 403, status
    assert 'admission webhook "validation.gatekeeper.sh" denied the request' in status.get("message", ""), status
    assert f"[{REPOS_CONSTRAINT}]" in status["message"], status
    assert "dryRun=All" in refused["requestURI"] and refused["level"] == "Metadata", refused
    assert "requestObject" not in refused and "responseObject" not in refused, "a body reached the audit log"
    _record(f"{AUDIT_LOG}: the smoke test's refused pod", json.dumps(refused, indent=1))
    admitted = events["edgewasm-smoke-trusted"][-1]
    assert (admitted.get("responseStatus") or {}).get("code") == 201, admitted
    # Admitted, and recorded as what restricted would refuse (k3s_pod_security_audit).
    violations = (admitted.get("annotations") or {}).get("pod-security.kubernetes.io/audit-violations", "")
    assert violations.startswith('would violate PodSecurity "restricted:latest"'), admitted.get("annotations")
