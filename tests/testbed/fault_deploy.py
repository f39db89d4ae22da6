"""deploys/full_stack.py with the fault EDGEWASM_FAULT injected (see faults.py)."""

import os

from pyinfra import local, state

from tests.testbed import faults

faults.inject(state, os.environ["EDGEWASM_FAULT"])
local.include("deploys/full_stack.py")
