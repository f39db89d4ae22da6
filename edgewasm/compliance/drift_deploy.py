"""deploys/full_stack.py for a dry run, which also says at exit which hosts failed in it
and why (pyinfra's dry-run JSON lists only what would change on the hosts that did not).

pyinfra 3.10's dry-run plan reports an operation as a change only if something already
asked whether it will change: a hand-edited K3s config showed no drift. So every
operation of the host is asked here, once the deploy has declared them
(operations/pyinfra_internals.py); no command is executed.

Drift is computed per cluster, and a host's failure is its own. pyinfra loads a deploy
file for every host and ends the whole run when one host's load raises; so here:

- a host whose cluster's first server did not connect, when the cluster's tokens are
  known only there (no k3s_token / k3s_agent_token in data, no token file on this
  machine: a management host's case), is not planned at all: the deploy would read the
  tokens from that server (deploys/k3s.py) and fail. Its drift is unknown, and the reason
  names the server. Hosts whose tokens are here, and hosts of other clusters, are planned.
- any other exception while planning a host makes that host's drift unknown, with the
  exception, and the other hosts are planned.

Run by edgewasm.compliance.drift.
"""

import atexit
import json
import os
from pathlib import Path

from pyinfra import host, inventory, local, state

import deploys
from edgewasm import settings
from edgewasm.compliance.drift import first_server, unplannable
from operations import pyinfra_internals, run_summary

def _write_failed():
    failed = {h.name: run_summary.reason(h.name) or ("failed while planning (see the dry run's log)" if h.connected
                                                     else "unreachable in the dry run")
              for h in state.failed_hosts}
    failed.update({name: reason for name, reason in state.edgewasm_drift_unknown.items() if name not in failed})
    fd = os.open(os.environ["EDGEWASM_DRIFT_FAILED"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(failed, f)


def _described(exc: BaseException) -> str:
    # pyinfra wraps an exception of an included file in UnexpectedExternalError, whose
    # str() fails; the original is its ``exception``.
    cause = getattr(exc, "exception", None) or exc
    try:
        text = str(cause)
    except Exception:  # noqa: BLE001 - a message that cannot be shown: the type says enough
        text = ""
    return f"{type(cause).__name__}: {text}"[:300] if text else type(cause).__name__


# pyinfra runs a deploy file once per host, each time with fresh globals: what lasts the
# run lives on its state. Hosts whose drift is unknown for a reason found here -> it.
if not getattr(state, "edgewasm_drift_hooked", False):
    state.edgewasm_drift_hooked = True
    state.edgewasm_drift_unknown = {}
    atexit.register(_write_failed)

_data = host.data.dict()
_first = first_server(inventory.get_group("k3s_servers", []), _data)
_reason = unplannable(host.name, _data, settings.role(host.groups), _first,
                      _first is not None and _first.connected and _first not in state.failed_hosts)
if _reason:
    state.edgewasm_drift_unknown[host.name] = _reason
else:
    try:
        local.include(str(Path(deploys.__file__).with_name("full_stack.py")))
        pyinfra_internals.ask_every_operation(host)
    except Exception as exc:  # noqa: BLE001 - one host's failure must not end every host's dry run
        state.edgewasm_drift_unknown[host.name] = f"the dry run broke while planning this host ({_described(exc)})"
