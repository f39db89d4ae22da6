"""Runtime names K3s owns: the containerd runtimes it writes into containerd's config
itself and the RuntimeClasses it deploys. Ours must not reuse them (edgewasm/wasm.py
places ours beside them; edgewasm/settings.py refuses an inventory that redefines one)."""

from __future__ import annotations

# Runtime names K3s writes into containerd's config itself when it finds the binary on
# PATH (pkg/agent/containerd/runtimes.go), plus runc. A template that defines one of
# these again stops containerd ("table ... already exists").
K3S_RUNTIMES = frozenset({"runc", "crun", "nvidia", "nvidia-experimental", "wasmedge", "wasmtime",
                          "wasmer", "spin", "lunatic", "slight", "wws"})
# RuntimeClass objects K3s itself deploys (handler = name); ours must not reuse the names.
K3S_RUNTIME_CLASSES = frozenset({"crun", "wasmedge", "wasmtime", "wasmer", "spin", "lunatic", "slight", "wws",
                                 "nvidia", "nvidia-experimental"})
