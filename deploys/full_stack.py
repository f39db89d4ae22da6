"""The whole edgewasm stack, in dependency order. Each component adds itself here.

    pyinfra inventories/edge.py deploys/full_stack.py
"""

from deploys.preflight import preflight

if preflight():
    pass  # K3s, Wasm runtimes and Gatekeeper follow here as they land.
