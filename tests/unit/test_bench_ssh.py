"""edgewasm-bench's SSH runner for real, against the FIXTURE in-process SSH server of
tests/fixtures/ssh_exec_server.py (bash runs each command; K3s's kubectl is a fake
script): one connection carries every command, manifests go on stdin, the create stamp
and the watch's stamps come from the server's own `date +%s%N`, the watch ends when told,
and a host whose key is not in known_hosts is refused, never trusted on first contact."""

from __future__ import annotations

import time

import paramiko
import pytest

from edgewasm.bench import run
from edgewasm.bench.cluster import KubectlError, Session
from edgewasm.bench.target import Refused
from edgewasm.bench.watch import Tracker
from edgewasm.config import InventoryHost
from tests.fixtures.ssh_exec_server import ExecServer

FAKE_K3S = """#!/bin/bash
# FIXTURE: K3s's kubectl as far as these tests need it.
[ "$1" = kubectl ] && shift
case "$*" in
  *"get pods"*"-w"*)
    for i in 0 1 2; do printf 'eb-x-p-%s\\037Pending\\037\\037\\037[]\\037[]\\n' "$i"; sleep 0.1; done
    exec sleep 30 ;;
  *"create -f -"*) cat > "{dir}/created"; echo "pod/eb-x-p-0 created" ;;
  *"get nodes"*) echo '{{"items": []}}' ;;
  *"get --raw"*) head -c 3000000 /dev/zero | tr '\\0' x; echo; echo done >&2 ;;
  *) echo "error: the server doesn't have a resource type \\"nope\\"" >&2; exit 1 ;;
esac
"""


@pytest.fixture
def server(tmp_path):
    script = tmp_path / "k3s"
    script.write_text(FAKE_K3S.format(dir=tmp_path))
    script.chmod(0o755)
    client_key = paramiko.RSAKey.generate(1024)
    client_key.write_private_key_file(str(tmp_path / "id_rsa"))
    found = ExecServer(str(script), client_key)
    yield found
    found.close()


def host(server, tmp_path, known: bool = True) -> InventoryHost:
    known_hosts = tmp_path / "known_hosts"
    if known:
        known_hosts.write_text(f"[127.0.0.1]:{server.port} {server.host_key.get_name()} {server.host_key.get_base64()}\n")
    else:
        known_hosts.write_text("")
    return InventoryHost("s1", ["k3s_servers"], {"ssh_hostname": "127.0.0.1", "ssh_port": server.port,
                                                 "ssh_key": str(tmp_path / "id_rsa"),
                                                 "ssh_known_hosts_file": str(known_hosts)})


def test_one_connection_carries_commands_stdin_and_the_servers_create_stamp(server, tmp_path):
    runner = run.connect(host(server, tmp_path))
    session = Session(runner, "x")
    try:
        before = time.time_ns()
        stamp = session.create(["kind: Pod\nmetadata: {name: a}", "kind: Pod\nmetadata: {name: b}"])
        assert before <= stamp <= time.time_ns()  # the server's date +%s%N (here: this machine's clock)
        assert (tmp_path / "created").read_text() == "kind: Pod\nmetadata: {name: a}---\nkind: Pod\nmetadata: {name: b}"
        assert session.json("get", "nodes") == {"items": []}
        with pytest.raises(KubectlError, match='resource type "nope"'):
            session.kubectl("get", "nope")
        # A big answer (a node summary is megabytes) comes back whole.
        code, out, err = runner.run(f"{session.kubectl_cmd} get --raw /api/v1/nodes/n/proxy/stats/summary")
        assert (code, len(out), out[:3], err) == (0, 3_000_001, "xxx", "done\n")
        assert server.connections == 1
    finally:
        runner.close()


def test_the_watch_stamps_each_event_on_the_server_and_stops_when_told(server, tmp_path):
    runner = run.connect(host(server, tmp_path))
    session = Session(runner, "x")
    tracker = Tracker("eb-x-p-")
    try:
        before = time.time_ns()
        stream = session.watch("p", 60)
        deadline = time.monotonic() + 10
        while len(tracker.pods) < 3 and time.monotonic() < deadline:
            tracker.feed(stream.lines(0.5))
        seen = [tracker.pods[f"eb-x-p-{i}"].seen_ns for i in range(3)]
        assert before <= seen[0] < seen[1] < seen[2] <= time.time_ns()
        assert seen[2] - seen[0] >= 150_000_000  # 0.1 s apart as printed: stamped as they came, not at the end
        assert tracker.pid
        session.stop(tracker.pid)
        stream._thread.join(timeout=10)
        assert not stream._thread.is_alive()  # the pipeline ended: kubectl killed, its output closed
    finally:
        runner.close()


def test_a_host_key_not_in_known_hosts_is_refused(server, tmp_path):
    with pytest.raises(Refused) as refused:
        run.connect(host(server, tmp_path, known=False))
    message = str(refused.value)
    assert f"first server s1 (root@127.0.0.1:{server.port})" in message
    assert "its SSH host key is not in" in message and "fix: add its host key" in message
