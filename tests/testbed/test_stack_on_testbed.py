"""The main job on real hosts over SSH (amd64 server and agent, arm64 Raspberry Pi agent):
converge, check, converge again with no change and no restart, then the edges.

The tests run in file order; the first on a fresh test bed, the first module of the
shared default bed (conftest.SHARED_BED), which it leaves converged.
"""

import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from edgewasm import settings
from edgewasm import testbed as tb
from edgewasm.bundle_trust import sign
from tests.fixtures.mirror import UPGRADE_VERSIONS
from tests.testbed.helpers import (
    REPORTS,
    ROOT,
    changed_hosts,
    compliance,
    copy_to,
    deploy,
    file_digest,
    main_pids,
    pis,
    sha256,
    write_inventory,
)

pytestmark = pytest.mark.testbed

PREFLIGHT_PACKAGES = settings.value({}, "preflight_packages")
TOKEN = secrets.token_hex(24)
AGENT_TOKEN = secrets.token_hex(24)
seen = {}


class ArgvWatch:
    """Scan every process's argv on the machine (containers included) for secrets."""

    def __init__(self, *secrets: str):
        self.secrets = [s.encode() for s in secrets]
        self.hits: list[str] = []
        self.scans = 0
        self._stop = threading.Event()

    def _run(self):
        while not self._stop.is_set():
            # os.listdir, not Path.glob: glob stats each entry and dies when a process
            # exits mid-scan, which would end the watch silently.
            for pid in (p for p in os.listdir("/proc") if p.isdigit()):
                try:
                    argv = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                if any(secret in argv for secret in self.secrets):
                    self.hits.append(argv.replace(b"\0", b" ").decode(errors="replace"))
            self.scans += 1
            self._stop.wait(0.05)

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def test_first_run_converges_keeps_the_token_secret_and_reboots_the_pi_once(testbed):
    # The operator's token file for the test-bed cluster (k3s_token_file's default path).
    # The operator's token files for the test-bed cluster (the settings' default paths).
    for name, token in (("k3s.token", TOKEN), ("k3s.agent-token", AGENT_TOKEN)):
        token_file = ROOT / "secrets" / name
        token_file.parent.mkdir(exist_ok=True)
        token_file.write_text(token + "\n")
        token_file.chmod(0o600)
    with ArgvWatch(TOKEN, AGENT_TOKEN) as watch:
        code, results, log = deploy()
    assert code == 0, log[-5000:]
    assert results["failed_hosts"] == [] and results["totals"]["error"] == 0
    assert results["totals"]["success"] > 0
    assert watch.scans > 10 and watch.hits == [], "the token showed in a process argument list"
    assert TOKEN not in log and AGENT_TOKEN not in log, "a token showed in pyinfra's output"
    for h in testbed:
        assert file_digest(h.address, "/etc/rancher/k3s/agent-token") == sha256(AGENT_TOKEN + "\n")
        assert file_digest(h.address, "/etc/rancher/k3s/cluster-token") == (
            sha256(TOKEN + "\n") if h.role == "server" else "")
    installed = next(op for op in results["operations"] if op["name"].endswith(" from the bundle"))
    assert sorted(installed["success"]) == sorted(h.name for h in testbed), "every host took its packages from the bundle"
    for h in testbed:
        assert tb.ssh(h.address, "dpkg-query -W -f='${Status}\\n' " + " ".join(PREFLIGHT_PACKAGES)).stdout.split("\n")[:-1] == [
            "install ok installed"] * len(PREFLIGHT_PACKAGES)
    assert pis(testbed), "the default test bed has a Raspberry Pi"
    for pi in pis(testbed):
        assert tb.boot_count(pi.name) == 2, "one boot at start, one for the new cmdline"
    for other in (h for h in testbed if h.board is None):
        assert tb.boot_count(other.name) == 1


def test_second_run_changes_nothing_and_restarts_nothing(testbed):
    before = main_pids(testbed)
    code, results, log = deploy()
    assert code == 0, log[-5000:]
    assert results["totals"]["success"] == 0, [
        (op["name"], op["success"]) for op in results["operations"] if op["success"]
    ]
    assert results["totals"]["error"] == 0
    assert main_pids(testbed) == before
    for pi in pis(testbed):
        assert tb.boot_count(pi.name) == 2, "no second reboot"


