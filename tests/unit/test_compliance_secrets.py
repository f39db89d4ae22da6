"""No secret reaches a report: the host checks that read secret-bearing files (token files,
the K3s unit's environment file, config.yaml) fail naming the file and what is wrong,
never what it holds; what is left is redacted; the check processes are handed no secret.

The checks run here for real (pytest, the plugin, the checks' conftest), on hosts whose
commands run on this machine against a directory tree per host: this module, loaded into
that pytest run as a plugin (``-p test_compliance_secrets``), answers for SSH.
"""

from __future__ import annotations

import ast
import json
import os
import shlex
import stat
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from edgewasm import settings
from edgewasm.compliance import formats, plugin, reads, redact, report, runner
from edgewasm.config import InventoryHost
from edgewasm.k3s import AGENT_TOKEN_FILE, CONFIG_DIR, SERVER_TOKEN, TOKEN_FILE

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FAKE_ROOT = "EDGEWASM_TEST_FAKE_HOSTS"
# Absolute paths the checks read, answered from <tree>/<host address>/<path> (the kernel's
# values and K3s's binary too: tests/unit/test_hardening_checks.py gives each host its own).
K3S_CONFIG = f"{CONFIG_DIR}/config.yaml"
PREFIXES = ("/etc/rancher", "/etc/systemd/system", "/var/lib/rancher", "/etc/sysctl.d", "/proc/sys", "/usr/local/bin")
# A host tree holding this file answers the check user's ``sudo -n HELPER ...`` with it (the
# production read helper, its allowlist moved under the tree: in_tree).
TREE_HELPER = "check-read"


def in_tree(text: str, host_root: str) -> str:
    """``text`` (a command, the helper) with every absolute path the checks read moved under ``host_root``."""
    for prefix in PREFIXES:
        text = text.replace(prefix, f"{host_root}{prefix}")
    return text


