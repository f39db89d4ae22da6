"""Where runs are kept: ``<reports>/<inventory>/<UTC timestamp>/``, the newest ``keep``.

A run directory is named by its start (``20261201T031500Z``), so names sort by time; the
previous run of an inventory is the newest other directory holding a report.json.
"""

from __future__ import annotations

import json
import re
import shutil
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


def previous_report(root: Path, current: Path) -> dict | None:
    for path in reversed(runs(root)):
        report = path / "report.json"
        if path != current and report.is_file():
            try:
                return json.loads(report.read_text())
            except ValueError:
                continue
    return None


def prune(root: Path, keep: int) -> list[Path]:
    """Remove all but the newest ``keep`` runs; returns what was removed."""
    old = runs(root)[:-keep] if keep > 0 else []
    for path in old:
        shutil.rmtree(path)
    return old
