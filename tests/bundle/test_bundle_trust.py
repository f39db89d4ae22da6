"""A bundle is trusted for what vouches for it outside itself: a signature by a key in
edgewasm_bundle_signers, or edgewasm_bundle_sha256; never for its own manifest alone."""

import hashlib
import json
import subprocess

import pytest

from edgewasm.bundle_trust import sign
from edgewasm.config import InventoryHost, bundle_problems
from edgewasm.manifest import Bundle

BINARY = b"\x7fELF the real k3s"


def _key(tmp_path, name):
    key = tmp_path / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
    return key


@pytest.fixture
def site(tmp_path):
    """A one-file bundle signed by the operator's key, and an allowed_signers trusting it."""
    bundle = tmp_path / "site"
    (bundle / "k3s").mkdir(parents=True)
    (bundle / "k3s" / "k3s").write_bytes(BINARY)
    _write_manifest(bundle, BINARY)
    key = _key(tmp_path, "operator")
    signers = tmp_path / "bundle_signers"
    signers.write_text(f"ops {key.with_suffix('.pub').read_text()}")
    sign(bundle, key)
    Bundle.forget(bundle)
    return bundle, signers


def _write_manifest(bundle, content, file="k3s/k3s", dest="/var/lib/edgewasm/artifacts/k3s/v1/k3s"):
    entry = {"component": "k3s", "version": "v1.35.1+k3s1", "arch": "amd64", "name": "binary", "kind": "file",
             "file": file, "dest": dest, "sha256": hashlib.sha256(content).hexdigest(), "size": len(content)}
    (bundle / "manifest.json").write_text(json.dumps({"name": "site", "artifacts": [entry], "unavailable": []}))
    Bundle.forget(bundle)


def _problems(bundle, **data):
    return bundle_problems([InventoryHost("edge-1", ["k3s_servers"], {"edgewasm_bundle": str(bundle), **data})])


def test_a_signed_bundle_is_accepted(site):
    bundle, signers = site
    assert _problems(bundle, edgewasm_bundle_signers=str(signers)) == []


def test_a_bundle_nothing_vouches_for_is_refused_by_default(site):
    bundle, _ = site
    (problem,) = _problems(bundle)
    assert "nothing outside the bundle vouches for it" in problem and "edge-1" in problem
    assert "edgewasm-bundle sign" in problem and "edgewasm_bundle_sha256" in problem


def test_the_opt_out_is_explicit_and_loud(site, caplog):
    bundle, _ = site
    assert _problems(bundle, edgewasm_bundle_unverified=True) == []
    assert "NOTHING outside the bundle vouches" in caplog.text


def test_a_rewritten_manifest_and_file_are_refused(site):
    """Swapping the binary and rewriting its digest in the manifest keeps the bundle
    self-consistent; the signature no longer verifies."""
    bundle, signers = site
    evil = b"\x7fELF someone else's k3s"
    (bundle / "k3s" / "k3s").write_bytes(evil)
    _write_manifest(bundle, evil)
    assert Bundle.open(bundle).verify() == []  # consistent with itself
    (problem,) = _problems(bundle, edgewasm_bundle_signers=str(signers))
    assert "signature does not verify" in problem and "do not deploy this copy" in problem


def test_a_signature_by_another_key_is_refused(site, tmp_path):
    bundle, signers = site
    sign(bundle, _key(tmp_path, "stranger"))
    (problem,) = _problems(bundle, edgewasm_bundle_signers=str(signers))
    assert "by no key in" in problem


def test_a_pinned_digest_vouches_too(site):
    bundle, _ = site
    digest = hashlib.sha256((bundle / "manifest.json").read_bytes()).hexdigest()
    assert _problems(bundle, edgewasm_bundle_sha256=digest) == []
    (problem,) = _problems(bundle, edgewasm_bundle_sha256="0" * 64)
    assert "not the pinned edgewasm_bundle_sha256" in problem


@pytest.mark.parametrize("file,dest,says", [
    ("../outside", "/var/lib/edgewasm/artifacts/k3s/v1/k3s", "not a plain path inside the bundle"),
    ("/etc/passwd", "/var/lib/edgewasm/artifacts/k3s/v1/k3s", "not a plain path inside the bundle"),
    ("k3s/k3s", "/usr/local/bin/k3s", "is outside /var/lib/edgewasm/artifacts"),
    ("k3s/k3s", "/var/lib/edgewasm/debs/../../../etc/apt/sources.list.d/x.list", "is outside"),
])
def test_manifest_paths_are_confined(site, file, dest, says):
    bundle, signers = site
    _write_manifest(bundle, BINARY, file=file, dest=dest)
    sign(bundle, bundle.parent / "operator")
    Bundle.forget(bundle)
    problems = _problems(bundle, edgewasm_bundle_signers=str(signers))
    assert any(says in p for p in problems), problems


def test_the_manifest_is_read_once_per_process(site):
    """Validated, then rewritten during the run: the run keeps the bytes it validated, and
    its digest and signature are of those bytes."""
    bundle, signers = site
    kept = Bundle.open(bundle)
    assert _problems(bundle, edgewasm_bundle_signers=str(signers)) == []
    (bundle / "manifest.json").write_text(json.dumps({"artifacts": [{"file": "../x"}]}))
    assert Bundle.open(bundle) is kept and kept.manifest["artifacts"][0]["file"] == "k3s/k3s"
    assert kept.sha256 == hashlib.sha256(kept.raw).hexdigest() != hashlib.sha256(
        (bundle / "manifest.json").read_bytes()).hexdigest()
