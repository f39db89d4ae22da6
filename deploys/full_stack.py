"""The whole edgewasm stack, in dependency order. Each component adds itself here.

    pyinfra inventories/edge.py deploys/full_stack.py
"""

from deploys import artifacts, k3s, wasmtime
from deploys.preflight import preflight

if preflight():
    artifacts.place()
    # Wasm runtimes before K3s, so that K3s finds its runtimes at its first start.
    wasmtime.wasmtime()
    k3s.k3s()
    # WasmEdge, runwasi shims, crun and Gatekeeper follow here as they land.
