"""``edgewasm-testbed``: the local test bed's command line."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from edgewasm.arch import K3S_ARCHES
from edgewasm.testbed import (DEFAULT_TOPOLOGY, TestbedError, _nspawn_pids, boot_count, down, hosts_dir,
                              parse_topology, running_hosts, up)
from edgewasm.testbed.images import SUITES, build_base


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edgewasm-testbed", description="The local test bed of edge hosts.")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build and cache the base root filesystems")
    b.add_argument("--arch", action="append", choices=sorted(K3S_ARCHES - {"arm"}))
    b.add_argument("--suite", action="append", choices=SUITES, help="Debian release (repeatable; default: all)")
    b.add_argument("--topology", nargs="?", const=DEFAULT_TOPOLOGY,
                   help="only the bases this topology's hosts need (no value: the default test bed's)")
    u = sub.add_parser("up", help="start fresh hosts")
    u.add_argument("--topology", default=DEFAULT_TOPOLOGY, help="role:arch[:board],... (default %(default)s)")
    u.add_argument("--reuse", action="store_true", help="keep a running test bed of the same topology")
    u.add_argument("--light", action="store_true",
                   help="every host on the light K3s stand-in (no Kubernetes), as the scale tests use")
    sub.add_parser("down", help="stop all hosts and remove their state")
    sub.add_parser("status", help="list running hosts")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("edgewasm-testbed: must run as root (debootstrap, mounts, systemd-nspawn)", file=sys.stderr)
        return 2
    try:
        if args.command == "build":
            if args.topology:
                bases = sorted({(h.arch, h.suite) for h in parse_topology(args.topology)})
            else:
                bases = [(arch, suite) for suite in args.suite or SUITES for arch in args.arch or ["amd64", "arm64"]]
            for arch, suite in bases:
                print(build_base(arch, suite=suite))
        elif args.command == "up":
            up(args.topology, reuse=args.reuse, light=args.light)
        elif args.command == "down":
            down()
        else:
            for h in running_hosts():
                alive = "up" if _nspawn_pids(hosts_dir() / h.name) else "DOWN"
                print(f"{h.name}\t{h.address}\t{h.arch}\t{h.role}\t{h.board or '-'}\t{alive}\tboots={boot_count(h.name)}")
    except (TestbedError, subprocess.CalledProcessError) as exc:
        print(f"edgewasm-testbed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
