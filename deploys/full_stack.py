"""The whole edgewasm stack, in dependency order. Each component adds itself here.

    pyinfra inventories/edge.py deploys/full_stack.py
"""

from deploys import artifacts
from deploys.preflight import preflight

if preflight():
    artifacts.place()
    # K3s (deploys/k3s.py, being proven on the test bed), Wasm runtimes and Gatekeeper
    # follow here as they land.
