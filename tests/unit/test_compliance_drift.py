"""Drift per cluster: an unreachable first server costs its own cluster's drift, with that
reason, and one host's failure while planning costs only that host's."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgewasm.compliance import drift
from edgewasm.k3s import READ_ONLY_ENV

ROOT = Path(__file__).resolve().parents[2]


class Server:
    """A pyinfra host as drift.first_server sees one."""

    def __init__(self, name, cluster):
        self.name = name
        self.data = type("Data", (), {"dict": lambda _self: {"k3s_cluster_name": cluster}})()


SERVERS = [Server("a-srv-1", "site-a"), Server("a-srv-2", "site-a"), Server("b-srv-1", "site-b")]


@pytest.fixture
def no_token_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # secrets/<cluster>.token is looked for here: none
    return tmp_path


def test_each_host_joins_the_first_server_of_its_own_cluster():
    assert drift.first_server(SERVERS, {"k3s_cluster_name": "site-b"}).name == "b-srv-1"
    assert drift.first_server(SERVERS, {"k3s_cluster_name": "site-a"}).name == "a-srv-1"
    assert drift.first_server([], {}) is None


def test_an_unreachable_first_server_costs_the_hosts_that_need_its_tokens(no_token_files):
    data = {"k3s_cluster_name": "site-a"}
    first = SERVERS[0]
    reason = drift.unplannable("a-agent-1", data, "agent", first, first_connected=False)
    assert reason.startswith("the first server a-srv-1 of cluster site-a is unreachable, and the cluster's tokens "
                             "are read from it (this machine has no k3s_agent_token / secrets/site-a.agent-token)")
    server = drift.unplannable("a-srv-2", data, "server", first, first_connected=False)
    assert "k3s_agent_token / secrets/site-a.agent-token or k3s_token / secrets/site-a.token" in server
    # Reachable, or the tokens here: planned.
    assert drift.unplannable("a-agent-1", data, "agent", first, first_connected=True) is None
    assert drift.unplannable("a-agent-1", {**data, "k3s_agent_token": "t0ken"}, "agent", first, False) is None
    (no_token_files / "secrets").mkdir()
    (no_token_files / "secrets" / "site-a.agent-token").write_text("t0ken\n")
    assert drift.unplannable("a-agent-1", data, "agent", first, first_connected=False) is None
    assert drift.unplannable("a-srv-2", data, "server", first, first_connected=False) is not None, "no server token"
    assert not (no_token_files / "secrets" / "site-a.token").exists(), "nothing generated or written"


def test_a_host_of_another_cluster_keeps_its_drift(no_token_files):
    """a-srv-1 unreachable: site-a's hosts need it, site-b's do not."""
    for name, cluster in (("a-agent-1", "site-a"), ("b-agent-1", "site-b")):
        data = {"k3s_cluster_name": cluster}
        first = drift.first_server(SERVERS, data)
        reachable = first.name != "a-srv-1"
        found = drift.unplannable(name, data, "agent", first, reachable)
        assert (found is None) == (cluster == "site-b"), name


PLAN = json.dumps({"plan": [{"name": "deploys/full_stack.py | Write the K3s config",
                             "hosts_with_change": ["a-agent-1", "b-agent-1"], "hosts_with_conditional_change": []}]})


def test_the_dry_run_report_keeps_each_hosts_own_reason():
    failed = json.dumps({"a-srv-1": "unreachable in the dry run", "a-agent-1": "the first server a-srv-1 ..."})
    found = drift.read_dry_run(PLAN, "", 1, failed, ["a-srv-1", "a-agent-1", "b-agent-1"])
    assert found["b-agent-1"] == {"known": True, "reason": None, "operations": ["Write the K3s config"]}
    assert found["a-agent-1"] == {"known": False, "reason": "the first server a-srv-1 ...", "operations": []}


def test_a_dry_run_that_broke_as_a_whole_still_names_each_hosts_reason():
    failed = json.dumps({"a-agent-1": "the dry run broke while planning this host (DownloadError: ...)"})
    found = drift.read_dry_run("", "Traceback ...\nSomeError: boom\n", 1, failed, ["a-agent-1", "b-agent-1"])
    assert found["a-agent-1"]["reason"].startswith("the dry run broke while planning this host")
    assert found["b-agent-1"]["reason"] == "the dry run failed (exit 1): Traceback ... SomeError: boom"
    garbled = drift.read_dry_run('{"plan": [', "", 0, "{}", ["a"])
    assert garbled["a"]["known"] is False and garbled["a"]["reason"].startswith("the dry run failed")


def test_the_dry_run_of_a_cluster_whose_first_server_is_down(tmp_path):
    """pyinfra's own dry run of drift_deploy.py: the first server does not answer, and the
    agent (this machine, @local) needs the cluster's tokens from it. The dry run ends with
    its plan, the agent's drift unknown with that reason (before: the deploy read the
    tokens from the server that was not there, and every host's drift was lost)."""
    inventory = tmp_path / "inventory.py"
    inventory.write_text(
        "_d = {'k3s_cluster_name': 'site-a'}\n"
        "k3s_servers = [('a-srv-1', {**_d, 'ssh_user': 'root', 'ssh_hostname': '127.0.0.1', 'ssh_port': 1})]\n"
        "k3s_agents = [('@local', dict(_d))]\n")
    failed = tmp_path / "failed.json"
    env = {**os.environ, "PYINFRA_PROGRESS": "off", "EDGEWASM_DRIFT_FAILED": str(failed), READ_ONLY_ENV: "1",
           "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "pyinfra", "--dry", "--json", "-y", str(inventory),
                           str(drift.DRIFT_DEPLOY)], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    found = drift.read_dry_run(done.stdout, done.stderr, done.returncode,
                               failed.read_text() if failed.exists() else None, ["a-srv-1", "@local"])
    assert found["@local"]["known"] is False
    assert found["@local"]["reason"].startswith("the first server a-srv-1 of cluster site-a is unreachable"), \
        done.stderr[-2000:]
    assert found["a-srv-1"]["reason"] == "unreachable in the dry run"
    assert not (tmp_path / "secrets").exists(), "nothing generated"
