"""The whole edgewasm stack, in dependency order. Each component adds itself here.

    pyinfra inventories/edge.py deploys/full_stack.py

Each step's result is handed on explicitly: preflight's verdict, the host's artifact
plan (which files, which runtimes), the crun binary, whether K3s must restart.
"""

from pyinfra import host

from deploys import (artifacts, check_access, containerd, crun, edgewasm_deploy, gatekeeper, k3s, preflight,
                     runtime_classes, runwasi, wasmedge, wasmtime)
from edgewasm.config import check_running_inventory
from edgewasm.wasm import containerd_runtimes, node_labels
from operations import fact_cache, run_summary

# The inventory as pyinfra runs it (--data included) is checked here too: a problem stops
# the run before any operation, also for an inventory that never called check_inventory.
check_running_inventory()
# The end-of-run summary of converged and failed hosts, and the bound on parallel hosts.
run_summary.watch()

# What a converged host needs to be found converged is read in two SSH commands: every
# fact that does not depend on the host's plan, then (its arch known) those that do.
K3S_INPUTS = (*runwasi.shim_paths(), *containerd.TEMPLATE_PATHS)


@edgewasm_deploy("Read the host")
def read_host() -> None:
    fact_cache.prefetch([*preflight.wants(), *crun.wants(), *wasmtime.wants(), *runwasi.wants(), *containerd.wants(),
                       *runtime_classes.wants(), *gatekeeper.wants(), *k3s.wants(K3S_INPUTS), *check_access.wants()])


@edgewasm_deploy("Read the host's artifacts")
def read_artifacts(plan) -> None:
    fact_cache.prefetch([*artifacts.wants(plan), *wasmedge.wants(plan)])


read_host()
# Every check (K3s's needs, the crun route's) judges the host before anything on it changes.
if preflight.preflight(crun.gate):
    plan = artifacts.host_plan()
    read_artifacts(plan)
    plan = artifacts.place(plan)
    # A host the plan refuses (its bundle lacks its arch, Wasm required where none is
    # built) gets nothing more: place() already failed it with the reasons.
    if not plan.refused:
        # Wasm runtimes before K3s, so that K3s finds its runtimes at its first start.
        wasmtime.wasmtime(plan)
        wasmedge.wasmedge(plan)
        crun_binary = crun.install()
        shims_changed = runwasi.shims(plan)
        template_changed = containerd.template(plan, runtimes=containerd_runtimes(host.data.dict(), crun_binary))
        runtime_classes.runtime_classes()
        gatekeeper.gatekeeper(plan)
        k3s.k3s(plan, runtime_labels=node_labels(plan.handlers),
                runtimes_changed=shims_changed or template_changed,
                runtime_inputs=K3S_INPUTS)
        # The nightly check's own user, helper, sudo rule and (servers) cluster identity:
        # after K3s, whose API writes the ServiceAccount's token.
        check_access.check_access()
