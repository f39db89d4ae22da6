"""Compliance checks against the hosts of any pyinfra inventory.

    pytest edgewasm/compliance/checks --inventory inventories/edge.py --junit-xml reports/compliance.xml

Each check runs once per host, over SSH with host keys checked. Checks read the host's
inventory data over the declared defaults (``host_data``) and its artifact plan
(``plan``, the same one the deploy placed) to know what it should look like.
"""

import json
import os
from pathlib import Path

import pytest
import yaml

from edgewasm import upstream
from edgewasm.arch import k3s_arch
from edgewasm.compliance import reads
from edgewasm.compliance.applies import Target, accepts
from edgewasm.compliance.checks.standin import LIGHT_STANDIN
from edgewasm.compliance.hosts import testinfra_host
from edgewasm.compliance.plugin import redact_report
from edgewasm.compliance.reads import K3S_CONFIG
from edgewasm.compliance.versions import reported_version
from edgewasm.config import InventoryHost, inventory_hosts
from edgewasm.k3s import K3S_BIN
from edgewasm.manifest import Bundle
from edgewasm.os_releases import release_of
from edgewasm.plan import plan as host_plan


def pytest_configure(config):
    """Reports may name hosts, paths and digests of secrets: only their owner reads them."""
    os.umask(0o077)
    config.addinivalue_line("markers", "applies(*predicates): collect the check only for hosts every "
                                       "predicate of edgewasm.compliance.applies accepts")
    junit = getattr(config.option, "xmlpath", None)
    if junit:
        Path(junit).parent.mkdir(parents=True, exist_ok=True, mode=0o700)


def pytest_addoption(parser):
    parser.addoption("--inventory", default="inventories/testbed.py",
                     help="pyinfra inventory whose hosts are checked (default: %(default)s)")
    parser.addoption("--inventory-json", default=None,
                     help="the inventory's hosts as edgewasm-check read them (skips reading it again)")
    parser.addoption("--check-host", default=None, help="check this inventory host only")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """What a failed check prints (its message, traceback, captured output) never holds a
    secret-looking value, however the checks are run (edgewasm.compliance.plugin.redact_report)."""
    outcome = yield
    redact_report(outcome.get_result())


def _hosts(config):
    if not hasattr(config, "_edgewasm_hosts"):
        path = config.getoption("--inventory-json")
        config._edgewasm_hosts = ([InventoryHost(**h) for h in json.loads(Path(path).read_text())] if path
                                  else inventory_hosts(config.getoption("--inventory")))
    return config._edgewasm_hosts


def _first_server(config):
    """The inventory's first K3s server (the one others join), or None."""
    return next((h for h in _hosts(config) if "k3s_servers" in h.groups), None)


def _checked(config):
    only = config.getoption("--check-host")
    return [h for h in _hosts(config) if only in (None, h.name)]


def pytest_generate_tests(metafunc):
    if "inventory_host" in metafunc.fixturenames:
        hosts = _checked(metafunc.config)
        metafunc.parametrize("inventory_host", hosts, ids=[h.name for h in hosts], scope="module")


