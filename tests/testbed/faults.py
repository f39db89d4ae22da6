"""Fault injection at an exact point of a real pyinfra run (test instrumentation only).

``fault_deploy.py`` runs deploys/full_stack.py with one fault from ``EDGEWASM_FAULT``,
``ACTION:HOST:OPERATION`` (OPERATION: the start of an operation's name):

- ``sigint-after``: SIGINT to this pyinfra process as soon as OPERATION succeeded on HOST;
- ``reboot-at``: reboot HOST as OPERATION starts on it;
- ``cut-ssh-at``: from 0.3 s after OPERATION starts on HOST until it ends there, kill
  HOST's SSH sessions every 0.3 s (its sshd drops every connection, as while the link is
  down). Once is not enough: an operation may spend its first moments on another host (a
  drain through the first server), and a single cut then hits no command of HOST's.

Everything else in the run is the real deploy on real hosts.
"""

from __future__ import annotations

import os
import signal

import gevent
from pyinfra import logger
from pyinfra.api.state import BaseStateCallback

from edgewasm import testbed as tb


# Kill every SSH session's processes, the sessions' own first. Killing the listener's
# children is not enough on OpenSSH >= 9.8 (trixie): each is a session's privileged
# monitor, and its child, which holds the connection, serves on without it. Detached, so
# that cutting its own session does not stop the cut half-way.
CUT = ("setsid sh -c 'l=$(cat /run/sshd.pid); m=$(pgrep -d, -P $l); "
       "[ -z \"$m\" ] || pkill -KILL -P \"$m\"; pkill -KILL -P $l' </dev/null >/dev/null 2>&1 &")


def _address(name: str) -> str:
    return next(h.address for h in tb.running_hosts() if h.name == name)


class Fault(BaseStateCallback):
    def __init__(self, spec: str):
        self.action, self.host, self.operation = spec.split(":", 2)
        self.done = False
        self.cutting = None

    def _matches(self, state, host, op_hash) -> bool:
        names = state.op_meta[op_hash].names
        # Names carry their deploys' prefixes ("Wasmtime | Unpack wasmtime 49.0.3").
        return (not self.done and host.name == self.host
                and any(n.rsplit(" | ", 1)[-1].startswith(self.operation) for n in names))

    def operation_host_start(self, state, host, op_hash):
        if not self._matches(state, host, op_hash) or self.action == "sigint-after":
            return
        self.done = True
        logger.warning(f"fault: {self.action} {self.host} at {self.operation}")
        if self.action == "reboot-at":
            tb.ssh(_address(self.host), "systemctl reboot", check=False)
        elif self.action == "cut-ssh-at":
            self.cutting = gevent.spawn_later(0.3, self._cut)

    def _cut(self):
        cuts = 0
        while True:
            out = tb.ssh(_address(self.host), CUT, check=False)
            cuts += 1
            logger.warning(f"fault: cut {self.host}'s SSH sessions ({cuts}; ssh exit {out.returncode})")
            gevent.sleep(0.3)

    def _ended(self, host):
        if self.cutting is not None and host.name == self.host:
            self.cutting.kill()
            self.cutting = None

    def operation_host_success(self, state, host, op_hash, retry_count=0):
        self._ended(host)
        if self._matches(state, host, op_hash) and self.action == "sigint-after":
            self.done = True
            logger.warning(f"fault: SIGINT after {self.operation} on {self.host}")
            os.kill(os.getpid(), signal.SIGINT)

    def operation_host_error(self, state, host, op_hash, retry_count=0, max_retries=0):
        self._ended(host)


def inject(state, spec: str) -> None:
    if not any(isinstance(h, Fault) for h in state.callback_handlers):
        state.add_callback_handler(Fault(spec))
