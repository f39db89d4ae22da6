"""Compliance checks against the hosts of any pyinfra inventory.

    pytest tests/host --inventory inventories/edge.py --junit-xml reports/compliance.xml

Each check runs once per host, over SSH with host keys checked. Checks read the host's
inventory data over the declared defaults (``host_data``) and its artifact plan
(``plan``, the same one the deploy placed) to know what it should look like.
"""

import os
from pathlib import Path

import pytest

from edgewasm import upstream
from edgewasm.arch import k3s_arch
from edgewasm.compliance.hosts import testinfra_host
from edgewasm.config import inventory_hosts
from edgewasm.manifest import Bundle
from edgewasm.plan import plan as host_plan


def pytest_configure(config):
    """Reports may name hosts, paths and digests of secrets: only their owner reads them."""
    os.umask(0o077)
    junit = getattr(config.option, "xmlpath", None)
    if junit:
        Path(junit).parent.mkdir(parents=True, exist_ok=True, mode=0o700)


def pytest_addoption(parser):
    parser.addoption("--inventory", default="inventories/testbed.py",
                     help="pyinfra inventory whose hosts are checked (default: %(default)s)")


def _hosts(config):
    if not hasattr(config, "_edgewasm_hosts"):
        config._edgewasm_hosts = inventory_hosts(config.getoption("--inventory"))
    return config._edgewasm_hosts


def pytest_generate_tests(metafunc):
    if "inventory_host" in metafunc.fixturenames:
        hosts = _hosts(metafunc.config)
        metafunc.parametrize("inventory_host", hosts, ids=[h.name for h in hosts], scope="module")


_connections = {}


@pytest.fixture(scope="module")
def host(inventory_host):
    if inventory_host.name not in _connections:
        _connections[inventory_host.name] = testinfra_host(inventory_host)
    return _connections[inventory_host.name]


@pytest.fixture(scope="module")
def host_data(inventory_host):
    return inventory_host.data


@pytest.fixture(scope="module")
def role(inventory_host):
    """``server``, ``agent`` (from the k3s_servers / k3s_agents groups) or None."""
    return inventory_host.role


@pytest.fixture(scope="module")
def plan(host, inventory_host):
    """The host's artifact plan, for its real arch: what the deploy placed."""
    data = inventory_host.data
    bundle = data.get("edgewasm_bundle")
    return host_plan(inventory_host.name, data, k3s_arch(host.system_info.arch), inventory_host.role,
                     bundle=Bundle.open(bundle) if bundle else None,
                     upstream=None if bundle else upstream.for_mirror(data.get("artifact_mirror")))


@pytest.fixture(scope="session")
def first_server(request):
    """The inventory's first K3s server (the one others join), or None."""
    return next((h for h in _hosts(request.config) if "k3s_servers" in h.groups), None)


@pytest.fixture(scope="session")
def first_server_host(first_server):
    if first_server is None:
        return None
    if first_server.name not in _connections:
        _connections[first_server.name] = testinfra_host(first_server)
    return _connections[first_server.name]


@pytest.fixture(scope="session")
def fleet(request):
    """Every host of the inventory (InventoryHost), for checks that span hosts."""
    return _hosts(request.config)


@pytest.fixture
def cluster_host(host, inventory_host, first_server):
    """The first server, where cluster-level checks run through K3s's kubectl; skipped on
    other hosts and where K3s is the test bed's stand-in (no Kubernetes API there)."""
    from edgewasm.k3s import K3S_BIN

    if first_server is None or inventory_host.name != first_server.name:
        pytest.skip("cluster checks run on the first server only")
    if "FIXTURE" in host.check_output(f"{K3S_BIN} --version"):
        pytest.skip("test bed: the K3s stand-in has no Kubernetes API; the verdicts are unit-tested on "
                    "kubectl/Gatekeeper-shaped output (tests/unit/test_cluster.py, test_admission.py)")
    return host
