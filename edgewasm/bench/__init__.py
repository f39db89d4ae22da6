"""The ``edgewasm-bench`` tool package: measurements of the project's own artifacts,
not assumptions about them. A tool like edgewasm.compliance and edgewasm.bundle: it may
import edgewasm's own modules (edgewasm/*.py), facts and operations, never the other
tools (edgewasm.compliance, edgewasm.bundle, edgewasm.testbed); tests/unit/test_layers.py
keeps that rule.

- opa_wasm: our runner for OPA's Wasm compilation of a policy (OPA's Wasm ABI on Wasmtime);
- policy: the image policies (templates/policies/) evaluated as Rego by OPA and as Wasm in
  Wasmtime, on simple, medium and complex inputs: latency distribution and memory;
- the cluster bench (``edgewasm-bench INVENTORY``, __main__ and run): pod cold start,
  density, memory per pod, node CPU and image sizes per handler on a deployed cluster
  (cluster, watch, pods, coldstart, density, memory, target, report, plots).
"""