PROBE = """
import socket, sys
for address, port in {targets}:
    try:
        socket.create_connection((address, port), timeout=5).close()
        print(f"REACHED {{address}}:{{port}}")
    except OSError as exc:
        print(f"unreachable {{address}}:{{port}}: {{exc}}")
"""


def test_the_site_network_has_no_route_out(testbed):
    """From inside every host: the package archive, the registries and the operator's
    machine are unreachable, and names do not resolve; the same probe from the machine
    reaches the archive (so the probe can tell), and agents reach their server."""
    archive = socket.gethostbyname("deb.debian.org")
    with socket.create_server(("0.0.0.0", 0)) as listener:
        port = listener.getsockname()[1]
        targets = [(archive, 80), ("10.231.0.1", port), ("10.231.0.1", 22)]
        control = subprocess.run([sys.executable, "-c", PROBE.format(targets=json.dumps(targets[:1]))],
                                 capture_output=True, text=True)
        assert f"REACHED {archive}:80" in control.stdout, "the probe must be able to succeed"
        for h in testbed:
            out = tb.ssh(h.address, f"python3 -c '{PROBE.format(targets=json.dumps(targets))}'").stdout
            assert "REACHED" not in out, (h.name, out)
            assert [l.split()[0] for l in out.splitlines()] == ["unreachable"] * len(targets), out
            update = tb.ssh(h.address, "timeout 120 apt-get update", check=False)
            said = update.stdout + update.stderr
            assert "Temporary failure resolving 'deb.debian.org'" in said and "Get:" not in said, said
            assert tb.ssh(h.address, "ip route show default").stdout.strip() == "", "no default route"
    server = next(h for h in testbed if h.role == "server")
    for agent in (h for h in testbed if h.role == "agent"):
        out = tb.ssh(agent.address, f"python3 -c '{PROBE.format(targets=json.dumps([(server.address, 22)]))}'").stdout
        assert f"REACHED {server.address}:22" in out, "hosts reach each other across the site"


def _bundle_copy(tmp_path, keep=lambda entry: True, manifest_edit=None):
    """bundles/testbed hard-linked into tmp_path, with only the entries ``keep`` keeps."""
    source = ROOT / "bundles" / "testbed"
    copy = tmp_path / "bundle"
    manifest = json.loads((source / "manifest.json").read_text())
    manifest["artifacts"] = [e for e in manifest["artifacts"] if keep(e)]
    for entry in manifest["artifacts"]:
        (copy / entry["file"]).parent.mkdir(parents=True, exist_ok=True)
        os.link(source / entry["file"], copy / entry["file"])
    (copy / "manifest.json").write_text(json.dumps(manifest))
    sign(copy, tb.bundle_signing_key(ROOT))  # as the operator signs a bundle they built
    return copy


