"""The whole edgewasm stack, in dependency order. Each component adds itself here.

    pyinfra inventories/edge.py deploys/full_stack.py
"""

from pyinfra import host

from deploys import artifacts, containerd, crun, gatekeeper, k3s, runtime_classes, runwasi, wasmedge, wasmtime
from deploys.preflight import preflight
from edgewasm.wasm import CRUN_WASM, containerd_runtimes, node_labels

# Every check (K3s's needs, the crun route's) judges the host before anything on it changes.
if preflight(crun.gate):
    artifacts.place()
    # Wasm runtimes before K3s, so that K3s finds its runtimes at its first start.
    wasmtime.wasmtime()
    wasmedge.wasmedge()
    crun_binary = crun.install()
    shims = runwasi.shims()
    template_changed = containerd.template(runtimes=containerd_runtimes(host.data.dict(), crun_binary))
    runtime_classes.runtime_classes()
    gatekeeper.gatekeeper()
    handlers = shims.handlers + ([CRUN_WASM] if crun_binary else [])
    k3s.k3s(runtime_labels=node_labels(handlers), runtimes_changed=shims.changed or template_changed)