def pytest_collection_modifyitems(config, items):
    """A check that does not apply to a host is not collected for it (no skip to read)."""
    first = getattr(_first_server(config), "name", None)
    targets, keep, dropped = {}, [], []
    for item in items:
        predicates = [p for mark in item.iter_markers("applies") for p in mark.args]
        inv = getattr(item, "callspec", None) and item.callspec.params.get("inventory_host")
        # No host to check (none matched): pytest's placeholder, which it skips itself.
        if not predicates or not isinstance(inv, InventoryHost):
            keep.append(item)
            continue
        if inv.name not in targets:
            targets[inv.name] = Target(inv, first, lambda cmd, inv=inv: _connection(inv, config).check_output(cmd),
                                       lambda inv=inv: _plan(_connection(inv, config), inv))
        (keep if accepts(predicates, targets[inv.name]) else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


_connections = {}


def _connection(inv_host, config):
    """The host's Testinfra connection, opened once; what its checks read is sent first as
    one command (a checked host: everything; the first server from another host's checks:
    what they compare with it)."""
    if inv_host.name not in _connections:
        host = testinfra_host(inv_host)
        first = getattr(_first_server(config), "name", None)
        access = reads.access_for(inv_host.data)
        if inv_host in _checked(config):
            host.backend.prefetch(reads.host_reads(inv_host.data, inv_host.role, inv_host.name == first, access))
        else:
            host.backend.prefetch(reads.first_server_reads(access))
        _connections[inv_host.name] = host
    return _connections[inv_host.name]


_plans = {}


def _plan(host, inventory_host):
    if inventory_host.name not in _plans:
        data = inventory_host.data
        bundle = data.get("edgewasm_bundle")
        opened = Bundle.open(bundle) if bundle else None
        _plans[inventory_host.name] = host_plan(
            inventory_host.name, data, k3s_arch(host.system_info.arch), inventory_host.role,
            bundle=opened, upstream=None if bundle else upstream.for_mirror(data.get("artifact_mirror")),
            release=release_of({"ID": host.system_info.distribution, "VERSION_CODENAME": host.system_info.codename}))
        host.backend.prefetch(reads.plan_reads(_plans[inventory_host.name], opened.manifest if opened else None))
    return _plans[inventory_host.name]


@pytest.fixture(scope="module")
def host(inventory_host, request):
    return _connection(inventory_host, request.config)


@pytest.fixture(scope="module")
def access(inventory_host):
    """How the checks read this host (edgewasm.compliance.reads.Access): as root, or as the
    nightly check's user through its read helper and its own kubeconfig."""
    return reads.access_for(inventory_host.data)


@pytest.fixture(scope="session")
def first_server_access(first_server):
    return None if first_server is None else reads.access_for(first_server.data)


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
    return _plan(host, inventory_host)


@pytest.fixture(scope="session")
def first_server(request):
    """The inventory's first K3s server (the one others join), or None."""
    return _first_server(request.config)


@pytest.fixture(scope="session")
def first_server_host(first_server, request):
    return None if first_server is None else _connection(first_server, request.config)


@pytest.fixture(scope="session")
def fleet(request):
    """Every host of the inventory (InventoryHost), for checks that span hosts."""
    return _hosts(request.config)


class K3sConfig(dict):
    """config.yaml's keys and values, shown by their keys only: pytest prints a failed
    check's arguments (its fixtures) in the host's log."""

    def __repr__(self) -> str:
        return f"<{K3S_CONFIG}, keys {sorted(map(str, self))}>"


@pytest.fixture
def k3s_config(host, access) -> K3sConfig:
    """The keys of the host's K3s config.yaml. It may hold secrets (an inlined token, an
    etcd-s3-secret-key): a check compares keys and values and names the key, and a file
    that does not parse fails naming the line only (YAML's own error quotes the text)."""
    try:
        keys = yaml.safe_load(access.file(host, K3S_CONFIG).content_string)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        pytest.fail(f"{K3S_CONFIG} is not YAML" + (f" (line {mark.line + 1})" if mark else ""), pytrace=False)
    if not isinstance(keys, dict):
        pytest.fail(f"{K3S_CONFIG} is not a mapping of K3s options", pytrace=False)
    return K3sConfig(keys)


@pytest.fixture
def cluster_host(host):
    """The first server (checks using it are marked ``applies(first_server)``), where
    cluster-level checks run through K3s's kubectl; skipped where K3s is the test bed's
    light stand-in (no Kubernetes API there): a check that cannot be made here, said so."""

    if LIGHT_STANDIN in host.check_output(f"{K3S_BIN} --version"):
        pytest.skip("test bed: this server runs the light K3s stand-in (no Kubernetes API); the verdicts "
                    "are unit-tested on kubectl/Gatekeeper-shaped output (tests/unit/test_cluster.py, test_admission.py)")
    return host


@pytest.fixture
def pinned_version(host, plan, record_property):
    """``pinned_version(component, command) -> (pin, output)``: runs ``command`` (the
    component's ``--version``) and records what the host runs against its pin, for the
    compliance report's drift, before the check asserts on it."""

    def read(component: str, command: str) -> tuple[str, str]:
        pin, output = plan.versions[component], host.run(command).stdout
        record_property("edgewasm_version", {"component": component, "pinned": pin,
                                             "running": reported_version(output)})
        return pin, output
    return read
