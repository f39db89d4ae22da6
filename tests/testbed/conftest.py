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


# Modules that run, in this order, on one default test bed, each leaving it converged for
# the next: a fresh bed and its first converge on real K3s cost minutes, paid once. The
# first proves the first converge, so it comes first; the last takes the bed down.
SHARED_BED = ("test_stack_on_testbed", "test_compliance", "test_hardening", "test_check_user", "test_bench", "test_faults",
              "test_testbed_lifecycle")


def pytest_collection_modifyitems(items):
    """Modules with a bed of their own (fleets, HA) first, then SHARED_BED in its order."""
    def rank(item):
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
        return SHARED_BED.index(module) + 1 if module in SHARED_BED else 0
    items.sort(key=rank)


@pytest.fixture(scope="session")
def testbed():
    """The default test bed (amd64 server, amd64 agent, arm64 Raspberry Pi 4B), fresh for
    the first module of SHARED_BED and handed on converged to the others."""
    hosts = start_testbed()
    yield hosts
    if not os.environ.get("EDGEWASM_KEEP_TESTBED"):
        tb.down()
