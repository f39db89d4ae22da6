"""What a management host gets to run edgewasm-check, built on the operator's machine so
the host needs no route to PyPI: edgewasm's source (the checks ship in the package,
edgewasm/compliance/checks) as a reproducible archive, and the wheels of its dependencies for the
host's Python and arch, at the versions the operator runs.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
# The packages pyproject.toml installs, and what they read beside them; no tests/.
SOURCE = ("pyproject.toml", "README.md", "edgewasm", "deploys", "facts", "operations", "templates", "group_data")
SKIP = ("__pycache__", ".pyc", ".egg-info")
# pip's platform tags per K3s arch, newest first (glibc 2.28+: Debian 10+, Ubuntu 20.04+).
PLATFORMS = {
    "amd64": ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64"),
    "arm64": ("manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64"),
}
# The build backend pip needs for the editable install, offline.
BUILD = ("setuptools>=68",)


def source_files(root: Path = ROOT) -> list[Path]:
    found = []
    for name in SOURCE:
        path = root / name
        items = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        found += [p for p in items if not any(s in str(p.relative_to(root)) for s in SKIP)]
    return sorted(found)


def source_archive(out: Path, root: Path = ROOT) -> Path:
    """A .tar.gz of the source, byte-identical for identical files (no times, owners or
    order of its own), so an unchanged checkout uploads nothing."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in source_files(root):
            info = tarfile.TarInfo(str(path.relative_to(root)))
            data = path.read_bytes()
            info.size, info.mode, info.mtime = len(data), 0o755 if os.access(path, os.X_OK) else 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    packed = gzip.compress(buffer.getvalue(), mtime=0)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not out.exists() or out.read_bytes() != packed:
        out.write_bytes(packed)
    return out


def requirements(extras: tuple[str, ...] = ("check",)) -> list[str]:
    """edgewasm's own requirements and those of ``extras`` (installed metadata)."""
    wanted = []
    for line in metadata.requires("edgewasm") or []:
        req = Requirement(line)
        if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in extras):
            if req.name != "edgewasm":
                wanted.append(str(Requirement(f"{req.name}{req.specifier}")))
    return sorted(set(wanted)) + list(BUILD)


def constraints() -> list[str]:
    """``name==version`` of every distribution the operator runs: the host gets the same."""
    pins = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        # The installer's own tools are the host's venv's (pip) or BUILD's.
        if name and name.lower() not in ("edgewasm", "pip", "setuptools", "wheel"):
            pins[name.lower()] = f"{name}=={dist.version}"
    return sorted(pins.values())


def pip_download_args(dest: Path, python: str, arch: str, constraints_file: Path, reqs: list[str]) -> list[str]:
    if arch not in PLATFORMS:
        raise ValueError(f"no wheels for arch {arch!r}; edgewasm-check runs on {', '.join(PLATFORMS)}")
    platforms = [a for tag in PLATFORMS[arch] for a in ("--platform", tag)]
    abi = "cp" + python.replace(".", "")
    return [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(dest), "--only-binary=:all:",
            *platforms, "--python-version", python, "--implementation", "cp", "--abi", abi, "--abi", "abi3",
            "--abi", "none", "--constraint", str(constraints_file), *reqs]


def wheelhouse(python: str, arch: str, cache: Path) -> Path:
    """The wheels for ``python`` (X.Y) on ``arch``, downloaded once per set of
    requirements and pins (``cache``/<python>-<arch>-<digest>/)."""
    reqs, pins = requirements(), constraints()
    digest = hashlib.sha256(json.dumps([reqs, pins]).encode()).hexdigest()[:16]
    dest = cache / f"cp{python.replace('.', '')}-{arch}-{digest}"
    done = dest / ".complete"
    if done.exists():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    pinned = dest.parent / f".{dest.name}.constraints.txt"
    pinned.write_text("\n".join(pins) + "\n")
    result = subprocess.run(pip_download_args(dest, python, arch, pinned, reqs), capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"cannot download the wheels edgewasm-check needs for Python {python} on {arch} "
                           f"(pip says: {result.stderr.strip()[-600:]}); fix: give the operator's machine a "
                           "route to PyPI or a mirror (PIP_INDEX_URL), or set check_wheelhouse")
    done.write_text("")
    return dest


def wheels(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.whl"))
