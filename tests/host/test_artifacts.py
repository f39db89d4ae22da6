"""Each host holds exactly its own arch's artifacts, with the bundle's hashes."""

from pathlib import Path

import pytest

from edgewasm.arch import k3s_arch
from edgewasm.bundle import entries_for, load_manifest, wanted_versions


def test_bundle_artifacts_in_place_with_their_hashes(host, host_data):
    bundle = host_data.get("edgewasm_bundle")
    if not bundle:
        pytest.skip("no edgewasm_bundle: artifacts come from upstream")
    arch = k3s_arch(host.system_info.arch)
    manifest = load_manifest(Path(bundle))
    entries = entries_for(manifest, arch, host_data.get("edgewasm_role"), wanted_versions(host_data))
    assert entries, f"the bundle has nothing for {arch}"
    for entry in (e for e in entries if e["dest"]):  # "" : read on the operator's machine only
        f = host.file(entry["dest"])
        assert f.is_file, entry["dest"]
        assert f.sha256sum == entry["sha256"], entry["dest"]
        assert f.mode == 0o644 and f.user == "root"
        assert not host.file(entry["dest"].rpartition("/")[0] + "/." + entry["dest"].rpartition("/")[2]
                             + ".edgewasm-upload").exists, "no upload left half-way"


def test_no_other_arch_files(host, host_data):
    if not host_data.get("edgewasm_bundle"):
        pytest.skip("no edgewasm_bundle")
    arch = k3s_arch(host.system_info.arch)
    manifest = load_manifest(Path(host_data["edgewasm_bundle"]))
    own = {e["dest"] for e in manifest["artifacts"] if e["arch"] in (arch, "all")}
    # An arch-independent file (the wasip1/wasm hello image) has one dest for every arch.
    foreign = {e["dest"] for e in manifest["artifacts"] if e["arch"] not in (arch, "all")} - own
    assert not [d for d in foreign if host.file(d).exists]
