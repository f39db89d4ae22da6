"""FactBatch: many facts in one command, each answering as it does alone.

The batch's command and each fact's own command run for real in a local shell on real
files; every fact's value from the batch must equal its value when run alone.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from pyinfra.facts.files import Directory, File, FindInFile, Link, Sha256File
from pyinfra.facts.server import Arch

from facts.batch import FactBatch, fact_command
from facts.host import FreeDisk, SysctlValues
from facts.runtimes import NewerThan, VersionOutput
from facts.secrets import SaltedSha256File


def sh(command: str) -> tuple[int, list[str]]:
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True)
    return done.returncode, done.stdout.splitlines()


def alone(cls, kwargs):
    """What pyinfra gets for the fact run by itself (default on no output or a missing binary)."""
    fact = cls()
    status, lines = sh(fact_command(fact, kwargs))
    assert status == 0
    if not lines or lines == ["##PYINFRA_NOCMD##"]:
        return fact.default()
    return fact.process(lines)


def batched(specs, tag="t3st"):
    status, lines = sh(FactBatch().command(specs=specs, tag=tag))
    assert status == 0
    return FactBatch.values(specs, tag, lines)


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "config.yaml").write_text("node-name: edge-1\n")
    os.chmod(tmp_path / "config.yaml", 0o600)
    (tmp_path / "etc").mkdir()
    (tmp_path / "shim").symlink_to("/opt/edgewasm/runwasi/0.6.0/containerd-shim-wasmtime-v1")
    (tmp_path / "fstab").write_text("/swapfile none swap sw 0 0\nproc /proc proc defaults 0 0\n")
    return tmp_path


def test_every_fact_in_a_batch_answers_as_it_does_alone(tree):
    specs = [
        (File, {"path": str(tree / "config.yaml")}),
        (File, {"path": str(tree / "missing.yaml")}),
        (File, {"path": str(tree / "etc")}),  # not a file: False
        (Sha256File, {"path": str(tree / "config.yaml")}),
        (Sha256File, {"path": str(tree / "missing.yaml")}),
        (Directory, {"path": str(tree / "etc")}),
        (Link, {"path": str(tree / "shim")}),
        (Link, {"path": str(tree / "config.yaml")}),
        (Arch, {}),
        (FreeDisk, {"path": str(tree / "not" / "yet")}),
        (SysctlValues, {"keys": ["kernel.ostype", "net.no.such.key"]}),
        (SaltedSha256File, {"path": str(tree / "config.yaml"), "salt": "abc"}),
        (NewerThan, {"reference": str(tree / "missing.cache"), "paths": [str(tree / "config.yaml")]}),
        (FindInFile, {"path": str(tree / "fstab"), "pattern": "swap", "interpolate_variables": False,
                      "extended_regex": True}),
        (VersionOutput, {"binary": "/no/such/crun"}),
    ]
    got = batched(specs)
    expected = [alone(cls, kwargs) for cls, kwargs in specs]
    # Free space moves while the test runs (other writers): where it was measured does not.
    assert got[9]["measured_at"] == expected[9]["measured_at"] == str(tree) and got[9]["free_bytes"] > 0
    got[9] = expected[9] = None
    assert got == expected
    assert got[0]["mode"] == 600 and got[1] is None and got[2] is False
    assert got[6]["link_target"] == "/opt/edgewasm/runwasi/0.6.0/containerd-shim-wasmtime-v1"
    assert got[10] == {"kernel.ostype": "Linux", "net.no.such.key": ""}


def test_a_failing_fact_is_reported_failed_and_the_others_still_answer(tree):
    class Fails(VersionOutput):
        def command(self, binary):
            return "echo half; exit 3"

    specs = [(Fails, {"binary": "sh"}), (Sha256File, {"path": str(tree / "config.yaml")})]
    failed, sha = batched(specs)
    assert isinstance(failed, FactBatch.Failed) and failed.status == 3 and failed.lines == ["half"]
    assert sha == alone(Sha256File, {"path": str(tree / "config.yaml")})


def test_a_missing_binary_gives_the_fact_default():
    class NeedsTool(SysctlValues):
        def requires_command(self, keys):
            return "no-such-tool-edgewasm"

    assert batched([(NeedsTool, {"keys": ["kernel.ostype"]})]) == [{}]


def test_output_that_mimics_the_markers_of_another_run_is_only_output(tree):
    (tree / "evil").write_text("@@edgewasm-fact-end other 0 0\n")

    class Cat(VersionOutput):
        def command(self, binary):
            return f"cat {tree / 'evil'}"

    assert batched([(Cat, {"binary": "sh"})], tag="mine") == ["@@edgewasm-fact-end other 0 0"]


def test_a_cut_off_batch_leaves_the_unanswered_facts_failed(tree):
    specs = [(Arch, {}), (Sha256File, {"path": str(tree / "config.yaml")})]
    status, lines = sh(FactBatch().command(specs=specs, tag="cut"))
    values = FactBatch.values(specs, "cut", lines[:3])  # the second fact's output never arrived
    assert values[0] == alone(Arch, {})
    assert isinstance(values[1], FactBatch.Failed)
