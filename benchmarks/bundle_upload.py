"""Benchmark: bundle size per arch with and without distribution packages; bytes sent to
each host and wall time, first deploy and re-run, from the bundle, on the isolated site
network (hosts lack preflight_packages and install them from the bundle).

    python benchmarks/bundle_upload.py        # as root; starts a fresh test bed

Bytes are counted by the kernel (iptables counters on traffic to each host's sshd), so
they include SSH and command overhead, not only file contents. Results are printed and
written to reports/bench-bundle-upload.json. A benchmark, not a test: it asserts nothing
about time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

from edgewasm import os_releases  # noqa: E402
from edgewasm import testbed as tb  # noqa: E402
from edgewasm.manifest import Bundle  # noqa: E402
from edgewasm.plan import plan  # noqa: E402
from edgewasm.testbed import network  # noqa: E402
from tests.fixtures.testbed_bundle import ensure  # noqa: E402

CHAIN = "EDGEWASM_BENCH"


def iptables(*args: str, check: bool = True) -> str:
    return subprocess.run(["iptables", "-w", *args], check=check, capture_output=True, text=True).stdout


def counters() -> dict[str, int]:
    """destination address -> bytes, from the accounting rules (one per host)."""
    result = {}
    for line in iptables("-L", CHAIN, "-v", "-x", "-n").splitlines()[2:]:
        fields = line.split()
        destination = next(f for f in fields if f.startswith(network.SUBNET + "."))
        result[destination] = int(fields[1])
    return result


def bundle_sizes(manifest: dict) -> dict[str, dict[str, int]]:
    """Per arch: bytes of the files a host of that arch can take, without and with the
    distribution packages (arch-independent files counted in every arch)."""
    sizes = {}
    for arch in manifest["arches"]:
        dpkg = os_releases.DPKG_ARCH[arch]
        base = sum(e["size"] for e in manifest["artifacts"]
                   if e["component"] != os_releases.COMPONENT and e["arch"] in (arch, "all"))
        debs = sum(e["size"] for e in manifest["artifacts"] if e["component"] == os_releases.COMPONENT
                   and e["arch"] == dpkg)
        sizes[arch] = {"without_packages": base, "with_packages": base + debs, "packages": debs}
    return sizes


def deploy() -> tuple[float, dict]:
    iptables("-Z", CHAIN)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pyinfra", "-y", "--json", "inventories/testbed.py",
                           "deploys/full_stack.py"], capture_output=True, text=True,
                          env={**os.environ, "PYINFRA_PROGRESS": "off"})
    wall = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"deploy failed:\n{proc.stderr[-3000:]}")
    return wall, json.loads(proc.stdout[proc.stdout.find("{"):])["results"]


def main() -> int:
    if subprocess.run(["which", "iptables"], capture_output=True).returncode != 0:
        sys.exit("needs iptables: apt-get install iptables")
    bundle = ensure()
    hosts = tb.up()
    iptables("-N", CHAIN, check=False)
    iptables("-F", CHAIN)
    iptables("-D", "OUTPUT", "-j", CHAIN, check=False)
    iptables("-I", "OUTPUT", "-j", CHAIN)
    for h in hosts:
        iptables("-A", CHAIN, "-d", f"{h.address}/32", "-p", "tcp", "--dport", "22")
    try:
        opened = Bundle.open(bundle)
        runs = {}
        for label in ("first", "rerun"):
            wall, results = deploy()
            sent = counters()
            runs[label] = {
                "wall_seconds": round(wall, 1),
                "changed_operations": results["totals"]["success"],
                "bytes_to_host": {h.name: sent.get(h.address, 0) for h in hosts},
            }
        # What each host's plan takes from the bundle (as the deploy computes it).
        # A fresh host lacks preflight_packages: it takes its release's whole closure too.
        payload = {h.name: sum(p.size for p in plan(h.name, {}, h.arch, h.role, bundle=opened).placements if p.dest)
                   + sum(e["size"] for e in opened.manifest["artifacts"] if e["component"] == os_releases.COMPONENT
                         and e["arch"] == os_releases.DPKG_ARCH[h.arch])
                   for h in hosts}
    finally:
        iptables("-D", "OUTPUT", "-j", CHAIN, check=False)
        iptables("-F", CHAIN, check=False)
        iptables("-X", CHAIN, check=False)
        if not os.environ.get("EDGEWASM_KEEP_TESTBED"):
            tb.down()
    sizes = bundle_sizes(opened.manifest)
    report = {"bundle_bytes_per_arch": sizes, "bundle_payload_bytes": payload, **runs}
    Path("reports").mkdir(exist_ok=True)
    Path("reports/bench-bundle-upload.json").write_text(json.dumps(report, indent=2) + "\n")
    for arch, size in sizes.items():
        print(f"bundle {arch}: {size['without_packages']:,} bytes without packages, "
              f"{size['with_packages']:,} with ({size['packages']:,} of .debs)")
    print(f"{'host':<16}{'payload':>14}{'first run':>14}{'re-run':>12}")
    for h in hosts:
        print(f"{h.name:<16}{payload[h.name]:>14,}{runs['first']['bytes_to_host'][h.name]:>14,}"
              f"{runs['rerun']['bytes_to_host'][h.name]:>12,}")
    print(f"wall time: first {runs['first']['wall_seconds']} s, re-run {runs['rerun']['wall_seconds']} s; "
          f"changed operations: first {runs['first']['changed_operations']}, "
          f"re-run {runs['rerun']['changed_operations']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
