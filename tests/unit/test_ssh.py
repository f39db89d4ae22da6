"""edgewasm.ssh: Nagle's algorithm off on the SSH connections deploys and checks open."""

import socket
from types import SimpleNamespace

import pytest

from edgewasm import ssh


@pytest.fixture
def tcp_pair():
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    accepted, _ = server.accept()
    yield client
    for s in (client, accepted, server):
        s.close()


def _client_over(sock):
    transport = SimpleNamespace(sock=sock)
    return SimpleNamespace(get_transport=lambda: transport)


def test_set_nodelay_turns_nagle_off_on_a_tcp_connection(tcp_pair):
    assert tcp_pair.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
    ssh.set_nodelay(_client_over(tcp_pair))
    assert tcp_pair.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_set_nodelay_leaves_a_non_tcp_channel_alone():
    left, right = socket.socketpair()  # what a ProxyCommand pipe looks like to paramiko
    try:
        ssh.set_nodelay(_client_over(left))
        ssh.set_nodelay(_client_over(None))
    finally:
        left.close()
        right.close()


def test_pyinfra_clients_connect_with_nodelay_once_wrapped(monkeypatch, tcp_pair):
    from pyinfra.connectors.sshuserclient.client import SSHClient

    calls = []

    def fake_connect(self, hostname, **kwargs):  # stands in for paramiko's handshake
        calls.append(hostname)
        self._transport = SimpleNamespace(sock=tcp_pair)

    monkeypatch.setattr(SSHClient, "connect", fake_connect)
    monkeypatch.setattr(SSHClient, "get_transport", lambda self: self._transport)
    ssh.nodelay_for_pyinfra()
    ssh.nodelay_for_pyinfra()  # a second inventory load must not wrap twice
    assert SSHClient.connect.__wrapped__ is fake_connect
    SSHClient().connect("edge-1")
    assert calls == ["edge-1"]
    assert tcp_pair.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_the_audit_counts_each_command_and_sftp_session_by_host_and_nothing_else(monkeypatch, tmp_path):
    import paramiko

    audit = tmp_path / "audit"
    monkeypatch.setenv(ssh.AUDIT_ENV, str(audit))
    sent = []
    monkeypatch.setattr(paramiko.Channel, "exec_command", lambda self, command: sent.append(command))
    monkeypatch.setattr(paramiko.SFTPClient, "from_transport", classmethod(lambda cls, t: "sftp"))
    ssh.audit_from_env()
    ssh.audit_from_env()  # wrapped once however often connections are made
    transport = SimpleNamespace(getpeername=lambda: ("10.231.0.12", 22))
    channel = SimpleNamespace(get_transport=lambda: transport)
    paramiko.Channel.exec_command(channel, "cat /etc/rancher/k3s/agent-token")
    assert paramiko.SFTPClient.from_transport(transport) == "sftp"
    assert sent == ["cat /etc/rancher/k3s/agent-token"]
    assert audit.read_text() == "10.231.0.12 exec\n10.231.0.12 sftp\n"  # no command text


def test_without_the_audit_variable_nothing_is_wrapped(monkeypatch):
    import paramiko

    monkeypatch.delenv(ssh.AUDIT_ENV, raising=False)
    before = paramiko.Channel.exec_command
    ssh.audit_from_env()
    assert paramiko.Channel.exec_command is before
