"""Host operations pyinfra lacks or gets wrong on edge boxes."""

from __future__ import annotations

import time

from pyinfra import host
from pyinfra.api import FunctionCommand, QuoteString, StringCommand, operation

from facts.host import KernelModuleStates

BOOT_ID = "cat /proc/sys/kernel/random/boot_id"


def _boot_id() -> str | None:
    ok, output = host.run_shell_command(BOOT_ID)
    return output.stdout.strip() if ok else None


@operation(is_idempotent=False)
def reboot(timeout: int = 600, interval: float = 2.0):
    """
    Reboot the host and wait until it is back with a new boot id.

    pyinfra's ``server.reboot`` compares uptimes, which inside containers (and with
    some RTC-less boards) is the wrong clock; the kernel's boot id changes on every
    boot everywhere.

    + timeout: seconds to wait for the host to come back
    + interval: seconds between reconnect attempts

    **Example:**

    .. code:: python

        host_ops.reboot(name="Reboot for the new boot line", _if=cmdline.did_change)
    """
    before: list[str | None] = []

    def remember():
        before.append(_boot_id())

    yield FunctionCommand(remember, (), {})
    yield StringCommand("( sleep 1 && systemctl reboot ) </dev/null >/dev/null 2>&1 &")

    def wait_for_new_boot():
        time.sleep(3)
        host.disconnect()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            host.connect(show_errors=False)
            if host.connected:
                now = _boot_id()
                if now and now != before[0]:
                    return
                host.disconnect()
            time.sleep(interval)
        raise TimeoutError(f"{host.name} did not come back from reboot within {timeout}s")

    yield FunctionCommand(wait_for_new_boot, (), {})


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
    states = host.get_fact(KernelModuleStates, modules=modules)
    loadable = [m for m in modules if states.get(m) == "loadable"]
    if loadable:
        yield StringCommand("modprobe", "-a", *loadable)
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
    yield StringCommand("printf", "'%s\\n'", *(QuoteString(r) for r in reasons), ">&2", "&&", "exit", "1")
