"""SSH connections that send each command at once.

paramiko sets no socket options, so Nagle's algorithm is on: a small SSH packet (a
channel open, an exec request) waits until the previous one is acknowledged, and the
host delays that acknowledgement by up to 40 ms (Linux's delayed ACK). Every command a
deploy or a check runs paid it: 100 ``true`` commands over one connection took 4.7 s on
the test bed, 0.2 s with TCP_NODELAY. SSH writes whole packets, so nothing is gained by
coalescing them (OpenSSH's own client sets TCP_NODELAY for the same reason).
"""

from __future__ import annotations

import functools
import os
import socket

import paramiko

# With this set to a file, every SSH command (exec) and SFTP session edgewasm's
# connections open is counted there, one line each: "<host address> exec|sftp". What a
# run costs on a metered or high-latency link (benchmarks/ssh_round_trips.py); no command
# text is written, so nothing of a host's data leaves in it.
AUDIT_ENV = "EDGEWASM_SSH_AUDIT"


def _count(transport: paramiko.Transport, kind: str) -> None:
    path = os.environ.get(AUDIT_ENV)
    if path:
        with open(path, "a") as f:  # one short append per line: safe across forked checkers
            f.write(f"{transport.getpeername()[0]} {kind}\n")


def audit_from_env() -> None:
    """Count this process's SSH commands and SFTP sessions in ``$EDGEWASM_SSH_AUDIT``."""
    if not os.environ.get(AUDIT_ENV) or getattr(paramiko.Channel.exec_command, "_edgewasm_audit", False):
        return
    exec_command = paramiko.Channel.exec_command
    from_transport = paramiko.SFTPClient.from_transport.__func__

    @functools.wraps(exec_command)
    def counted_exec(self, command):
        _count(self.get_transport(), "exec")
        return exec_command(self, command)

    def counted_sftp(cls, t, *args, **kwargs):
        _count(t, "sftp")
        return from_transport(cls, t, *args, **kwargs)

    counted_exec._edgewasm_audit = True  # type: ignore[attr-defined]
    paramiko.Channel.exec_command = counted_exec  # type: ignore[method-assign]
    paramiko.SFTPClient.from_transport = classmethod(counted_sftp)  # type: ignore[method-assign]


def set_nodelay(client: paramiko.SSHClient) -> None:
    """Turn Nagle's algorithm off on ``client``'s connection (a no-op for a connection
    that is not TCP, such as a ProxyCommand pipe)."""
    audit_from_env()
    transport = client.get_transport()
    sock = getattr(transport, "sock", None)
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def nodelay_for_pyinfra() -> None:
    """Make every pyinfra SSH connection of this process set TCP_NODELAY.

    pyinfra builds its paramiko client inside its SSH connector, with no hook for socket
    options; this wraps that client's ``connect`` once per process.
    """
    # Late: sitecustomize runs this file (benchmarks/ssh_round_trips.py) before pyinfra_cli gevent-patches the stdlib.
    from pyinfra.connectors.sshuserclient.client import SSHClient

    if getattr(SSHClient.connect, "_edgewasm_nodelay", False):
        return
    connect = SSHClient.connect

    @functools.wraps(connect)
    def connect_nodelay(self, *args, **kwargs):
        result = connect(self, *args, **kwargs)
        set_nodelay(self)
        return result

    connect_nodelay._edgewasm_nodelay = True  # type: ignore[attr-defined]
    SSHClient.connect = connect_nodelay  # type: ignore[method-assign]
