"""deploys/full_stack.py for a dry run, which also says at exit which hosts failed in it
and why (pyinfra's dry-run JSON lists only what would change on the hosts that did not).

pyinfra 3.10's dry-run plan reports an operation as a change only if something already
asked whether it will change: a hand-edited K3s config showed no drift. So every
operation of the host is asked here, once the deploy has declared them
(operations/pyinfra_internals.py); no command is executed.

Run by edgewasm.compliance.drift.
"""

import atexit
import json
import os
from pathlib import Path

from pyinfra import host, local, state

import deploys
from operations import pyinfra_internals, run_summary


def _write_failed():
    failed = {h.name: run_summary.reason(h.name) or "failed while planning (see the dry run's log)"
              for h in state.failed_hosts}
    fd = os.open(os.environ["EDGEWASM_DRIFT_FAILED"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(failed, f)


# pyinfra runs a deploy file once per host: hook the exit once per run.
if not getattr(state, "edgewasm_drift_hooked", False):
    state.edgewasm_drift_hooked = True
    atexit.register(_write_failed)
local.include(str(Path(deploys.__file__).with_name("full_stack.py")))
pyinfra_internals.ask_every_operation(host)
