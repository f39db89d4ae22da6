"""The whole edgewasm stack, in dependency order. Each component adds itself here.

    pyinfra inventories/edge.py deploys/full_stack.py
"""

from deploys import artifacts, k3s
from deploys.preflight import preflight

if preflight():
    artifacts.place()
    k3s.k3s()
    # Wasm runtimes and Gatekeeper follow here as they land.
