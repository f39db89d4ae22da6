"""deploys/full_stack.py for a dry run, which also says at exit which hosts failed in it
and why (pyinfra's dry-run JSON lists only what would change on the hosts that did not).

Run by edgewasm.compliance.drift from the directory that holds deploys/.
"""

import atexit
import json
import os

from pyinfra import local, state

from deploys import run_summary


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
local.include("deploys/full_stack.py")
