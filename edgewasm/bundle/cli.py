"""``edgewasm-bundle``: build and verify offline bundles.

    edgewasm-bundle build site-a --inventory inventories/edge.py
    edgewasm-bundle build site-a --arch amd64 --arch arm64 --mirror https://mirror.example
    edgewasm-bundle build site-a --arch arm64 --os debian-bookworm --os ubuntu-noble
    edgewasm-bundle build site-a --inventory inventories/edge.py --sign-key ~/.ssh/id_ed25519
    edgewasm-bundle sign site-a --key ~/.ssh/id_ed25519   # sign (again) an existing bundle's manifest
    edgewasm-bundle verify site-a --signers bundle_signers
    edgewasm-bundle lock                     # pin what upstream publishes: edgewasm/artifacts.lock.toml
    edgewasm-bundle lock --check             # exit 1 when the lock lacks a pin or upstream changed one
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgewasm import settings
from edgewasm.artifacts import CATALOG, CatalogError, load_catalog
from edgewasm.bundle.builder import BUNDLES, BundleError, build
from edgewasm.bundle_trust import SigningError, sign, signature_problem
from edgewasm.bundle.lock import run as run_lock
from edgewasm.config import inventory_hosts
from edgewasm.download import DownloadError
from edgewasm.manifest import Bundle
from edgewasm.pins import LockError


def _inventory_needs(inventory: str) -> tuple[list[str], dict[str, str], str | None, list[str], list[str], list[dict],
                                              bool]:
    hosts = inventory_hosts(inventory)
    arches = sorted({h.data["edgewasm_arch"] for h in hosts if h.data.get("edgewasm_arch")})
    if len(arches) == 0:
        raise BundleError(f"{inventory}: no host declares edgewasm_arch; fix: set it or pass --arch")
    versions: dict[str, str] = {}
    for h in hosts:
        for component, version in h.data["artifact_versions"].items():
            if versions.setdefault(component, version) != version:
                raise BundleError(f"{inventory}: hosts want {component} {versions[component]} and {version}; "
                                  "build one bundle per version set")
    mirrors = {h.data["artifact_mirror"] for h in hosts if h.data.get("artifact_mirror")}
    if len(mirrors) > 1:
        raise BundleError(f"{inventory}: hosts name several artifact_mirror values {sorted(mirrors)}; pass --mirror")
    releases = sorted({r for h in hosts for r in h.data["edgewasm_os_releases"]})
    packages = sorted({p for h in hosts for p in h.data["preflight_packages"]})
    bench_images = any(h.data["edgewasm_bench_images"] for h in hosts)
    return arches, versions, next(iter(mirrors), None), releases, packages, [h.data for h in hosts], bench_images


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edgewasm-bundle", description="Build and verify offline bundles.")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="download, verify and write bundles/NAME")
    b.add_argument("name")
    b.add_argument("--arch", action="append", choices=["amd64", "arm64", "arm"], help="repeatable")
    b.add_argument("--inventory", help="take arches (edgewasm_arch) and artifact_versions from an inventory")
    b.add_argument("--component", action="append", help="only these components (repeatable)")
    b.add_argument("--os", action="append", dest="os_releases", metavar="RELEASE",
                   help="carry preflight_packages (and the Wasm runtimes it ships, edgewasm_wasm_runtimes_from) "
                   "for this OS release, e.g. debian-trixie (repeatable; "
                   "default: the inventory's edgewasm_os_releases, else the setting's default)")
    b.add_argument("--no-os-packages", action="store_true", help="carry no distribution packages")
    b.add_argument("--with-check-packages", action="store_true",
                   help="also carry check_packages (Python), for a management host running the nightly "
                   "check from this bundle (edgewasm/compliance/nightly.py)")
    b.add_argument("--mirror", help="internal mirror: MIRROR/<upstream host>/<upstream path> "
                   "(default: the inventory's artifact_mirror)")
    b.add_argument("--bench-images", action="store_true",
                   help="also carry the edgewasm-bench images (default: when a host of the inventory sets "
                   "edgewasm_bench_images)")
    b.add_argument("--registry-mirror", help="registry that mirrors image repositories by path")
    b.add_argument("--registry-insecure", action="store_true", help="plain HTTP / unverified TLS to the registry mirror")
    b.add_argument("--catalog", default=None, help="artifact catalogue (default: edgewasm/artifacts.toml)")
    b.add_argument("--out", default=str(BUNDLES), type=Path)
    b.add_argument("--sign-key", type=Path, help="SSH private key to sign the manifest with (manifest.json.sig)")
    v = sub.add_parser("verify", help="check every file of a bundle against its manifest")
    v.add_argument("name")
    v.add_argument("--out", default=str(BUNDLES), type=Path)
    v.add_argument("--signers", type=Path, help="OpenSSH allowed_signers file: also verify the manifest's signature")
    s = sub.add_parser("sign", help="sign a bundle's manifest with an SSH key (manifest.json.sig)")
    s.add_argument("name")
    s.add_argument("--key", required=True, type=Path, help="SSH private key (or its .pub with the key in ssh-agent)")
    s.add_argument("--out", default=str(BUNDLES), type=Path)
    lk = sub.add_parser("lock", help="pin upstream's published digests into the lock file beside the catalogue")
    lk.add_argument("--catalog", default=str(CATALOG), type=Path, help="artifact catalogue (default: %(default)s)")
    lk.add_argument("--lock", type=Path, help="lock file (default: the catalogue with suffix .lock.toml)")
    lk.add_argument("--mirror", help="internal mirror: MIRROR/<upstream host>/<upstream path> "
                    "(GitHub's API as MIRROR/api.github.com/...)")
    lk.add_argument("--registry-mirror", help="registry that mirrors image repositories by path (HOST:PORT)")
    lk.add_argument("--registry-insecure", action="store_true", help="plain HTTP to the registry mirror")
    lk.add_argument("--component", action="append", help="only these components (repeatable)")
    lk.add_argument("--arch", action="append", choices=["amd64", "arm64", "arm"],
                    help="repeatable (default: every arch the catalogue names)")
    lk.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 when a pin is missing from the lock or upstream changed it")
    args = parser.parse_args(argv)
    try:
        if args.command == "lock":
            return run_lock(args.catalog, args.lock, args.mirror, args.registry_mirror, args.registry_insecure,
                            args.component, args.arch, args.check)
        if args.command == "sign":
            print(f"signed: {sign(args.out / args.name, args.key)}")
            return 0
        if args.command == "verify":
            bundle = Bundle.open(args.out / args.name)
            problems = bundle.confinement_problems() + bundle.verify()
            if args.signers:
                problems += [f"{bundle.path}: {p}" for p in [signature_problem(bundle, args.signers)] if p]
            for p in problems:
                print(p, file=sys.stderr)
            if not problems:
                print(f"{bundle.path}: every file matches the manifest"
                      + (f", signed by a key in {args.signers}" if args.signers else ""))
            return 1 if problems else 0
        arches, versions, mirror = list(args.arch or []), {}, args.mirror
        os_releases, os_packages = settings.value({}, "edgewasm_os_releases"), settings.value({}, "preflight_packages")
        runtime_hosts: list[dict] = [{}]
        bench_images = args.bench_images
        if args.inventory:
            (inv_arches, versions, inv_mirror, os_releases, os_packages, runtime_hosts,
             inv_bench) = _inventory_needs(args.inventory)
            bench_images = bench_images or inv_bench
            arches += inv_arches
            mirror = mirror or inv_mirror
        if args.os_releases:
            os_releases = args.os_releases
        if args.with_check_packages:
            os_packages = sorted({*os_packages, *settings.value({}, "check_packages")})
        if args.no_os_packages:
            os_releases = []
        if not arches:
            parser.error("give --arch or --inventory")
        catalog = load_catalog(args.catalog) if args.catalog else None
        build(args.name, arches, versions, args.component, mirror, args.registry_mirror,
              registry_tls_verify=not args.registry_insecure, catalog=catalog, out=args.out,
              os_releases=os_releases, os_packages=os_packages, runtime_hosts=runtime_hosts,
              bench_images=bench_images)
        if args.sign_key:
            print(f"signed: {sign(args.out / args.name, args.sign_key)}")
    except (BundleError, CatalogError, DownloadError, LockError, SigningError) as exc:
        print(f"edgewasm-bundle: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
