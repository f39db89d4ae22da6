"""Benchmark: how long the Go peers the tests use take to build, on a fresh machine and
from cache.

    python benchmarks/go_peers.py

For each of the project's Go modules under tests/ (tests/gotools: gator, opa,
Gatekeeper's manager, controller-gen; tests/kubernetes: kube-apiserver, kubectl, etcd):
`go install tool` with empty module and build caches in a temporary directory (what a
fresh machine does: download every module from the proxy, compile everything), then
again with those caches warm (a changed pin on a machine that built before), and the
lookup `./run test` makes when the binaries for this go.mod/go.sum exist. Written to
reports/bench-go-peers.json. A measurement, not a test.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.fleet_scale import timed, write_report  # noqa: E402
from tests.fixtures import gotools  # noqa: E402


def build(module: str, cache: Path) -> dict:
    out = cache / "bin"
    shutil.rmtree(out, ignore_errors=True)
    env = {**gotools.go_env(), "GOMODCACHE": str(cache / "mod"), "GOCACHE": str(cache / "build"), "GOBIN": str(out)}
    return timed(gotools.install_command(module), env, cwd=gotools.TESTS / module)


def main() -> int:
    figures = {}
    for module in gotools.MODULES:
        with tempfile.TemporaryDirectory(prefix="edgewasm-go-bench-", dir="/var/tmp") as tmp:
            cache = Path(tmp)
            figures[module] = {"programs": list(gotools.MODULES[module]),
                               "fresh": build(module, cache), "warm_cache": build(module, cache)}
    gotools.ensure()
    started = time.monotonic()
    gotools.ensure()
    figures["built_lookup_s"] = round(time.monotonic() - started, 3)
    write_report("go-peers", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
