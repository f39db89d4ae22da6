"""The run's last word: which hosts converged, which did not, and why.

pyinfra's own results count operations; an operator of a fleet of hundreds wants the
hosts. ``watch()`` (called by full_stack.py) hooks pyinfra's state callbacks; when pyinfra
disconnects at the end of an executed run, one summary names every host that did not
converge with its reason, and the exit status (pyinfra's: non-zero when any host failed)
says whether all did. It also bounds how many hosts pyinfra talks to at once
(``edgewasm_parallel_hosts``).
"""

from __future__ import annotations

from gevent.pool import Pool
from pyinfra import host, logger, state
from pyinfra.api.state import BaseStateCallback, StateStage

from edgewasm.summary import render

# host name -> why it did not converge; the first reason wins (an edgewasm step that knows
# it, before pyinfra's generic "operation failed").
_REASONS: dict[str, str] = {}


def failed(name: str, reason: str) -> None:
    """Say why ``name`` did not converge (a refusal, a node not ready, a stopped rollout)."""
    _REASONS.setdefault(name, reason)


class _Summary(BaseStateCallback):
    printed = False

    @staticmethod
    def operation_host_error(state, host, op_hash, retry_count=0, max_retries=0):
        failed(host.name, f"operation failed: {', '.join(sorted(state.op_meta[op_hash].names))}")

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


def watch() -> None:
    """Register the summary (once per run) and apply ``edgewasm_parallel_hosts``."""
    if not any(isinstance(h, _Summary) for h in state.callback_handlers):
        state.add_callback_handler(_Summary())
    parallel = host.data.edgewasm_parallel_hosts
    # Cluster-wide (check_inventory refuses differing values): the first host sets it,
    # before any operation runs.
    if state.pool.size != parallel:
        state.config.PARALLEL = parallel
        state.pool = Pool(parallel)
