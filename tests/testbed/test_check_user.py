"""The nightly check holds least privilege, on the test bed (docs/compliance.md, "Least
privilege"): deployed with check_access_key, the check key reaches every host as the check
user, who cannot change it (a write, sudo for anything but the read helper, the helper on
a file outside its list, a node deletion: all refused), while edgewasm-check with that key
finds the converged fleet compliant and says what it changed.

Runs on the shared default bed after test_hardening (conftest.SHARED_BED), redeploying it
with a check key. What each refusal said is recorded in reports/check-access-evidence.txt (a record for the
people reading CI's output, not an assertion)."""

import subprocess

import pytest

from edgewasm import settings
from edgewasm import testbed as tb
from edgewasm.check_access import CHECK_KUBECONFIG, HELPER, SUDOERS
from edgewasm.k3s import AGENT_TOKEN_FILE, K3S_BIN
from tests.testbed.helpers import REPORTS, compliance, deploy, write_inventory

pytestmark = pytest.mark.testbed

# Not edgewasm-check: the amd64 agent is also the bed's management host
# (test_compliance.py), whose nightly-check user has that name and no login shell.
USER = "edgewasm-reader"
EVIDENCE = REPORTS / "check-access-evidence.txt"
OPERATOR = "10.231.0.1"  # the operator's machine on the site network (edgewasm.testbed.FIRST_ADDRESS)


@pytest.fixture(scope="module")
def nightly_key(tmp_path_factory):
    """The nightly check's own key pair (never root's)."""
    key = tmp_path_factory.mktemp("nightly") / "id_nightly"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "edgewasm-nightly", "-f", str(key)], check=True)
    return key


def _access(nightly_key) -> dict:
    # sudo comes with the default preflight_packages (the test bed's bundle carries it).
    assert "sudo" in settings.SETTINGS["preflight_packages"].default
    return {"check_access_key": f"{nightly_key}.pub", "check_access_from": [OPERATOR], "check_access_user": USER}


@pytest.fixture(scope="module")
def with_access(testbed, nightly_key, tmp_path_factory):
    inventory = write_inventory(tmp_path_factory.mktemp("inv") / "access.py", common=_access(nightly_key))
    code, results, log = deploy(str(inventory))
    assert code == 0, log[-5000:]
    code, results, log = deploy(str(inventory))
    assert code == 0 and results["totals"]["success"] == 0, "a second deploy changed something"
    return testbed, inventory


def as_check_user(nightly_key, address: str, command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ssh", "-i", str(nightly_key), "-o", f"UserKnownHostsFile={tb.known_hosts()}", "-o", "StrictHostKeyChecking=yes",
         "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", f"{USER}@{address}", command],
        capture_output=True, text=True)


def _record(host: str, command: str, done: subprocess.CompletedProcess) -> None:
    EVIDENCE.parent.mkdir(parents=True, exist_ok=True)
    with EVIDENCE.open("a") as out:
        out.write(f"{USER}@{host}$ {command}\n  exit {done.returncode}; stdout {done.stdout.strip()[:200]!r}; "
                  f"stderr {done.stderr.strip()[:300]!r}\n")


def test_the_check_user_cannot_change_a_host(with_access, nightly_key):
    testbed, _ = with_access
    EVIDENCE.unlink(missing_ok=True)
    for h in testbed:
        def run(command, name=h.name, address=h.address):
            done = as_check_user(nightly_key, address, command)
            _record(name, command, done)
            return done
        assert run("id -un").stdout.strip() == USER, h.name
        touched = run("touch /etc/edgewasm-probe")
        assert touched.returncode != 0 and "Permission denied" in touched.stderr, h.name
        assert run("sudo -n true").returncode != 0, h.name  # not in the allowlist
        shadow = run(f"sudo -n {HELPER} read /etc/shadow")
        assert shadow.returncode == 2 and shadow.stdout == "", h.name
        assert run(f"sudo -n {HELPER} read {AGENT_TOKEN_FILE}").returncode == 2, h.name
        assert run(f"cat {AGENT_TOKEN_FILE}").returncode != 0, h.name
        assert run(f"sudo -n {HELPER} read {SUDOERS}").returncode == 0, h.name
        # restrict: no pty, no port forwarding
        assert "PTY allocation request failed" in subprocess.run(
            ["ssh", "-tt", "-i", str(nightly_key), "-o", f"UserKnownHostsFile={tb.known_hosts()}", "-o",
             "BatchMode=yes", f"{USER}@{h.address}", "true"], capture_output=True, text=True).stderr, h.name


def test_the_check_users_cluster_rights(with_access, nightly_key):
    testbed, _ = with_access
    server = next(h for h in testbed if h.role == "server")
    agent = next(h for h in testbed if h.role == "agent")
    kubectl = f"{K3S_BIN} kubectl --kubeconfig {CHECK_KUBECONFIG}"
    assert as_check_user(nightly_key, server.address, f"{kubectl} get nodes -o name").returncode == 0
    deleted = as_check_user(nightly_key, server.address, f"{kubectl} delete node {agent.name} --dry-run=server")
    _record(server.name, f"kubectl delete node {agent.name} --dry-run=server", deleted)
    assert deleted.returncode != 0 and "forbidden" in deleted.stderr.lower()
    secrets = as_check_user(nightly_key, server.address, f"{kubectl} -n kube-system get secrets")
    _record(server.name, "kubectl -n kube-system get secrets", secrets)
    assert secrets.returncode != 0 and "forbidden" in secrets.stderr.lower()
    assert tb.ssh(server.address, f"stat -c '%a %U %G' {CHECK_KUBECONFIG}").stdout.strip() == f"640 root {USER}"


def test_edgewasm_check_with_the_check_key_finds_the_fleet_compliant(with_access, nightly_key, tmp_path):
    testbed, _ = with_access
    fleet = write_inventory(tmp_path / "nightly.py", common={
        **_access(nightly_key), "ssh_user": USER, "ssh_key": str(nightly_key)})
    run = compliance(REPORTS / "check-access", fleet)
    assert run.code == 0, run.output[-4000:]
    report = run.report
    assert report["compliant"] and report["totals"]["drift"] == 0
    assert report["changes_made"]["check_user"] == USER
    assert report["changes_made"]["text"].startswith("Changes made by this check: pods created and deleted in "
                                                     "namespace(s) default")
    # no token left any host: the run read digests only
    assert not [line for line in run.output.splitlines() if "K10" in line]
