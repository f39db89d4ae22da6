"""Every place edgewasm reaches into pyinfra past its public API, in one module.

pyinfra has no public hook for three things a fleet run needs (docs/pyinfra-upstream.md
proposes them upstream):
- keeping one host's unexpected exception to that host: ``_run_host_op_with_context``
  lets anything but OSError/SSHException escape and end every host's run;
- bounding concurrent hosts from a deploy's data: ``--parallel`` is a CLI flag, and the
  gevent pool is made before any deploy code runs;
- asking an operation in a dry run whether it will change: the plan lists an operation
  as a change only if something already asked (``_maybe_is_change`` is set lazily).

Proven on PROVEN_ON; ``missing()`` names what a different pyinfra no longer has, and
tests/unit/test_pyinfra_internals.py fails on it, so an upgrade breaks a test, not a fleet.
"""

from __future__ import annotations

import inspect
from importlib import metadata
from typing import Callable

from gevent.pool import Pool
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from pyinfra import state
from pyinfra.api import operations
from pyinfra.api.operation import OperationMeta
from pyinfra.api.state import State
from pyinfra.context import ctx_config

PROVEN_ON = SpecifierSet(">=3.10,<3.11")


def missing() -> list[str]:
    """What this module relies on that the installed pyinfra lacks (empty: all there)."""
    gaps = []
    if not callable(getattr(operations, "_run_host_op_with_context", None)):
        gaps.append("pyinfra.api.operations._run_host_op_with_context")
    if "_maybe_is_change" not in vars(OperationMeta):
        gaps.append("OperationMeta._maybe_is_change")
    source = inspect.getsource(State)
    for name in ("pool", "config"):
        if f"self.{name} = " not in source:
            gaps.append(f"State.{name}")
    for name in ("get_op_meta", "get_op_order", "get_op_data_for_host"):
        if not callable(getattr(State, name, None)):
            gaps.append(f"State.{name}()")
    return gaps


def proven() -> bool:
    return Version(metadata.version("pyinfra")) in PROVEN_ON


def _require() -> None:
    gaps = missing()
    if gaps:
        raise RuntimeError(f"edgewasm: this pyinfra ({metadata.version('pyinfra')}) lacks {', '.join(gaps)}; "
                           f"edgewasm is proven on pyinfra {PROVEN_ON}: install that")


def isolate_host_failures(wrap: Callable) -> None:
    """Wrap pyinfra's per-host operation runner with ``wrap`` (once per process)."""
    _require()
    if not getattr(operations._run_host_op_with_context, "edgewasm_isolated", False):
        wrapped = wrap(operations._run_host_op_with_context)
        wrapped.edgewasm_isolated = True
        operations._run_host_op_with_context = wrapped


def bound_parallel_hosts(parallel: int) -> None:
    """Talk to at most ``parallel`` hosts at once from here on. pyinfra gives each host's
    deploy a copy of the config (the default of every operation's ``_parallel``): set both,
    and the pool that bounds connections and facts."""
    ctx_config.get().PARALLEL = parallel
    if state.config.PARALLEL != parallel:
        state.config.PARALLEL = parallel
        state.pool = Pool(parallel)


def operation_names(the_state, op_hash: str) -> str:
    return ", ".join(sorted(the_state.get_op_meta(op_hash).names))


def ask_every_operation(host) -> None:
    """Make a dry run's plan say of each of ``host``'s operations whether it will change:
    its command generator runs against the host's facts as they are; nothing executes.
    An operation that cannot tell counts as a change (drift, not a crash)."""
    _require()
    for op_hash in state.get_op_order():
        try:
            op_data = state.get_op_data_for_host(host, op_hash)
        except KeyError:  # an operation of other hosts only
            continue
        try:
            op_data.operation_meta.will_change
        except Exception:  # noqa: BLE001 - see the docstring
            op_data.operation_meta._maybe_is_change = True
