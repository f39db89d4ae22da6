"""What anchors a bundle outside itself: an SSH signature over its manifest, or a pinned
digest of the manifest in the inventory.

A bundle's files are checked against its manifest (manifest.Bundle.verify); this decides
whether the manifest itself is the one the operator built. SSH signatures
(``ssh-keygen -Y sign``, OpenSSH 8.1+) because every operator already has the tool and an
SSH key, hardware keys included, and ``allowed_signers`` is OpenSSH's own trust file: no
new binary on the operator's machine, no key service (cosign's), no second key format
(minisign's). The signature covers the manifest's bytes as Bundle.open read them, and the
manifest names every file with its sha256 (binaries, images, charts, .debs), so one
signature covers every entry.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from edgewasm.manifest import MANIFEST, Bundle

NAMESPACE = "edgewasm-bundle"  # ssh-keygen -n: a signature made for anything else does not verify
SIGNATURE = f"{MANIFEST}.sig"


SIGN_FIX = ("sign it (edgewasm-bundle sign NAME --key ~/.ssh/id_ed25519) and set edgewasm_bundle_signers to an "
            "allowed_signers file with that key, or set edgewasm_bundle_sha256")
NOT_THIS_COPY = "rebuild and sign it on a trusted machine and copy it again; do not deploy this copy"


class SigningError(Exception):
    pass


def sign(bundle: Path, key: Path) -> Path:
    """Sign ``bundle``'s manifest with the SSH private key ``key`` (or its public key, with
    the private key in ssh-agent); returns the signature file."""
    manifest = bundle / MANIFEST
    (bundle / SIGNATURE).unlink(missing_ok=True)  # ssh-keygen refuses to overwrite
    done = subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-f", str(key), "-n", NAMESPACE, str(manifest)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SigningError(f"ssh-keygen could not sign {manifest} with {key}: {done.stderr.strip()}")
    return bundle / SIGNATURE


def signature_problem(bundle: Bundle, signers: Path) -> str | None:
    """None when the manifest's bytes carry a signature by a key in the ``allowed_signers``
    file ``signers``; else what is wrong, and its fix."""
    signature = bundle.path / SIGNATURE
    if bundle.raw is None:
        return f"no {MANIFEST}; fix: build the bundle with edgewasm-bundle build"
    if not signature.is_file():
        return f"it is not signed (no {SIGNATURE}); fix: {SIGN_FIX}"
    if not signers.is_file():
        return (f"edgewasm_bundle_signers {str(signers)!r} is not a file; fix: give the path of the "
                "allowed_signers file of the keys you trust")
    found = subprocess.run(["ssh-keygen", "-Y", "find-principals", "-s", str(signature), "-f", str(signers)],
                           capture_output=True, text=True)
    principals = found.stdout.split()
    if found.returncode != 0 or not principals:
        return f"its signature is by no key in {signers}; fix: {NOT_THIS_COPY}"
    for principal in principals:
        verified = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(signers), "-I", principal, "-n", NAMESPACE,
                                   "-s", str(signature)], input=bundle.raw, capture_output=True)
        if verified.returncode == 0:
            return None
    return (f"its signature does not verify against {signers} (the manifest changed after it was signed); "
            f"fix: {NOT_THIS_COPY}")


def trust_problems(bundle: Bundle, signers: str | None, pins: set[str], unverified: bool) -> list[str]:
    """Why the inventory may not trust ``bundle``, each with its fix: a pin the manifest
    does not match, a signature that does not verify, or no anchor at all (unless
    ``unverified``)."""
    problems = []
    if pins and bundle.sha256 not in pins:
        problems.append(f"{MANIFEST} has sha256 {bundle.sha256}, not the pinned edgewasm_bundle_sha256 "
                        f"{', '.join(sorted(pins))}; fix: {NOT_THIS_COPY}")
    if signers:
        problem = signature_problem(bundle, Path(signers).expanduser())
        if problem:
            problems.append(problem)
    if not pins and not signers and not unverified:
        problems.append("nothing outside the bundle vouches for it: neither edgewasm_bundle_signers nor "
                        f"edgewasm_bundle_sha256 is set; fix: {SIGN_FIX}")
    return problems
