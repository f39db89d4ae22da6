import pytest

from edgewasm.arch import k3s_arch
from edgewasm.artifacts import load_catalog


@pytest.mark.parametrize("machine,arch", [
    ("x86_64", "amd64"), ("aarch64", "arm64"), ("arm64", "arm64"), ("armv7l", "arm"),
    ("armv6l", None), ("riscv64", None), ("i686", None), ("s390x", None), ("", None),
    ("X86_64\n", "amd64"),
])
def test_k3s_arch(machine, arch):
    assert k3s_arch(machine) == arch


def test_no_wasmedge_for_armv7():
    wasmedge_arch = load_catalog()["wasmedge"]["arches"].get
    assert wasmedge_arch("amd64") == "x86_64"
    assert wasmedge_arch("arm64") == "aarch64"
    assert wasmedge_arch("arm") is None
