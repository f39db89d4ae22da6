import os
import shutil

import pytest

from edgewasm import testbed as tb


def start_testbed(topology: str = tb.DEFAULT_TOPOLOGY, light: bool = False):
    if os.geteuid() != 0:
        pytest.skip("the test bed needs root (debootstrap, mounts, systemd-nspawn)")
    missing = [c for c in ("debootstrap", "systemd-nspawn", "update-binfmts", "ssh", "skopeo", "docker-registry")
               if not shutil.which(c)]
    if missing:
        pytest.skip(f"the test bed needs {', '.join(missing)}: run ./run test, which installs them")
    from tests.fixtures.testbed_bundle import ensure

    ensure()  # inventories/testbed.py deploys from bundles/testbed
    # EDGEWASM_REUSE_TESTBED (with EDGEWASM_KEEP_TESTBED): iterate on a running test bed.
    return tb.up(topology, reuse=bool(os.environ.get("EDGEWASM_REUSE_TESTBED")), light=light)


@pytest.fixture(scope="module")
def testbed():
    """A fresh default test bed (amd64 server, amd64 agent, arm64 Raspberry Pi 4B) per module."""
    hosts = start_testbed()
    yield hosts
    if not os.environ.get("EDGEWASM_KEEP_TESTBED"):
        tb.down()
