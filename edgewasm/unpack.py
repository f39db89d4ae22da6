"""Wasm runtime installs that need no host: how release tarballs are unpacked."""

from __future__ import annotations

import shlex


def extract_script(tarball: str, dest: str, sha256: str) -> str:
    """A POSIX sh script that unpacks ``tarball`` into ``dest`` whole, or not at all.

    When every member sits under one top folder (WasmEdge before 0.15.0, Wasmtime) that
    folder is dropped, so ``WasmEdge-0.14.1-Linux/bin/wasmedge`` and 0.15's
    ``bin/wasmedge`` both land as ``dest/bin/wasmedge``. ``dest/.edgewasm-source-sha256``
    records which tarball it came from.

    One unpack of ``dest`` at a time (``flock`` on ``dest.edgewasm-lock``): when a run's
    SSH connection drops, its unpack may go on on the host while the next run starts one;
    the second waits, and finds the tree already whole if the first finished it.
    """
    q = shlex.quote
    new, tar, stamp = q(f"{dest}.edgewasm-new"), q(tarball), q(f"{dest}/.edgewasm-source-sha256")
    sha256 = q(sha256)
    return (
        f"set -e; mkdir -p {q(dest.rsplit('/', 1)[0] or '/')}; exec 9>{q(f'{dest}.edgewasm-lock')}; flock 9; "
        f'if [ "$(cat {stamp} 2>/dev/null)" = {sha256} ]; then exit 0; fi; '
        f"rm -rf {new}; mkdir -p {new}; "
        f"tops=$(tar -tf {tar} | cut -d/ -f1 | sort -u); strip=0; "
        f'if [ "$(echo "$tops" | wc -l)" = 1 ] && tar -tf {tar} | grep -q "^$tops/."; then strip=1; fi; '
        f"tar -xf {tar} -C {new} --strip-components=$strip --no-same-owner; "
        f"echo {sha256} > {new}/.edgewasm-source-sha256; "
        f"rm -rf {q(dest)}; mv {new} {q(dest)}"
    )
