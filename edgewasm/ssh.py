"""SSH connections that send each command at once, and the host keys they will trust.

paramiko sets no socket options, so Nagle's algorithm is on: a small SSH packet (a
channel open, an exec request) waits until the previous one is acknowledged, and the
host delays that acknowledgement by up to 40 ms (Linux's delayed ACK). Every command a
deploy or a check runs paid it: 100 ``true`` commands over one connection took 4.7 s on
the test bed, 0.2 s with TCP_NODELAY. SSH writes whole packets, so nothing is gained by
coalescing them (OpenSSH's own client sets TCP_NODELAY for the same reason).

Host keys: ``ssh_target`` and ``known_host_keys`` tell, without contacting the host,
where pyinfra's connector will connect and whether known_hosts holds a key for it
(edgewasm.config refuses a deploy that would trust a key on first contact).
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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


# ------------------------------------------------------------------------------ host keys
#
# What pyinfra's SSH connector will trust, decided before it connects (edgewasm.config):
# the policy is the host's ssh_strict_host_key_checking, pyinfra's "accept-new" when
# unset (~/.ssh/config's StrictHostKeyChecking is then never read); the key is looked up
# as paramiko does, under "host" on port 22 and "[host]:port" on any other, in
# ssh_known_hosts_file, else ~/.ssh/config's UserKnownHostsFile, else ~/.ssh/known_hosts,
# address and port as ~/.ssh/config's HostName and Port give them.

STRICT = "yes"
PYINFRA_DEFAULT_POLICY = "accept-new"
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"


@dataclass(frozen=True)
class SshTarget:
    address: str  # what the client dials, and the name its host key is kept under
    port: int
    known_hosts: tuple[str, ...]  # as written (~ unexpanded): for messages

    @property
    def key_name(self) -> str:
        """The name a known_hosts line gives this host (OpenSSH's and paramiko's form)."""
        return host_key_name(self.address, self.port)


def host_key_name(address: str, port: int) -> str:
    return address if port == 22 else f"[{address}]:{port}"


def ssh_target(name: str, data: Mapping[str, Any]) -> SshTarget:
    """Where pyinfra's SSH connector will connect for host ``name`` with ``data``, and
    which known_hosts files it will trust (no host is contacted)."""
    # Late, as in nodelay_for_pyinfra: pyinfra's SSH client module, for the ssh_config
    # parser (Include and all) its connector reads; memoised there.
    from pyinfra.connectors.sshuserclient.client import get_ssh_config

    address = data.get("ssh_hostname") or name
    config = get_ssh_config(data.get("ssh_config_file"))
    host_config = config.lookup(address) if config else {}
    port = int(data.get("ssh_port") or host_config.get("port") or 22)
    if data.get("ssh_known_hosts_file"):
        files: tuple[str, ...] = (data["ssh_known_hosts_file"],)
    elif "userknownhostsfile" in host_config:
        files = tuple(host_config["userknownhostsfile"].split())
    else:
        files = (DEFAULT_KNOWN_HOSTS,)
    return SshTarget(host_config.get("hostname", address), port, files)


def known_host_keys(target: SshTarget) -> tuple[list[str], list[str]]:
    """(key types known_hosts holds for ``target``, hashed entries included, as paramiko
    matches them; the files that could not be read, each with why)."""
    keys = paramiko.HostKeys()
    unreadable = []
    for path in target.known_hosts:
        full = os.path.expanduser(path)
        if not os.path.isfile(full):
            unreadable.append(f"{path} does not exist")
            continue
        try:
            keys.load(full)
        except Exception as exc:  # paramiko raises several kinds for a bad line; pyinfra warns and goes on
            unreadable.append(f"{path} cannot be read ({exc})")
    found = keys.lookup(target.key_name)
    return sorted(found.keys()) if found else [], unreadable


# ------------------------------------------------------------------ strict connections
#
# The tools that connect with their own paramiko client (edgewasm-check's host checks,
# edgewasm-bench's kubectl session) connect the same way: as the inventory's ssh_user with
# its ssh_key (else the agent and ~/.ssh keys), trusting only a host key already in the
# host's known_hosts file, never one seen for the first time (paramiko's RejectPolicy).

def known_hosts_file(data: Mapping[str, Any]) -> str:
    """The known_hosts file a strict client trusts for a host with ``data`` (expanded)."""
    return os.path.expanduser(data.get("ssh_known_hosts_file") or DEFAULT_KNOWN_HOSTS)


def ssh_user(data: Mapping[str, Any]) -> str:
    return data.get("ssh_user") or "root"


def strict_client(address: str, data: Mapping[str, Any], timeout: float) -> paramiko.SSHClient:
    """A paramiko client connected to ``address`` with the host's ``data``, the host key
    checked strictly; TCP_NODELAY set. Raises what paramiko raises (``connect_problem``
    says it in words)."""
    key_file = os.path.expanduser(data["ssh_key"]) if data.get("ssh_key") else None
    client = paramiko.SSHClient()
    client.load_host_keys(known_hosts_file(data))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(hostname=address, port=int(data.get("ssh_port") or 22), username=ssh_user(data),
                   key_filename=key_file, timeout=timeout, allow_agent=key_file is None,
                   look_for_keys=key_file is None)
    set_nodelay(client)
    return client


def connect_problem(exc: BaseException, address: str, data: Mapping[str, Any]) -> str:
    """Why a strict client could not connect to ``address``, from what it raised."""
    known = known_hosts_file(data)
    if isinstance(exc, paramiko.BadHostKeyException):
        return f"its SSH host key does not match {known} (a replaced host, or someone between)"
    if isinstance(exc, paramiko.AuthenticationException):
        return f"SSH authentication as {ssh_user(data)} failed (ssh_user, ssh_key)"
    if isinstance(exc, paramiko.SSHException):
        if "not found in known_hosts" in str(exc):
            return f"its SSH host key is not in {known}"
        return f"SSH failed: {exc}"
    return f"unreachable: no SSH connection to {address} ({exc or type(exc).__name__})"