def _words(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()


def _root_only(host_root: str, path: str) -> bool:
    """Whether someone other than root could not read ``path`` in a host's tree: a directory
    on its way without o+x, or the file itself without o+r."""
    if not path.startswith(PREFIXES):
        return False
    local = Path(host_root + path)
    for parent in reversed(local.parents):
        if parent.is_relative_to(host_root) and parent != Path(host_root) and parent.is_dir() \
                and not parent.stat().st_mode & stat.S_IXOTH:
            return True
    return local.exists() and not local.stat().st_mode & stat.S_IROTH


def pytest_configure(config):
    """As a plugin of the checks' pytest run (never of this test session: pytest takes no
    hooks from a test module): every command a check sends runs here, under the tree."""
    tree = os.environ.get(FAKE_ROOT)
    if not tree:
        return
    from testinfra.backend.paramiko import ParamikoBackend

    def run_here(self, command, *args, **kwargs):
        sent = self.get_command(command, *args)
        local = in_tree(sent, f"{tree}/{self.host.name}")
        helper = f"{tree}/{self.host.name}/{TREE_HELPER}"
        if os.path.exists(helper):
            from edgewasm.check_access import SUDO

            # As the check user: what only root may read (by the tree's modes) is refused
            # unless asked of the helper.
            if not sent.startswith(shlex.join(SUDO)) and any(_root_only(f"{tree}/{self.host.name}", w)
                                                             for w in _words(sent)):
                return self.result(1, self.encode(sent), b"", b"Permission denied (the check user)\n")
            local = local.replace(shlex.join(SUDO), f"sh {helper}")
        done = subprocess.run(["sh", "-c", local], capture_output=True, stdin=subprocess.DEVNULL)
        return self.result(done.returncode, self.encode(sent), done.stdout, done.stderr)

    ParamikoBackend.run = run_here


# What the hosts hold that no report may show.
SECRETS = {
    "server_secret": "CLUSTERSECRET0123456789",
    "agent_secret": "AGENTSECRET0123456789",
    "env_token": "ENVTOKENSECRET0123456789",
    "s3": "S3SECRETKEY0123456789",
    "other_agent": "OTHERAGENTSECRET0123456789",
    "yaml_token": "YAMLTOKENSECRET0123456789",
    "inventory": "INVENTORYTOKEN0123456789",
}


def _host_tree(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        target.chmod(0o600)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """A first server and two agents, each with secrets where a hand edit or a wrong
    deploy could leave them, every check on them failing."""
    tree = tmp_path_factory.mktemp("hosts")
    s = SECRETS
    unit = "[Service]\nType=notify\nExecStart=/usr/local/bin/k3s {}\n"
    _host_tree(tree / "10.0.0.1", {
        AGENT_TOKEN_FILE: f"K10c0ffee::node:{s['agent_secret']}\n",
        TOKEN_FILE: f"{s['server_secret']}\n",
        # K3s's own copy, its K10 prefix lost: the check says so without printing it.
        SERVER_TOKEN: f"{s['server_secret']}\n",
        "/etc/systemd/system/k3s.service": unit.format("server"),
        "/etc/systemd/system/k3s.service.env": f"HTTPS_PROXY=\"http://u:pw@proxy\"\nK3S_TOKEN=K10c0ffee::server:{s['env_token']}\n",
        # The first server joins nobody, and a secret sits under a key that is no token key.
        K3S_CONFIG: (f'token-file: "{TOKEN_FILE}"\nagent-token-file: "{AGENT_TOKEN_FILE}"\n'
                           f'server: "https://elsewhere:6443"\netcd-s3-secret-key: "{s["s3"]}"\n'),
    })
    _host_tree(tree / "10.0.0.2", {
        AGENT_TOKEN_FILE: f"K10c0ffee::node:{s['other_agent']}\n",
        "/etc/systemd/system/k3s-agent.service": unit.format("agent"),
        # The server's secret on an agent: in its environment file, so also a K3S_TOKEN line.
        "/etc/systemd/system/k3s-agent.service.env": f"K3S_TOKEN={s['server_secret']}\n",
        K3S_CONFIG: f'token: "{s["inventory"]}"\nserver: "https://10.0.0.1:6443"\n',
    })
    _host_tree(tree / "10.0.0.3", {
        AGENT_TOKEN_FILE: f"K10c0ffee::node:{s['agent_secret']}\n",
        "/etc/systemd/system/k3s-agent.service": unit.format("agent"),
        "/etc/systemd/system/k3s-agent.service.env": "",
        # Not YAML: YAML's own error would quote the text around the error.
        K3S_CONFIG: f'token: K10c0ffee::server:{s["yaml_token"]}\n  server: [\n',
    })
    data = {"ssh_known_hosts_file": str(tree / "known_hosts"), "k3s_token": settings.Secret(s["inventory"]),
            "k3s_env": {"HTTPS_PROXY": settings.Secret("http://u:pw@proxy")}}
    hosts = [InventoryHost("srv-1", ["k3s_servers"], {**data, "ssh_hostname": "10.0.0.1"}),
             InventoryHost("agent-1", ["k3s_agents"], {**data, "ssh_hostname": "10.0.0.2"}),
             InventoryHost("agent-2", ["k3s_agents"], {**data, "ssh_hostname": "10.0.0.3"})]
    return tree, hosts


CHECKS = ["test_k3s.py::test_unit_and_env_file", "test_k3s.py::test_secrets_are_root_only",
          "test_k3s.py::test_config_names_the_right_server_and_token_files",
          "test_k3s.py::test_tokens_match_the_cluster", "test_k3s.py::test_no_agent_holds_the_server_token"]


@pytest.fixture(scope="module")
def checked(fleet, tmp_path_factory):
    """Each host's checks run as edgewasm-check runs them: (results, log) per host."""
    tree, hosts = fleet
    work = tmp_path_factory.mktemp("work")
    inventory_json = work / "inventory.json"
    runner.write_inventory(hosts, inventory_json)
    env = {**os.environ, FAKE_ROOT: str(tree), "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)])}
    started = {}
    for h in hosts:  # at once, as edgewasm-check runs them
        results = work / f"results-{h.name}.json"
        argv = runner.pytest_argv(h.name, results, inventory_json, [f"{runner.CHECKS}/{c}" for c in CHECKS])
        started[h.name] = (results, subprocess.Popen(
            [sys.executable, "-m", "pytest", *argv, "-p", "test_compliance_secrets"], env=env, cwd=work, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    out = {}
    for name, (results, child) in started.items():
        log, _ = child.communicate(timeout=300)
        assert results.is_file(), log[-3000:]
        out[name] = (json.loads(results.read_text()), log)
    return out


def _leaks(text: str) -> list[str]:
    return [name for name, secret in SECRETS.items() if secret in text]


def test_failing_checks_on_secret_files_name_the_file_never_its_content(checked):
    for name, (results, log) in checked.items():
        assert _leaks(json.dumps(results)) == [], name
        assert _leaks(log) == [], f"{name}'s log: {log[-2000:]}"
    by = {(c["host"], c["check"]): c for results, _ in checked.values() for c in results}
    env = by[("srv-1", "test_unit_and_env_file")]
    assert env["outcome"] == "failed"
    assert "/etc/systemd/system/k3s.service.env: 1 line(s) set K3S_TOKEN" in env["message"], env["message"]
    config = by[("srv-1", "test_config_names_the_right_server_and_token_files")]
    assert config["message"].endswith("the first server joins no server, but has server:"), config["message"]
    token = by[("srv-1", "test_tokens_match_the_cluster")]
    assert f"{SERVER_TOKEN} is not a K3s token" in token["message"], token["message"]
    assert "is not the first server's" in by[("agent-1", "test_tokens_match_the_cluster")]["message"]
    inline = by[("agent-1", "test_config_names_the_right_server_and_token_files")]
    assert "its token keys are ['token'], not ['token-file']" in inline["message"], inline["message"]
    holder = by[("agent-1", "test_no_agent_holds_the_server_token")]
    assert "the server token's secret is in " in holder["message"], holder["message"]
    assert holder["message"].endswith("/etc/systemd/system/k3s-agent.service.env"), holder["message"]
    broken = by[("agent-2", "test_config_names_the_right_server_and_token_files")]
    assert broken["outcome"] == "error" and broken["message"] == f"Failed: {K3S_CONFIG} is not YAML (line 2)", broken


def test_no_secret_in_any_report_format(checked, fleet):
    """The results as edgewasm-check stores them, in every format it writes."""
    _, hosts = fleet
    known = frozenset(redact.known_secrets(hosts))
    entries = [report.host_entry(name, None, None, redact.deep(results, known), {"known": True, "operations": []}, 1.0)
               for name, (results, _) in checked.items()]
    data = redact.deep(report.build("inventories/site.py", "site", "r", datetime.now(timezone.utc), 1.0, entries, None),
                       known)
    assert report.failures(data)
    for fmt, write in formats.WRITERS.items():
        assert _leaks(write(data)) == [], fmt


def test_secret_bearing_checks_print_only_their_messages():
    """test_k3s.py reads the secret files: pytest does not rewrite its assertions (which
    print both sides of a failed comparison), and each says what is wrong itself. No other
    check module names a secret file (config.yaml reaches them through the k3s_config
    fixture, which never quotes it)."""
    source = (runner.CHECKS / "test_k3s.py").read_text()
    tree = ast.parse(source)
    assert "PYTEST_DONT_REWRITE" in ast.get_docstring(tree)
    bare = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert) and node.msg is None]
    assert bare == []
    names = {"AGENT_TOKEN_FILE", "TOKEN_FILE", "SERVER_TOKEN", "KUBECONFIG", "K3S_CONFIG", "CONFIG_DIR"}
    for path in sorted(runner.CHECKS.glob("test_*.py")):
        if path.name == "test_k3s.py":
            continue
        text = path.read_text()
        used = {n.id for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Name)} & names
        assert not used and ".service.env" not in text and "config.yaml" not in text, path.name


def test_the_check_processes_are_handed_no_secret(tmp_path):
    data = {"k3s_token": settings.Secret("K10abc::server:TOKENINDATA1"), "k3s_agent_token": "AGENTINDATA1",
            "k3s_env": {"HTTPS_PROXY": "http://u:PROXYPW1@p"}, "ssh_password": "SSHPASSWORD1",
            "k3s_token_file": "secrets/site.token", "ssh_hostname": "10.0.0.1", "k3s_node_ip": "10.0.0.1"}
    path = tmp_path / "inventory.json"
    runner.write_inventory([InventoryHost("srv-1", ["k3s_servers"], settings.redacted(data))], path)
    text = path.read_text()
    for secret in ("TOKENINDATA1", "AGENTINDATA1", "PROXYPW1", "SSHPASSWORD1", "k3s_env"):
        assert secret not in text
    assert path.stat().st_mode & 0o777 == 0o600
    (host,) = json.loads(text)
    assert host["data"] == {"k3s_token_file": "secrets/site.token", "ssh_hostname": "10.0.0.1",
                            "k3s_node_ip": "10.0.0.1"}


@pytest.mark.parametrize("shown, clean", [
    ("K3S_TOKEN=K10c0ffee::server:S3CR3Tvalue", "K3S_TOKEN=<redacted>"),
    ("join with K10abc::node:S3CR3Tvalue now", f"join with K10{redact.REDACTED} now"),
    ("assert 'K3S_TOKEN' not in 'K3S_TOKEN=K...S3CR3Tvalue\\n'", "assert 'K3S_TOKEN' not in 'K3S_TOKEN=<redacted>'"),
    ('etcd-s3-secret-key: "S3CR3Tvalue"', "etcd-s3-secret-key: <redacted>"),
    ("{'k3s_token': 'S3CR3Tvalue', 'x': 1}", "{'k3s_token': <redacted>, 'x': 1}"),
    ("HTTPS_PROXY=http://user:S3CR3Tvalue@proxy:3128", "HTTPS_PROXY=http://user:<redacted>@proxy:3128"),
    # What is not a secret stays: token files' paths, words.
    ('agent-token-file: "/etc/rancher/k3s/agent-token"', 'agent-token-file: "/etc/rancher/k3s/agent-token"'),
    ("/etc/rancher/k3s/agent-token is not the first server's", "/etc/rancher/k3s/agent-token is not the first server's"),
])
def test_redaction(shown, clean):
    assert redact.text(shown) == clean


def test_redaction_of_what_the_inventory_knows(tmp_path):
    token_file = tmp_path / "site.token"
    token_file.write_text("K10abc::server:FROMTHEFILE99\n")
    env_file = tmp_path / "site.env"
    env_file.write_text("HTTP_PROXY=PROXYFROMFILE99\n")
    hosts = [InventoryHost("a", ["k3s_agents"], settings.redacted({
        "k3s_agent_token": "RAWAGENTTOKEN99", "k3s_token_file": str(token_file), "k3s_env_file": str(env_file),
        "k3s_env": {"NO_PROXY": "10.0.0.0/8,.svc"}}))]
    known = redact.known_secrets(hosts)
    assert {"RAWAGENTTOKEN99", "FROMTHEFILE99", "PROXYFROMFILE99", "10.0.0.0/8,.svc"} <= known
    shown = "found RAWAGENTTOKEN99 and FROMTHEFILE99 and PROXYFROMFILE99"
    assert redact.text(shown, known) == "found <redacted> and <redacted> and <redacted>"
    assert redact.deep({"hosts": [{"message": shown, "n": 1}]}, known) == \
        {"hosts": [{"message": "found <redacted> and <redacted> and <redacted>", "n": 1}]}


def test_the_plugin_redacts_a_failed_report_before_pytest_prints_it():
    class Crash:
        message = "AssertionError: assert 'K3S_TOKEN=K10ab::server:S3CR3Tvalue' == ''"

    class Longrepr:
        reprcrash = Crash()

        def __str__(self):
            return f"def test():\n>   assert x\nE   {Crash.message}"

    class Report:
        failed, skipped = True, False
        longrepr = Longrepr()
        sections = [("Captured stdout call", "token: S3CR3Tvalue")]

    r = Report()
    plugin.redact_report(r)
    assert r.edgewasm_message == "AssertionError: assert 'K3S_TOKEN=<redacted>' == ''"
    assert "S3CR3Tvalue" not in str(r.longrepr) and "S3CR3Tvalue" not in str(r.sections)


def test_a_digest_of_a_secret_is_salted_and_computed_on_the_host(tmp_path, monkeypatch):
    token = tmp_path / "token"
    token.write_text("K10abc::server:S3CR3Tvalue")  # no newline at the end
    config = tmp_path / "etc" / "k3s.env"
    config.parent.mkdir()
    config.write_text("A=1\nK3S_TOKEN=S3CR3Tvalue\n")

    def sh(command):
        return subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True).stdout

    digest = sh(reads.secret_digest(str(token))).split()[0]
    assert sh(reads.salted_digest(str(tmp_path / "none"))).strip() == reads.MISSING
    lines = sh(reads.SMALL_FILE_LINE_DIGESTS.replace(
        "/etc/rancher /etc/systemd/system /var/lib/rancher/k3s/agent/etc", str(tmp_path / "etc"))).splitlines()
    assert f"{digest} {config}" in lines, "a line holding the secret has the token file's secret digest"
    assert sh(reads.holds_k3s_token(str(token))).strip() == "yes"
    assert sh(reads.holds_k3s_token(str(config))).strip() == "no"
    monkeypatch.setattr(reads, "SALT", "another")
    assert sh(reads.secret_digest(str(token))).split()[0] != digest, "salted afresh, a digest says nothing later"
