"""A 6-host fleet (one amd64 server, 5 amd64 agents) with one host unreachable from the
start: the other 5 converge, the run's summary names the one, the exit status is
non-zero; powered on again, the next run converges it and the one after changes nothing.
Bigger fleets (16 and 48 hosts) are benchmarks: benchmarks/, docs/scale.md."""

import os

import pytest

from edgewasm import testbed as tb
from tests.testbed.conftest import start_testbed
from tests.testbed.helpers import deploy

pytestmark = pytest.mark.testbed

FLEET = ",".join(["server:amd64"] + ["agent:amd64"] * 5)


@pytest.fixture(scope="module")
def fleet():
    # Fleet behaviour, not K3s's footprint: the light stand-in.
    hosts = start_testbed(FLEET, light=True)
    yield hosts
    if not os.environ.get("EDGEWASM_KEEP_TESTBED"):
        tb.down()


def test_one_unreachable_host_of_six_fails_alone(fleet):
    lost = fleet[3]
    tb.power_off(lost.name)
    code, results, log = deploy()
    assert code != 0 and results["failed_hosts"] == [lost.name], log[-5000:]
    summary = log.split("--> edgewasm:")[-1]
    assert summary.startswith(" 5 of 6 hosts converged"), summary
    assert f"{lost.name}: unreachable" in summary
    for h in fleet:
        if h is not lost:
            unit = "k3s" if h.role == "server" else "k3s-agent"
            assert tb.ssh(h.address, f"systemctl is-active {unit}").stdout.strip() == "active", h.name

    tb.power_on(lost)
    code, results, log = deploy()
    assert code == 0, log[-5000:]
    assert log.split("--> edgewasm:")[-1].startswith(" 6 of 6 hosts converged")
    assert deploy()[1]["totals"]["success"] == 0
