"""Host operations pyinfra lacks or gets wrong on edge boxes: reboot by boot id, kernel
modules that may be built in, and refusing a host with its reasons."""

from __future__ import annotations

import time

from pyinfra import host
from pyinfra.api import FunctionCommand, QuoteString, StringCommand, operation

from facts.host import BootId, KernelModuleStates
from operations import run_summary
from operations.fact_cache import fact_once

@operation(is_idempotent=False)
def reboot(timeout: int = 600, interval: float = 2.0, pending_marker: str | None = None):
    """
    Reboot the host and wait until it is back with a new boot id.

    pyinfra's ``server.reboot`` compares uptimes, which inside containers (and with
    some RTC-less boards) is the wrong clock; the kernel's boot id changes on every
    boot everywhere.

    + timeout: seconds to wait for the host to come back
    + interval: seconds between reconnect attempts
    + pending_marker: a file saying the reboot is owed, removed once the host is back

    **Example:**

    .. code:: python

        host_ops.reboot(name="Reboot for the new boot line", pending_marker="/var/lib/edgewasm/reboot-pending")
    """
    before: list[str | None] = []

    # Read while the operation runs (not while pyinfra prepares it), before and after.
    def remember():
        before.append(host.get_fact(BootId))

    yield FunctionCommand(remember, (), {})
    yield StringCommand("( sleep 1 && systemctl reboot ) </dev/null >/dev/null 2>&1 &")

    def wait_for_new_boot():
        time.sleep(3)
        host.disconnect()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            host.connect(show_errors=False)
            if host.connected:
                now = host.get_fact(BootId)
                if now and now != before[0]:
                    return
                host.disconnect()
            time.sleep(interval)
        raise TimeoutError(f"{host.name} did not come back from reboot within {timeout}s")

    yield FunctionCommand(wait_for_new_boot, (), {})
    if pending_marker:
        yield StringCommand("rm", "-f", QuoteString(pending_marker))


@operation()
def kernel_modules_loaded(modules: list[str]):
    """
    Load the modules the kernel does not already provide.

    Unlike ``server.modprobe`` this treats built-in modules (absent from
    ``/proc/modules``) as loaded, so it never runs ``modprobe`` where there is
    nothing to load.

    **Example:**

    .. code:: python

        host_ops.kernel_modules_loaded(modules=["overlay", "br_netfilter"])
    """
    states = fact_once(KernelModuleStates, modules=modules)
    loadable = [m for m in modules if states.get(m) == "loadable"]
    if loadable:
        yield StringCommand("modprobe", "-a", *(QuoteString(m) for m in loadable))
    else:
        host.noop(f"kernel modules {', '.join(modules)} are active")


@operation(is_idempotent=False)
def refuse(reasons: list[str]):
    """
    Fail this host, printing each reason, and change nothing on it.

    pyinfra then leaves the host out of every later operation; other hosts go on.

    **Example:**

    .. code:: python

        host_ops.refuse(reasons=["edge-7: kernel '4.19' is older than 5.4; fix: ..."])
    """
    run_summary.failed(host.name, "refused: " + " | ".join(r.removeprefix(f"{host.name}: ") for r in reasons))
    yield StringCommand("printf", "'%s\\n'", *(QuoteString(r) for r in reasons), ">&2", "&&", "exit", "1")
