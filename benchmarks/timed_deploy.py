"""deploys/full_stack.py, timing each operation (benchmark instrumentation).

pyinfra's results carry no times: this records, per operation, the seconds from its
start to its end on every host, into the JSON file named by EDGEWASM_OP_TIMES.
"""

import json
import os
import time

from pyinfra import local, state
from pyinfra.api.state import BaseStateCallback


class _OperationTimes(BaseStateCallback):
    def __init__(self, path: str):
        self.path, self.started, self.seconds = path, {}, {}

    def operation_start(self, state, op_hash):
        self.started[op_hash] = time.monotonic()

    def operation_end(self, state, op_hash):
        name = ", ".join(sorted(state.op_meta[op_hash].names))
        self.seconds[name] = round(time.monotonic() - self.started.pop(op_hash), 3)
        with open(self.path, "w") as f:
            json.dump(self.seconds, f, indent=1)


if not any(isinstance(h, _OperationTimes) for h in state.callback_handlers):
    state.add_callback_handler(_OperationTimes(os.environ["EDGEWASM_OP_TIMES"]))
local.include("deploys/full_stack.py")
