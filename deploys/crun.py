"""The crun route: Wasm through a wasm-enabled crun, K3s's ``crun`` runtime and our
``crun-wasm`` runtime (which passes the wasm annotations on to crun).

Off unless ``edgewasm_crun = True``. A crun is accepted only if ``crun --version``
shows version >= ``edgewasm_crun_min_version`` (1.8.5) **and** a ``+WASM:`` handler;
release binaries, Debian bookworm's and Ubuntu's crun have none, Debian trixie's has
(docs/wasm.md). A crun already on the host is judged before anything changes. One that
the host's release ships (edgewasm_wasm_runtimes_from, installed by preflight with the
other packages) or ``edgewasm_crun_packages`` brings can only be judged once installed:
the host then stops right after the install. A release whose crun has no wasm handler
is refused before any change.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api.exceptions import OperationError
from pyinfra.operations import apt, python

from deploys import edgewasm_deploy
from edgewasm import packaged_runtimes
from edgewasm.wasm import CRUN_FIX, crun_problems
from facts.runtimes import VersionOutput
from operations import fact_cache, host_ops


def _settings() -> tuple[str, str, list[str]]:
    return (host.data.edgewasm_crun_binary, host.data.edgewasm_crun_min_version,
            list(host.data.edgewasm_crun_packages))


def _reasons(binary: str, minimum: str, problems: list[str]) -> list[str]:
    return [f"{host.name}: {binary}: {p}" for p in problems] + [
        f"{host.name}: fix: " + CRUN_FIX.format(minimum=minimum)]


def wants() -> list:
    return [(VersionOutput, {"binary": host.data.edgewasm_crun_binary})] if host.data.edgewasm_crun else []


@edgewasm_deploy("crun gate")
def gate() -> bool:
    """Refuse this host (before any change) when the crun route is wanted and the crun
    already on it cannot run Wasm; True when the host may go on."""
    if not host.data.edgewasm_crun:
        return True
    binary, minimum, packages = _settings()
    output = fact_cache.fact_once(VersionOutput, binary=binary)
    if not output and (packages or "crun" in fact_cache.host_runtimes()):
        return True  # judged after the packages are installed (install())
    refusal = None if output else packaged_runtimes.crun_refusal(host.name, host.data.dict(), fact_cache.os_release(),
                                                            fact_cache.arch())
    if refusal:
        host_ops.refuse(name="Refuse a crun without Wasm", reasons=[refusal])
        return False
    problems = crun_problems(output, minimum)
    if problems:
        host_ops.refuse(name="Refuse a crun without Wasm", reasons=_reasons(binary, minimum, problems))
        return False
    return True


@edgewasm_deploy("crun")
def install() -> str | None:
    """Install the packages that bring crun, if any; return the crun binary the
    ``crun-wasm`` runtime uses, or None when the route is off."""
    if not host.data.edgewasm_crun:
        return None
    binary, minimum, packages = _settings()
    if not fact_cache.fact_once(VersionOutput, binary=binary) and (packages or "crun" in fact_cache.host_runtimes()):
        if packages:
            apt.packages(name="Install crun", packages=packages)
        # (The release's crun came with preflight's packages.)

        # Runs at execution, after the install: the fact is read again then.
        def check_installed_crun() -> None:
            problems = crun_problems(host.get_fact(VersionOutput, binary=binary), minimum)
            if problems:
                raise OperationError("\n".join(_reasons(binary, minimum, problems)))

        python.call(name="Check the installed crun runs Wasm", function=check_installed_crun)
    return binary