@pytest.mark.parametrize("damage", ["removed", "corrupted"])
def test_a_bundle_with_a_damaged_deb_is_refused_before_any_host_changes(testbed, tmp_path, damage):
    copy = _bundle_copy(tmp_path)
    manifest = json.loads((copy / "manifest.json").read_text())
    deb = next(e for e in manifest["artifacts"] if e["kind"] == "deb" and e["arch"] == "arm64")
    path = copy / deb["file"]
    path.unlink()  # a hard link: never write through it into bundles/testbed
    if damage == "corrupted":
        data = bytearray((ROOT / "bundles" / "testbed" / deb["file"]).read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    before = main_pids(testbed)
    inventory = write_inventory(tmp_path / "damaged.py", common={"edgewasm_bundle": str(copy)})
    code, results, log = deploy(inventory)
    assert code != 0
    assert str(path) in log and ("missing" if damage == "removed" else "tampered or corrupt") in log
    assert "fix: rebuild it" in log
    assert not results or results["totals"]["success"] == 0, "no host was changed"
    assert main_pids(testbed) == before


def test_a_host_lacking_a_package_its_bundle_has_no_release_for_is_refused(testbed, tmp_path):
    """An agent without socat, and a bundle with no Debian packages: that agent is refused
    before any change, naming the package and the fix; the others go on. With the full
    bundle the next run installs socat from it, and the run after changes nothing."""
    by_name = {h.name: h for h in testbed}
    refused, other = by_name["edge-agent-1"], by_name["edge-server-1"]
    tb.ssh(refused.address, "dpkg --purge socat >/dev/null")
    for h in (refused, other):
        tb.ssh(h.address, "rm -f /etc/sysctl.d/90-k3s.conf")
    no_debs = _bundle_copy(tmp_path, keep=lambda e: e["component"] != "os-packages")
    inventory = write_inventory(tmp_path / "no_debs.py", common={"edgewasm_bundle": str(no_debs)})
    code, results, log = deploy(inventory)
    assert code != 0
    assert results["failed_hosts"] == [refused.name]
    release = f"debian-{refused.suite}"
    assert f"{refused.name}: lacks packages socat and bundle {no_debs} carries no packages for {release} amd64" in log
    assert f"fix: add '{release}' to edgewasm_os_releases and rebuild the bundle" in log
    assert refused.name not in changed_hosts(results) and other.name in changed_hosts(results)
    assert tb.ssh(refused.address, "test -e /etc/sysctl.d/90-k3s.conf", check=False).returncode == 1

    code, results, log = deploy()
    assert code == 0, log[-4000:]
    installed = next(op for op in results["operations"] if op["name"].endswith("Install socat from the bundle"))
    assert installed["success"] == [refused.name]
    code, results, log = deploy()
    assert code == 0 and results["totals"]["success"] == 0


PROXY_PASSWORD = "pr0xy-" + secrets.token_hex(8)


def test_no_secret_reaches_any_output_or_command_line(testbed, tmp_path):
    """Every output of a run that moves every secret: pyinfra at -vvv while both tokens and
    a proxy password (k3s_env_file) are uploaded, debug-inventory, the compliance report of
    a passing run and of a run with a check made to fail, and every process's argv on the
    machine (the hosts' included) meanwhile. None holds a token or the password."""
    env_file = tmp_path / "site.env"
    # With the site's own networks kept off the proxy, as K3s's docs tell a proxied site
    # to do (its nodes are real: their kubelets reach the API server directly).
    env_file.write_text(f"HTTPS_PROXY=http://edge:{PROXY_PASSWORD}@proxy.site.invalid:3128\n"
                        "NO_PROXY=127.0.0.0/8,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,.svc,.cluster.local\n")
    env_file.chmod(0o600)
    inventory = write_inventory(tmp_path / "sweep.py", common={"k3s_env_file": str(env_file)})
    secret_values = (TOKEN, AGENT_TOKEN, PROXY_PASSWORD)
    server, agent = (next(h for h in testbed if h.role == r) for r in ("server", "agent"))
    tb.ssh(server.address, "rm /etc/rancher/k3s/cluster-token /etc/rancher/k3s/agent-token")
    tb.ssh(agent.address, "rm /etc/rancher/k3s/agent-token")
    outputs = {}
    with ArgvWatch(*secret_values) as watch:
        code, results, outputs["pyinfra -vvv"] = deploy(inventory, "-vvv")
        assert code == 0, outputs["pyinfra -vvv"][-5000:]
        assert changed_hosts(results) == {h.name for h in testbed}  # the env file changed everywhere
        shown = subprocess.run([sys.executable, "-m", "pyinfra", str(inventory), "debug-inventory"], cwd=ROOT,
                               capture_output=True, text=True)
        outputs["debug-inventory"] = shown.stdout + shown.stderr
        clean = compliance(REPORTS / "check-sweep", inventory)
        assert clean.code == 0, clean.output[-4000:]
        assert REPORTS.stat().st_mode & 0o777 == 0o700
        # A check made to fail: an agent holding another agent token.
        tb.ssh(agent.address, "echo not-the-agent-token > /etc/rancher/k3s/agent-token")
        failed = compliance(REPORTS / "check-sweep", inventory)
        outputs["failed compliance output"] = failed.output
        assert failed.code == 1 and "test_tokens_match_the_cluster" in failed.output
        for run in (clean, failed):
            for path in run.run_dir.rglob("*"):
                if path.is_file():
                    assert path.stat().st_mode & 0o777 == 0o600, path
                    outputs[f"compliance {run.run_dir.name} {path.name}"] = path.read_text()
    assert watch.scans > 10 and watch.hits == [], "a secret showed in a process argument list"
    for name, text in outputs.items():
        assert text, name
        for value in secret_values:
            assert value not in text, f"a secret showed in {name}"
    assert "HTTPS_PROXY" in outputs["debug-inventory"] or "k3s_env_file" in outputs["debug-inventory"]
    assert PROXY_PASSWORD in tb.ssh(agent.address, "cat /etc/systemd/system/k3s-agent.service.env").stdout
    code, results, log = deploy()  # back to the fleet the later tests expect
    assert code == 0, log[-5000:]


def journal_starts(address: str, unit: str, since: str) -> int:
    """How often systemd started ``unit`` since ``since`` (a systemd timestamp)."""
    out = tb.ssh(address, f"journalctl -u {unit} --since '{since}' -o cat --no-pager").stdout
    return sum(1 for line in out.splitlines() if line.startswith("Started "))


@pytest.mark.skip(reason="real K3s refuses a new agent token on an initialized server: the restarted server "
                         "dies with '/var/lib/rancher/k3s/server/cred/passwd newer than datastore and could cause "
                         "a cluster outage' (seen on the bed's real K3s, 2026-12-06); the migration must go "
                         "through K3s's own token handling, not yet done (docs/k3s.md, 'Tokens')")
def test_a_fleet_whose_agents_hold_the_server_token_migrates_in_one_run(testbed):
    """What the previous version left (agents joined with the server token, no agent token
    anywhere, the operator holding only the server token file) re-run once: agents then hold
    only the agent token, the servers' token is unchanged, and K3s restarts at most once
    on each host."""
    agent_token_file = ROOT / "secrets" / "k3s.agent-token"
    for h in testbed:
        if h.role == "server":
            tb.ssh(h.address, "rm /etc/rancher/k3s/agent-token && sed -i '/^agent-token-file:/d' "
                              "/etc/rancher/k3s/config.yaml && systemctl restart k3s")
        else:
            copy_to(h.address, ROOT / "secrets" / "k3s.token", "/etc/rancher/k3s/cluster-token")
            tb.ssh(h.address, "chmod 600 /etc/rancher/k3s/cluster-token && rm /etc/rancher/k3s/agent-token && "
                              "sed -i 's#^token-file: .*#token-file: \"/etc/rancher/k3s/cluster-token\"#' "
                              "/etc/rancher/k3s/config.yaml && systemctl restart k3s-agent")
    agent_token_file.unlink()
    # The journal's --since has whole seconds: start counting in the next second.
    time.sleep(1.1)
    since = tb.ssh(testbed[0].address, "date '+%Y-%m-%d %H:%M:%S'").stdout.strip()
    code, results, log = deploy()
    assert code == 0, log[-5000:]
    new_agent_token = agent_token_file.read_text().strip()
    assert new_agent_token and sha256(new_agent_token) not in (sha256(TOKEN), sha256(AGENT_TOKEN))
    for h in testbed:
        unit = "k3s" if h.role == "server" else "k3s-agent"
        assert journal_starts(h.address, unit, since) <= 1, f"{h.name}: K3s restarted more than once"
        assert file_digest(h.address, "/etc/rancher/k3s/agent-token") == sha256(new_agent_token + "\n")
        assert file_digest(h.address, "/etc/rancher/k3s/cluster-token") == (
            sha256(TOKEN + "\n") if h.role == "server" else "")
        assert tb.ssh(h.address, f"systemctl is-active {unit}").stdout.strip() == "active"
    code, results, log = deploy()
    assert code == 0 and results["totals"]["success"] == 0
    # The later tests expect the test's agent token again.
    agent_token_file.write_text(AGENT_TOKEN + "\n")
    code, results, log = deploy()
    assert code == 0, log[-5000:]


def test_the_installed_package_deploys_from_any_directory(testbed, tmp_path):
    """`pip install` of the wheel into a fresh venv, then the deploy and the checker from a
    directory with no checkout in it: templates, catalogue, defaults and the checks come
    from the package (no tests/ in the wheel), the converged fleet stays unchanged and is
    compliant."""
    wheels, venv, elsewhere = tmp_path / "wheels", tmp_path / "venv", tmp_path / "operator"
    elsewhere.mkdir()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)],
                   check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    wheel = next(wheels.glob("edgewasm-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        shipped = {name.split("/")[0] for name in z.namelist()}
        assert "edgewasm/compliance/checks/test_k3s.py" in z.namelist()
    assert "tests" not in shipped and {"deploys", "edgewasm", "facts", "operations"} <= shipped
    subprocess.run([venv / "bin/pip", "install", "-q", f"edgewasm[check] @ {wheel.as_uri()}"], check=True,
                   capture_output=True)
    # What the checkout's group_data would give: the bundle and token file by absolute
    # path, and the raspberry_pi group's swap setting.
    inventory = write_inventory(
        elsewhere / "site.py", {pi.name: {"preflight_swap": "disable"} for pi in pis(testbed)},
        common={"edgewasm_bundle": str(ROOT / "bundles" / "testbed"),
                "k3s_token_file": str(ROOT / "secrets" / "k3s.token"),
                "edgewasm_bundle_signers": str(ROOT / tb.BUNDLE_SIGNERS)})
    result = subprocess.run([venv / "bin/edgewasm-deploy", inventory.name, "-y", "--json"], cwd=elsewhere,
                            capture_output=True, text=True, timeout=900, env={**os.environ, "PYINFRA_PROGRESS": "off"})
    assert result.returncode == 0, result.stderr[-5000:]
    results = json.loads(result.stdout[result.stdout.find("{"):])["results"]
    assert results["totals"]["success"] == 0, [(op["name"], op["success"]) for op in results["operations"]
                                                if op["success"]]
    where = subprocess.run([venv / "bin/python", "-c", "import deploys, edgewasm.artifacts as a, edgewasm.templates as t; "
                            "print(deploys.__file__, a.CATALOG, t.DIR)"], cwd=elsewhere, capture_output=True,
                           text=True, check=True).stdout.split()
    assert all(path.startswith(str(venv)) for path in where), where
    # The checker from the same install: its checks are package code, no checkout needed.
    check = subprocess.run([venv / "bin/edgewasm-check", inventory.name, "--reports", str(elsewhere / "reports"),
                            "--format", "json"], cwd=elsewhere, capture_output=True, text=True, timeout=900)
    report = json.loads(next((elsewhere / "reports").glob("*/*/report.json")).read_text())
    assert check.returncode == 0 and report["compliant"], (check.stderr[-3000:], [
        (h["name"], c["check"], c["message"][:300]) for h in report["hosts"] for c in h["checks"]
        if c["outcome"] != "passed" and c["outcome"] != "skipped"])


def test_a_bundle_without_the_pis_arch_refuses_the_pi_and_nothing_else_changes(testbed, tmp_path):
    """The refusal after place(): the plan refuses the arm64 host (its bundle has only
    amd64), every later deploy honours it, and the run says why instead of crashing."""
    source = ROOT / "bundles" / "testbed"
    amd64_only = tmp_path / "amd64-only"
    manifest = json.loads((source / "manifest.json").read_text())
    manifest["artifacts"] = [e for e in manifest["artifacts"] if e["arch"] in ("amd64", "all")]
    manifest["arches"] = ["amd64"]
    for entry in manifest["artifacts"]:
        (amd64_only / entry["file"]).parent.mkdir(parents=True, exist_ok=True)
        os.link(source / entry["file"], amd64_only / entry["file"])
    (amd64_only / "manifest.json").write_text(json.dumps(manifest))
    sign(amd64_only, tb.bundle_signing_key(ROOT))
    pi = pis(testbed)[0]
    before = main_pids(testbed)
    inventory = write_inventory(tmp_path / "amd64_bundle.py", common={"edgewasm_bundle": str(amd64_only)})
    code, results, log = deploy(inventory)
    assert code != 0, "a refused host fails the run"
    assert results["failed_hosts"] == [pi.name]
    assert f"{pi.name}: bundle {amd64_only} has no k3s" in log and "for arm64; fix: rebuild it with --arch arm64" in log
    assert "Traceback" not in log and "StopIteration" not in log
    assert results["totals"]["success"] == 0, "nothing changed on any host"
    assert main_pids(testbed) == before


def test_a_changed_setting_restarts_only_the_hosts_it_touches(testbed, tmp_path):
    target = "edge-agent-1"
    before = main_pids(testbed)
    inventory = write_inventory(tmp_path / "relabel.py", {target: {"k3s_node_labels": {"edge.example/zone": "b"}}})
    code, results, log = deploy(inventory)
    assert code == 0, log[-5000:]
    after = main_pids(testbed)
    assert after[target] != before[target]
    assert {n: p for n, p in after.items() if n != target} == {n: p for n, p in before.items() if n != target}
    address = next(h.address for h in testbed if h.name == target)
    assert '"edge.example/zone=b"' in tb.ssh(address, "cat /etc/rancher/k3s/config.yaml").stdout
    # And back, again touching only that host.
    code, results, log = deploy()
    assert code == 0, log[-5000:]
    changed = {name for op in results["operations"] for name in op["success"]}
    assert changed == {target}


def test_a_changed_shim_restarts_k3s_only_on_that_host(testbed):
    """K3s finds shims only at start: a shim link that had to be put back restarts that
    host's K3s (its config did not change), and nothing else."""
    target = next(h for h in testbed if h.arch == "arm64")
    before = main_pids(testbed)
    tb.ssh(target.address, "rm /usr/local/bin/containerd-shim-wasmtime-v1")
    code, results, log = deploy()
    assert code == 0, log[-5000:]
    changed_ops = sorted(op["name"] for op in results["operations"] if op["success"])
    assert changed_hosts(results) == {target.name}
    assert any("containerd-shim-wasmtime-v1" in name for name in changed_ops), changed_ops
    assert not any("Write the K3s config" in name for name in changed_ops), changed_ops
    after = main_pids(testbed)
    assert after[target.name] != before[target.name]
    assert {n: p for n, p in after.items() if n != target.name} == {
        n: p for n, p in before.items() if n != target.name}
    code, results, log = deploy()
    assert code == 0 and results["totals"]["success"] == 0


def test_a_policy_change_rewrites_only_the_constraints(testbed, tmp_path):
    """Trusted registries are data: changing them rewrites one manifest on the servers,
    restarts nothing, and Gatekeeper (through K3s) picks the new Constraints up."""
    before = main_pids(testbed)
    repos = ["registry.site-a.example", "docker.io/edgewasm/"]
    inventory = write_inventory(tmp_path / "policy.py", common={"policy_allowed_repos": repos})
    code, results, log = deploy(inventory)
    assert code == 0, log[-5000:]
    changed = [(op["name"], sorted(op["success"])) for op in results["operations"] if op["success"]]
    servers = sorted(h.name for h in testbed if h.role == "server")
    assert changed == [("Gatekeeper | Put the image policy Constraints in the auto-deploy directory", servers)]
    assert main_pids(testbed) == before
    server = next(h for h in testbed if h.role == "server")
    text = tb.ssh(server.address, "cat /var/lib/rancher/k3s/server/manifests/edgewasm-policy-constraints.yaml").stdout
    assert 'repos: ["registry.site-a.example", "docker.io/edgewasm/"]' in text
    code, results, log = deploy()
    assert code == 0 and changed_hosts(results) == set(servers)


def test_a_hand_edited_gatekeeper_helmchart_is_restored_and_helm_controller_reapplies(testbed):
    """The HelmChart's values changed by hand on the server: K3s's deploy controller and
    helm-controller roll the change out (the audit Deployment takes the new interval); the
    next run puts the file back, and helm-controller rolls Gatekeeper back to our values."""
    server = next(h for h in testbed if h.role == "server")
    helmchart = "/var/lib/rancher/k3s/server/manifests/edgewasm-gatekeeper.yaml"
    ours = settings.value({}, "gatekeeper_audit_interval")
    args = ("k3s kubectl -n gatekeeper-system get deployment gatekeeper-audit "
            "-o jsonpath='{.spec.template.spec.containers[0].args}'")

    def audit_interval_becomes(value: int, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while f"--audit-interval={value}" not in (seen := tb.ssh(server.address, args, check=False).stdout):
            assert time.monotonic() < deadline, f"audit interval not {value} after {timeout}s: {seen}"
            time.sleep(5)

    audit_interval_becomes(ours)
    tb.ssh(server.address, f"sed -i 's/^    auditInterval: {ours}$/    auditInterval: 77/' {helmchart} && "
                           f"grep -q '^    auditInterval: 77$' {helmchart}")
    audit_interval_becomes(77)
    code, results, log = deploy()
    assert code == 0, log[-5000:]
    changed = [(op["name"], sorted(op["success"])) for op in results["operations"] if op["success"]]
    assert changed == [("Gatekeeper | Put the Gatekeeper HelmChart in the auto-deploy directory", [server.name])]
    audit_interval_becomes(ours)
    assert deploy()[1]["totals"]["success"] == 0


def test_uninstall_then_install_converges_again(testbed):
    target = next(h for h in testbed if h.name == "edge-agent-1")
    code, results, log = deploy("inventories/testbed.py", "--limit", target.name, deploy_file="deploys/uninstall.py")
    assert code == 0, log[-5000:]
    gone = tb.ssh(target.address, "ls /usr/local/bin/k3s /etc/rancher/k3s /var/lib/rancher /var/lib/edgewasm "
                                  "/opt/edgewasm /usr/local/bin/wasmtime /usr/local/bin/wasmedge /etc/ld.so.conf.d/edgewasm-wasmedge.conf "
                                  "/usr/local/bin/containerd-shim-wasmedge-v1 /usr/local/bin/containerd-shim-wasmtime-v1 "
                                  "/etc/systemd/system/k3s-agent.service",
                  check=False)
    assert gone.returncode != 0 and gone.stdout == ""
    # The node's password stays (as K3s's uninstall leaves it), so the servers, which
    # still hold its Node, take the reinstalled node back under its name.
    assert tb.ssh(target.address, "test -s /etc/rancher/node/password", check=False).returncode == 0
    code, results, log = deploy()
    assert code == 0, log[-5000:]
    assert changed_hosts(results) == {target.name}
    code, results, log = deploy()
    assert code == 0 and results["totals"]["success"] == 0
    assert tb.ssh(target.address, "systemctl is-active k3s-agent").stdout.strip() == "active"
    server = next(h for h in testbed if h.role == "server")
    ready = tb.ssh(server.address, f"k3s kubectl wait --for=condition=Ready --timeout=120s node/{target.name}",
                   check=False)
    assert ready.returncode == 0, ready.stdout + ready.stderr


def test_a_new_pinned_version_upgrades_servers_then_agents_one_at_a_time(testbed, tmp_path):
    new = UPGRADE_VERSIONS["k3s"]
    inventory = write_inventory(tmp_path / "upgrade.py", common={
        "edgewasm_bundle": "bundles/testbed-upgrade", "artifact_versions": UPGRADE_VERSIONS})
    code, results, log = deploy(inventory)
    assert code == 0, log[-5000:]
    started = {}
    for h in testbed:
        assert tb.ssh(h.address, "k3s --version").stdout.startswith(f"k3s version {new} ")
        unit = "k3s" if h.role == "server" else "k3s-agent"
        started[h.name] = int(tb.ssh(h.address, f"systemctl show -p ExecMainStartTimestampMonotonic --value {unit}")
                              .stdout)  # one kernel, one monotonic clock for all test-bed hosts
    servers = [started[h.name] for h in testbed if h.role == "server"]
    agents = sorted(started[h.name] for h in testbed if h.role == "agent")
    assert max(servers) < min(agents), "servers restart before agents"
    assert len(set(agents)) == len(agents)
    code, results, log = deploy(inventory)
    assert code == 0 and results["totals"]["success"] == 0


def test_a_node_that_does_not_get_ready_stops_the_rolling_restart(testbed, tmp_path):
    """A change every node must restart for, with the first server unable to get ready: it
    fails its readiness wait and no other node restarts. Once it is repaired, the next run
    restarts every node (their inputs changed since they last got ready, though the files
    already say so), and the run after changes nothing."""
    server = next(h for h in testbed if h.role == "server")
    agents = [h for h in testbed if h.role == "agent"]
    before = main_pids(testbed)
    broken = "/etc/rancher/k3s/config.yaml.d/99-broken.yaml"
    tb.ssh(server.address, f"printf 'token-file: /nonexistent\\n' > {broken}")
    inventory = write_inventory(tmp_path / "zone.py", common={"k3s_node_labels": {"edge.example/zone": "c"},
                                                               "k3s_ready_timeout": 20})
    try:
        code, results, log = deploy(inventory)
        assert code != 0
        assert f"{server.name}: k3s.service not ready after 20s" in log
        for agent in agents:
            assert f"{agent.name}: rollout stopped: {server.name} did not get ready" in log, log[-4000:]
        after = main_pids(testbed)
        assert [after[a.name] for a in agents] == [before[a.name] for a in agents], "no agent restarted"
    finally:  # the modules after this one share the bed
        tb.ssh(server.address, f"rm -f {broken}")
    # The same change with the default readiness wait: real K3s takes longer than 20 s to
    # serve its agents again after a restart.
    inventory = write_inventory(tmp_path / "zone-repaired.py", common={"k3s_node_labels": {"edge.example/zone": "c"}})
    code, results, log = deploy(inventory)
    assert code == 0, log[-4000:]
    repaired = main_pids(testbed)
    assert all(repaired[a.name] != before[a.name] for a in agents), "the stopped restarts are finished"
    for h in testbed:
        assert '"edge.example/zone=c"' in tb.ssh(h.address, "cat /etc/rancher/k3s/config.yaml").stdout
    code, results, log = deploy(inventory)
    assert code == 0 and results["totals"]["success"] == 0
    assert main_pids(testbed) == repaired
    code, results, log = deploy()  # back to the test bed's own labels
    assert code == 0, log[-4000:]


def test_refused_host_is_untouched_and_the_others_go_on(testbed, tmp_path):
    refused, other = "edge-agent-1", "edge-server-1"
    by_name = {h.name: h for h in testbed}
    for name in (refused, other):
        tb.ssh(by_name[name].address, "rm -f /etc/sysctl.d/90-k3s.conf")
    inventory = write_inventory(tmp_path / "testbed_old_kernel.py", {refused: {"preflight_min_kernel": "99.0"}})
    code, results, log = deploy(inventory)
    assert code != 0, "a refused host fails the run"
    assert results["failed_hosts"] == [refused]
    assert f"{refused}: kernel" in log and "older than 99.0" in log and "fix:" in log
    changed = {name for op in results["operations"] for name in op["success"]}
    assert refused not in changed
    assert other in changed  # its sysctl file was put back
    assert tb.ssh(by_name[refused].address, "test -e /etc/sysctl.d/90-k3s.conf", check=False).returncode == 1
    assert tb.ssh(by_name[other].address, "test -e /etc/sysctl.d/90-k3s.conf", check=False).returncode == 0


def test_the_crun_route_on_bookworm_is_refused_before_the_host_changes(testbed, tmp_path):
    """A bookworm host (the Pi) asked for the crun route, with no crun of its own: refused
    by the gate before anything on it changes, naming bookworm's crun 1.8.1 and the fix
    (trixie's crun, or the runwasi route); the trixie agent on the same route goes on."""
    refused, other = "edge-pi-1", "edge-agent-1"
    by_name = {h.name: h for h in testbed}
    assert tb.ssh(by_name[refused].address, "test -e /usr/bin/crun", check=False).returncode == 1
    for name in (refused, other):
        tb.ssh(by_name[name].address, "rm -f /etc/sysctl.d/90-k3s.conf")
    inventory = write_inventory(tmp_path / "testbed_crun.py", {refused: {"edgewasm_crun": True}})
    code, results, log = deploy(inventory)
    assert code != 0, "a refused host fails the run"
    assert results["failed_hosts"] == [refused]
    assert (f"{refused}: the crun route needs a crun with a wasm handler and debian-bookworm ships crun 1.8.1 "
            "without a wasm handler; fix: move the host to a release whose crun runs Wasm: debian-trixie "
            "(crun 1.21 +WASM:wasmedge), or take the runwasi route (edgewasm_crun = False") in log
    assert refused not in changed_hosts(results) and other in changed_hosts(results)
    assert tb.ssh(by_name[refused].address, "test -e /etc/sysctl.d/90-k3s.conf", check=False).returncode == 1
