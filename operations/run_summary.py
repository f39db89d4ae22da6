"""The run's last word: which hosts converged, which did not, and why.

pyinfra's own results count operations; an operator of a fleet of hundreds wants the
hosts. ``watch()`` (called by full_stack.py) hooks pyinfra's state callbacks; when pyinfra
disconnects at the end of an executed run, one summary names every host that did not
converge with its reason, and the exit status (pyinfra's: non-zero when any host failed)
says whether all did (also after Ctrl-C, which pyinfra alone reports as success). It
also keeps an exception on one host from ending every host's run, and bounds how many hosts pyinfra talks to at once
(``edgewasm_parallel_hosts``).
"""

from __future__ import annotations

import signal
import sys

from pyinfra import host, logger, state
from pyinfra.api.state import BaseStateCallback, StateStage

from edgewasm import settings
from edgewasm.summary import render
from operations import pyinfra_internals

# host name -> why it did not converge; the first reason wins (an edgewasm step that knows
# it, before pyinfra's generic "operation failed").
_REASONS: dict[str, str] = {}


def failed(name: str, reason: str) -> None:
    """Say why ``name`` did not converge (a refusal, a node not ready, a stopped rollout)."""
    _REASONS.setdefault(name, reason)


def reason(name: str) -> str | None:
    """Why ``name`` did not converge, when an edgewasm step said so."""
    return _REASONS.get(name)


class _Summary(BaseStateCallback):
    printed = False

    @staticmethod
    def operation_host_error(state, host, op_hash, retry_count=0, max_retries=0):
        failed(host.name, f"operation failed: {pyinfra_internals.operation_names(state, op_hash)}")

    @classmethod
    def host_disconnect(cls, state, host):
        # Hosts also disconnect mid-run (a reboot); the run is over at this stage only.
        if cls.printed or state.current_stage != StateStage.Disconnect:
            return
        cls.printed = True
        hosts = state.activated_hosts | state.failed_hosts
        connected = {h.name for h in state.activated_hosts}
        reasons = {h.name: _REASONS.get(h.name) or ("unreachable: no SSH connection" if h.name not in connected
                                                    else "failed (see its errors above)")
                   for h in state.failed_hosts}
        for level, line in render(sorted(h.name for h in hosts), reasons):
            (logger.error if level == "error" else logger.info)(line)


def _isolated(run_host_op):
    """pyinfra lets an exception other than OSError/SSHException escape one host's
    operation (paramiko's EOFError when a host reboots or its link drops mid-fact), and
    that ends the whole run: every other host stops where it was. Here it fails that host
    only, with its reason."""

    def run(state, host, op_hash):
        try:
            return run_host_op(state, host, op_hash)
        except Exception as exc:  # noqa: BLE001 - any escape would stop every host
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            reason = f"lost during {pyinfra_internals.operation_names(state, op_hash)} ({detail})"
            host.log_styled(reason, fg="red", log_func=logger.error)
            failed(host.name, reason)
            return False

    return run


def _interrupted(signum, frame):
    # pyinfra's own handler exits 0: an interrupted run would look converged to a script.
    logger.error("--> edgewasm: run interrupted; hosts may be between a change and its restart "
                 "or reboot: run again to finish them")
    sys.exit(130)


def watch() -> None:
    """Register the summary (once per run), isolate hosts' failures, and apply
    ``edgewasm_parallel_hosts``."""
    if signal.getsignal(signal.SIGINT) is not _interrupted:
        signal.signal(signal.SIGINT, _interrupted)
    pyinfra_internals.isolate_host_failures(_isolated)
    if not any(isinstance(h, _Summary) for h in state.callback_handlers):
        state.add_callback_handler(_Summary())
    parallel = settings.value(host.data.dict(), "edgewasm_parallel_hosts")
    # Cluster-wide: check_inventory refuses differing values.
    pyinfra_internals.bound_parallel_hosts(parallel)
