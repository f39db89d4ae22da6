"""Preflight on real hosts over SSH: converge, check, converge again with no change.

The tests run in file order against one fresh test bed.
"""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from edgewasm import testbed as tb

pytestmark = pytest.mark.testbed

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ROOT / "reports"


def deploy(inventory: str | Path = "inventories/testbed.py") -> tuple[int, dict, str]:
    """Run the main job; return pyinfra's exit code, its JSON results and its log."""
    result = subprocess.run(
        [sys.executable, "-m", "pyinfra", "-y", "--json", str(inventory), "deploys/full_stack.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=1800,
        env={**os.environ, "PYINFRA_PROGRESS": "off"},
    )
    start = result.stdout.find("{")
    results = json.loads(result.stdout[start:])["results"] if start >= 0 else {}
    return result.returncode, results, result.stderr


def pis(hosts):
    return [h for h in hosts if h.board == "rpi4b"]


def test_first_run_converges_and_reboots_the_pi_once(testbed):
    code, results, log = deploy()
    assert code == 0, log
    assert results["failed_hosts"] == []
    assert results["totals"]["error"] == 0
    assert results["totals"]["success"] > 0
    assert pis(testbed), "the default test bed has a Raspberry Pi"
    for pi in pis(testbed):
        assert tb.boot_count(pi.name) == 2, "one boot at start, one for the new cmdline"
    for other in (h for h in testbed if h.board is None):
        assert tb.boot_count(other.name) == 1


def test_compliance_checks_pass_on_every_host(testbed):
    REPORTS.mkdir(exist_ok=True)
    junit = REPORTS / "compliance-testbed.xml"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/host", "--inventory", "inventories/testbed.py",
         f"--junit-xml={junit}", "-p", "no:cacheprovider", "-q"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    suite = ET.parse(junit).getroot().find("testsuite")
    names = [case.get("name") for case in suite.iter("testcase")]
    for host in testbed:
        assert any(f"[{host.name}]" in n for n in names), f"no checks ran against {host.name}"
    assert int(suite.get("failures")) == 0 and int(suite.get("errors")) == 0
    pi_checks = [c for c in suite.iter("testcase")
                 if c.get("name").startswith("test_raspberry_pi_boot_line") and c.find("skipped") is None]
    assert len(pi_checks) == len(pis(testbed)), "the cmdline check really ran on the Pi"


def test_second_run_changes_nothing(testbed):
    code, results, log = deploy()
    assert code == 0, log
    assert results["totals"]["success"] == 0, [
        (op["name"], op["success"]) for op in results["operations"] if op["success"]
    ]
    assert results["totals"]["error"] == 0
    for pi in pis(testbed):
        assert tb.boot_count(pi.name) == 2, "no second reboot"


def test_refused_host_is_untouched_and_the_others_go_on(testbed, tmp_path):
    refused, other = "edge-agent-1", "edge-server-1"
    by_name = {h.name: h for h in testbed}
    for name in (refused, other):
        tb.ssh(by_name[name].address, "rm -f /etc/sysctl.d/90-k3s.conf")
    inventory = tmp_path / "testbed_old_kernel.py"
    inventory.write_text(
        "from edgewasm.config import check_inventory\n"
        "from edgewasm.testbed import inventory_groups\n"
        f"_groups = inventory_groups({{{refused!r}: {{'preflight_min_kernel': '99.0'}}}})\n"
        "k3s_servers = _groups['k3s_servers']\n"
        "k3s_agents = _groups['k3s_agents']\n"
        "check_inventory(__file__)\n"
    )
    code, results, log = deploy(inventory)
    assert code != 0, "a refused host fails the run"
    assert results["failed_hosts"] == [refused]
    assert f"{refused}: kernel" in log and "older than 99.0" in log and "fix:" in log
    changed = {name for op in results["operations"] for name in op["success"]}
    assert refused not in changed
    assert other in changed  # its sysctl file was put back
    assert tb.ssh(by_name[refused].address, "test -e /etc/sysctl.d/90-k3s.conf", check=False).returncode == 1
    assert tb.ssh(by_name[other].address, "test -e /etc/sysctl.d/90-k3s.conf", check=False).returncode == 0
