"""The test bed's site network: an isolated LAN with no route out.

    operator (this machine, root netns)          site netns             host netns
      ew-operator 10.231.0.1/24  <-- veth -->  [ bridge site0 ]  <-- veth -->  eth0 10.231.0.11/24
                                                                 <-- veth -->  eth0 10.231.0.12/24 ...

Each host runs in its own network namespace whose only interface (beside loopback) is a
port of one bridge in a separate site namespace. Nothing on the site network has a
default route, a resolver, or a path to this machine's uplink: a package mirror or a
registry cannot be reached from a host, as on an air-gapped site. Agents reach their
server across the bridge, as on a real LAN.

The operator's machine sits on the site network as 10.231.0.1 so that pyinfra and
Testinfra reach the hosts over SSH; a firewall chain lets hosts answer those
connections and nothing else (no new connection from a host reaches this machine, and
nothing is forwarded). IPv6 is off on every link of the site, so link-local addresses
open no side door.

Every name this module creates starts with ``edgewasm-`` / ``ew-`` and only those are
ever torn down.
"""

from __future__ import annotations

import subprocess

from edgewasm.testbed.images import TestbedError

SUBNET = "10.231.0"
PREFIX = 24
OPERATOR_ADDRESS = f"{SUBNET}.1"
SITE_NETNS = "edgewasm-site"
BRIDGE = "site0"
OPERATOR_LINK = "ew-operator"
CHAIN = "EDGEWASM-SITE"
HOST_NETNS_PREFIX = "edgewasm-host-"


def host_netns(name: str) -> str:
    return HOST_NETNS_PREFIX + name


def netns_path(name: str) -> str:
    return f"/run/netns/{host_netns(name)}"


def _ip(*args: str, netns: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    cmd = ["ip", *(["-n", netns] if netns else []), *args]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise TestbedError(f"{' '.join(cmd)}: {result.stderr.strip()}")
    return result


def _sysctl(key: str, value: str, netns: str | None = None) -> None:
    prefix = ["ip", "netns", "exec", netns] if netns else []
    subprocess.run([*prefix, "sysctl", "-q", "-w", f"{key}={value}"], check=True, capture_output=True)


def _iptables(*args: str, check: bool = True) -> bool:
    result = subprocess.run(["iptables", "-w", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise TestbedError(f"iptables {' '.join(args)}: {result.stderr.strip()}")
    return result.returncode == 0


def namespaces() -> list[str]:
    out = _ip("netns", "list").stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


# Where the machine's own chains send site traffic: into CHAIN, or nowhere.
_JUMPS = (("INPUT", ["-i", OPERATOR_LINK, "-j", CHAIN]),
          ("FORWARD", ["-i", OPERATOR_LINK, "-j", "DROP"]),
          ("FORWARD", ["-o", OPERATOR_LINK, "-j", "DROP"]))


def _firewall_up() -> None:
    """Hosts may answer the operator's connections; they may start none of their own."""
    if not _iptables("-n", "-L", CHAIN, check=False):
        _iptables("-N", CHAIN)
    _iptables("-F", CHAIN)
    _iptables("-A", CHAIN, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
    _iptables("-A", CHAIN, "-j", "DROP")
    for table_chain, rule in _JUMPS:
        if not _iptables("-C", table_chain, *rule, check=False):
            _iptables("-I", table_chain, "1", *rule)


def _firewall_down() -> None:
    for table_chain, rule in _JUMPS:
        while _iptables("-D", table_chain, *rule, check=False):
            pass
    if _iptables("-n", "-L", CHAIN, check=False):
        _iptables("-F", CHAIN)
        _iptables("-X", CHAIN)


def site_up() -> None:
    """The site namespace, its bridge, and the operator's port on it (idempotent)."""
    if SITE_NETNS not in namespaces():
        _ip("netns", "add", SITE_NETNS)
        _sysctl("net.ipv6.conf.all.disable_ipv6", "1", SITE_NETNS)
        _sysctl("net.ipv6.conf.default.disable_ipv6", "1", SITE_NETNS)
        _ip("link", "add", BRIDGE, "type", "bridge", netns=SITE_NETNS)
        _ip("link", "set", BRIDGE, "up", netns=SITE_NETNS)
    if _ip("link", "show", OPERATOR_LINK, check=False).returncode != 0:
        _ip("link", "add", OPERATOR_LINK, "type", "veth", "peer", "name", "ew-op-port", "netns", SITE_NETNS)
        _sysctl(f"net.ipv6.conf.{OPERATOR_LINK}.disable_ipv6", "1")
        _ip("addr", "add", f"{OPERATOR_ADDRESS}/{PREFIX}", "dev", OPERATOR_LINK)
        _ip("link", "set", OPERATOR_LINK, "up")
        _ip("link", "set", "ew-op-port", "master", BRIDGE, "up", netns=SITE_NETNS)
    _firewall_up()


def host_up(name: str, index: int, address: str) -> str:
    """A fresh namespace for host ``name`` with ``address`` on the site; returns its path."""
    ns = host_netns(name)
    if ns in namespaces():
        _ip("netns", "del", ns)
    _ip("netns", "add", ns)
    _sysctl("net.ipv6.conf.all.disable_ipv6", "1", ns)
    _sysctl("net.ipv6.conf.default.disable_ipv6", "1", ns)
    port = f"ew-port{index}"
    _ip("link", "del", port, netns=SITE_NETNS, check=False)  # left by a crash
    _ip("link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", port, "netns", SITE_NETNS)
    _ip("link", "set", port, "master", BRIDGE, "up", netns=SITE_NETNS)
    _ip("addr", "add", f"{address}/{PREFIX}", "dev", "eth0", netns=ns)
    _ip("link", "set", "eth0", "up", netns=ns)
    _ip("link", "set", "lo", "up", netns=ns)
    return netns_path(name)


def down() -> None:
    """Remove every namespace, link and firewall rule the test bed made (also after a crash)."""
    for ns in namespaces():
        if ns.startswith(HOST_NETNS_PREFIX) or ns == SITE_NETNS:
            _ip("netns", "del", ns, check=False)
    _ip("link", "del", OPERATOR_LINK, check=False)
    _firewall_down()
