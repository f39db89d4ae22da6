"""Where runs are kept: ``<reports>/<inventory>/<UTC timestamp>/``, the newest ``keep``.

A run directory is named by its start (``20261201T031500Z``), so names sort by time; the
previous run of an inventory is the newest other directory holding a readable report.json
(one cut short by a full disk, hand-edited or of another shape is passed over, with a
warning the new report carries). Runs of an inventory never overlap: each holds the
inventory's lock (``lock``) from before its run directory is made until it has pruned.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

RUN_NAME = re.compile(r"^\d{8}T\d{6}Z(-\d+)?$")


def inventory_name(inventory: str) -> str:
    """``inventories/site-a.py`` -> ``site-a`` (a directory name, whatever the file name)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", Path(inventory).stem) or "inventory"


def run_id(started: datetime) -> str:
    return started.strftime("%Y%m%dT%H%M%SZ")


def new_run_dir(root: Path, started: datetime) -> Path:
    """A fresh, private run directory under ``root`` (the inventory's directory)."""
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    base = run_id(started)
    for n in range(1, 1000):
        path = root / (base if n == 1 else f"{base}-{n}")
        try:
            path.mkdir(mode=0o700)
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"{root}: cannot make a run directory for {base}")


def runs(root: Path) -> list[Path]:
    """The inventory's run directories, oldest first."""
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if p.is_dir() and RUN_NAME.match(p.name)), key=_order)


def _order(path: Path) -> tuple[str, int]:
    base, _, n = path.name.partition("-")
    return base, int(n or 1)


def previous_report(root: Path, current: Path, problem: Callable[[object], str | None] = lambda r: None
                    ) -> tuple[dict | None, list[str]]:
    """(the newest earlier run's report that reads as JSON and in which ``problem`` finds
    nothing, None when there is none; a warning for each newer one passed over)."""
    warnings = []
    for path in reversed(runs(root)):
        report = path / "report.json"
        if path == current or not report.is_file():
            continue
        try:
            found = json.loads(report.read_bytes())
            wrong = problem(found)
        except (OSError, ValueError, RecursionError) as exc:
            wrong = f"{type(exc).__name__}: {exc}"[:200]
        if wrong is None:
            return found, warnings
        warnings.append(f"the report of run {path.name} is unreadable ({wrong}); passed over as the baseline")
    return None, warnings


class Locked(Exception):
    """Another run of the same inventory holds its lock (``path``), in process ``pid``."""

    def __init__(self, path: Path, pid: str):
        super().__init__(f"another run of this inventory is in progress: PID {pid} holds the lock {path}")
        self.path, self.pid = path, pid


LOCK_NAME = ".lock"


def lock(root: Path) -> int:
    """Take the inventory's exclusive lock (``root``/.lock, flock) for this process, or
    raise Locked. Returns its descriptor: the lock holds until it is closed or the process
    ends, however it ends (the kernel releases it)."""
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = root / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            os.close(fd)
            raise
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise Locked(path, holder) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def unlock(fd: int) -> None:
    os.ftruncate(fd, 0)
    os.close(fd)


def prune(root: Path, keep: int) -> list[Path]:
    """Remove all but the newest ``keep`` runs; returns what was removed."""
    old = runs(root)[:-keep] if keep > 0 else []
    for path in old:
        shutil.rmtree(path)
    return old
