"""A missing or tampered bundle file stops the run before any host is contacted."""

import shutil
import subprocess
import sys
from pathlib import Path

from edgewasm import bundle

ROOT = Path(__file__).resolve().parents[2]


def run_fleet(tmp_path: Path, bundle_dir: Path) -> subprocess.CompletedProcess:
    inventory = tmp_path / "site.py"
    # TEST-NET-1 addresses: nothing answers there, and the run must not even try.
    inventory.write_text(
        "from edgewasm.config import check_inventory\n"
        f"_b = {{'edgewasm_bundle': {str(bundle_dir)!r}}}\n"
        "k3s_servers = [('srv', {'ssh_hostname': '192.0.2.1', 'edgewasm_arch': 'amd64', **_b})]\n"
        "k3s_agents = [('pi', {'ssh_hostname': '192.0.2.2', 'edgewasm_arch': 'arm64', **_b})]\n"
        "check_inventory(__file__)\n"
    )
    return subprocess.run([sys.executable, "-m", "pyinfra", "-y", str(inventory), "deploys/full_stack.py"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_manifest_first_then_refusal_of_a_tampered_copy(mirror, tmp_path):
    manifest = bundle.build("site", ["amd64", "arm64"], mirror=mirror.url, registry_mirror=mirror.registry,
                            registry_tls_verify=False, catalog=mirror.catalog, out=tmp_path, progress=False)
    assert len(manifest["artifacts"]) == 19  # 9 per arch (hello-wasm image included) and the chart
    copy = tmp_path / "carried"
    shutil.copytree(tmp_path / "site", copy)
    entry = next(e for e in manifest["artifacts"] if e["component"] == "k3s" and e["arch"] == "arm64")
    (copy / entry["file"]).write_bytes(b"#!/bin/sh\necho owned\n")
    result = run_fleet(tmp_path, copy)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Connecting to hosts" not in output
    assert entry["file"] in output and entry["sha256"] in output and "actual" in output
    assert "fix: rebuild it" in output


def test_missing_bundle_file_is_refused(mirror, tmp_path):
    manifest = bundle.build("site", ["amd64"], mirror=mirror.url, catalog=mirror.catalog,
                            components=["wasmtime"], out=tmp_path, progress=False)
    (tmp_path / "site" / manifest["artifacts"][0]["file"]).unlink()
    output = run_fleet(tmp_path, tmp_path / "site")
    assert output.returncode != 0 and "missing (expected sha256" in output.stderr + output.stdout
    assert "Connecting to hosts" not in output.stderr + output.stdout


def _rewrite_manifest_to_match(copy: Path, entry: dict, payload: bytes) -> None:
    """What an attacker with write access to the bundle does: swap a file and fix the
    manifest beside it."""
    import hashlib
    import json

    (copy / entry["file"]).write_bytes(payload)
    manifest = json.loads((copy / "manifest.json").read_text())
    for e in manifest["artifacts"]:
        if e["file"] == entry["file"]:
            e["sha256"], e["size"] = hashlib.sha256(payload).hexdigest(), len(payload)
    (copy / "manifest.json").write_text(json.dumps(manifest))


def test_a_rewritten_manifest_is_caught_by_its_pinned_digest(mirror, tmp_path):
    manifest = bundle.build("site", ["amd64", "arm64"], mirror=mirror.url, registry_mirror=mirror.registry,
                            registry_tls_verify=False, catalog=mirror.catalog, out=tmp_path, progress=False)
    pinned = bundle.sha256_of(tmp_path / "site" / "manifest.json")
    copy = tmp_path / "carried"
    shutil.copytree(tmp_path / "site", copy)
    entry = next(e for e in manifest["artifacts"] if e["component"] == "k3s" and e["arch"] == "arm64")
    _rewrite_manifest_to_match(copy, entry, b"#!/bin/sh\necho owned\n")
    assert bundle.verify(copy) == []  # the bundle alone cannot tell
    inventory = tmp_path / "pinned.py"
    inventory.write_text(
        "from edgewasm.config import check_inventory\n"
        f"_b = {{'edgewasm_bundle': {str(copy)!r}, 'edgewasm_bundle_sha256': {pinned!r},"
        " 'policy_allowed_repos': ['docker.io/edgewasm/']}\n"
        "k3s_servers = [('srv', {'ssh_hostname': '192.0.2.1', 'edgewasm_arch': 'amd64', **_b})]\n"
        "check_inventory(__file__)\n"
    )
    result = subprocess.run([sys.executable, "-m", "pyinfra", "-y", str(inventory), "deploys/full_stack.py"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Connecting to hosts" not in output
    assert f"not the pinned edgewasm_bundle_sha256 {pinned}" in output


def test_a_rewritten_manifest_is_caught_by_the_catalogues_pins(mirror, tmp_path):
    from edgewasm.manifest import Bundle

    manifest = bundle.build("site", ["amd64"], mirror=mirror.url, catalog=mirror.catalog,
                            components=["wasmtime"], out=tmp_path, progress=False)
    entry = manifest["artifacts"][0]
    _rewrite_manifest_to_match(tmp_path / "site", entry, b"not wasmtime")
    (problem,) = Bundle.open(tmp_path / "site").catalogue_mismatches(mirror.catalog)
    pin = mirror.catalog["wasmtime"]["files"][0]["sha256"]["amd64"]
    assert entry["file"] in problem and f"the catalogue pins {pin}" in problem
