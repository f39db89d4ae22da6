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
