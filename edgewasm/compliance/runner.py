"""Checking hosts: each reachable host's checks in a pytest run of its own, several hosts
at once; a host that cannot be reached gets a failed "reachable" result and no checks.

A pytest run per host keeps hosts apart (a host that hangs or breaks pytest costs only
its own results) and lets hosts be checked concurrently, which one pytest session cannot.

The hosts' check processes read the inventory from a file (``write_inventory``) that
holds no secret: they need none (secrets are compared by digests computed on the hosts).
Whatever a host's results and log say passes through edgewasm.compliance.redact, with the
raw secrets the inventory knows, before it is kept. A run that is interrupted stops every
host's check process it started (``check_all``).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from edgewasm.compliance import redact
from edgewasm.compliance.hosts import KnownHostsParamikoBackend
from edgewasm.config import InventoryHost
from edgewasm.ssh import connect_problem

# The checks ship in the package: a checkout and an installed edgewasm run the same ones.
CHECKS = Path(__file__).resolve().parent / "checks"
CONNECT_TIMEOUT = 10


@dataclass
class HostRun:
    name: str
    role: str | None
    reason: str | None = None  # why it could not be reached; None when it was
    checks: list[dict] = field(default_factory=list)
    duration_s: float = 0.0


def probe(inv_host: InventoryHost, timeout: int = CONNECT_TIMEOUT) -> str | None:
    """None when the host answers over SSH with its known host key and the inventory's
    credentials; else why not."""
    backend = KnownHostsParamikoBackend(inv_host, timeout=timeout)
    try:
        backend.client.close()
    except (paramiko.SSHException, OSError, socket.timeout, EOFError) as exc:
        return connect_problem(exc, inv_host.address, inv_host.data)
    return None


def write_inventory(hosts: list[InventoryHost], path: Path) -> None:
    """The hosts as the check processes read them (``--inventory-json``), 0600, with no
    secret in their data (edgewasm.compliance.redact.checker_data)."""
    text = json.dumps([{"name": h.name, "groups": list(h.groups), "data": redact.checker_data(h.data)}
                       for h in hosts])
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _crashed(name: str, what: str) -> dict:
    return {"host": name, "component": "host", "check": "checks_ran",
            "summary": "The host's checks ran to the end.", "fix": "read the host's log in the run directory.",
            "outcome": "error", "message": what, "duration_s": 0.0, "versions": []}


# Imported once by the fork server every host's check process is forked from.
PRELOAD = ["edgewasm.compliance.preload"]
_FORKSERVER = None


def _forkserver():
    global _FORKSERVER
    if _FORKSERVER is None:
        _FORKSERVER = multiprocessing.get_context("forkserver")
        _FORKSERVER.set_forkserver_preload(PRELOAD)
    return _FORKSERVER


def _pytest_main(argv: list[str], log: str) -> None:
    """In the forked child: pytest on one host, its output to ``log`` (0600)."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
    sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
    # Imported in the child, after its stdout/stderr point at the log: pytest binds them on import.
    import pytest

    code = pytest.main(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(code))


def pytest_argv(host: str, results: Path, inventory_json: Path, checks: list[str] | None = None) -> list[str]:
    """The pytest command line of one host's checks (``checks``: node ids under CHECKS,
    default all)."""
    return [*(checks or [str(CHECKS)]), "-p", "edgewasm.compliance.plugin",
            "--check-results", str(results), "--inventory-json", str(inventory_json),
            "--check-host", host, "-p", "no:cacheprovider", "-o", "addopts=", "-rfEs",
            # No configuration file: the checks need none (conftest.py adds their options
            # and markers), and none around them, a checkout's or a working directory's,
            # changes how they run.
            "-c", os.devnull, "--rootdir", str(CHECKS)]


# Check processes running now: an interrupted run stops them (``check_all``).
_LIVE: set = set()
_LIVE_LOCK = threading.Lock()
_STOPPING = threading.Event()


def _redact_log(log: Path, known: frozenset) -> None:
    if log.is_file():
        text = log.read_text(errors="replace")
        clean = redact.text(text, known)
        if clean != text:
            log.write_text(clean)


def check_host(inv_host: InventoryHost, inventory_json: Path, workdir: Path, timeout: int,
               known: frozenset = frozenset()) -> HostRun:
    """Probe ``inv_host``, then run its checks; the pytest log goes to workdir/logs/.
    ``known``: raw secrets no result or log may hold (redact.known_secrets)."""
    started = time.monotonic()
    run = HostRun(inv_host.name, inv_host.role, reason=probe(inv_host))
    if run.reason is None:
        results = workdir / f"results-{inv_host.name}.json"
        log = workdir / "logs" / f"{inv_host.name}.log"
        log.parent.mkdir(exist_ok=True, mode=0o700)
        argv = pytest_argv(inv_host.name, results, inventory_json)
        # A fork of a process that imported pytest, Testinfra, pyinfra and the checks'
        # libraries once: a host's checks cost their SSH round trips, not 0.7 s of imports.
        child = _forkserver().Process(target=_pytest_main, args=(argv, str(log)))
        with _LIVE_LOCK:
            if _STOPPING.is_set():
                raise RuntimeError("the run is being stopped")
            child.start()
            _LIVE.add(child)
        try:
            child.join(timeout)
            code = child.exitcode
            if code is None:
                child.kill()
                child.join()
        finally:
            with _LIVE_LOCK:
                _LIVE.discard(child)
        recorded = results.is_file()
        if recorded:
            run.checks = redact.deep(json.loads(results.read_text()), known)
            results.unlink()
        _redact_log(log, known)
        # pytest: 0 all passed, 1 some failed, 5 none collected; anything else broke the run.
        if code is None:
            run.checks.append(_crashed(inv_host.name, f"the checks took over {timeout}s and were stopped"))
        elif code not in (0, 1, 5) or not recorded:
            run.checks.append(_crashed(inv_host.name, f"pytest exited {code}: see logs/{inv_host.name}.log"))
    run.duration_s = time.monotonic() - started
    return run


def stop_all() -> None:
    """Kill every check process running now, and start no other."""
    with _LIVE_LOCK:
        _STOPPING.set()
        for child in list(_LIVE):
            child.kill()


def check_all(hosts: list[InventoryHost], inventory_json: Path, workdir: Path, parallel: int, timeout: int,
              done=None, known: frozenset = frozenset()) -> list[HostRun]:
    """Every host checked, at most ``parallel`` at once, in inventory order; ``done(run)``
    is called as each host finishes. Interrupted (SIGTERM, Ctrl-C, an error), it kills the
    check processes it started and returns at once, not when they would have finished."""
    def one(inv_host):
        run = check_host(inv_host, inventory_json, workdir, timeout, known)
        if done:
            done(run)
        return run

    _STOPPING.clear()
    pool = ThreadPoolExecutor(max_workers=parallel)
    try:
        runs = list(pool.map(one, hosts))
    except BaseException:
        stop_all()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return runs
