"""The running local test bed (``edgewasm-testbed up``), as a pyinfra inventory.

Hosts, addresses and roles come from the test bed's state file; SSH uses the key and
known_hosts file the test bed generated, with host keys checked.
"""

from edgewasm.config import check_inventory
from edgewasm.testbed import known_hosts, running_hosts, ssh_key

_hosts = running_hosts()


def _entry(h):
    return (h.name, {
        "ssh_hostname": h.address,
        "ssh_user": "root",
        "ssh_key": str(ssh_key()),
        "ssh_known_hosts_file": str(known_hosts()),
        "ssh_strict_host_key_checking": "yes",
        "edgewasm_arch": h.arch,
        # Packages are cached in the test bed's images; its hosts reach no mirror.
        "preflight_apt_cache_time": 0,
    })


k3s_servers = [_entry(h) for h in _hosts if h.role == "server"]
k3s_agents = [_entry(h) for h in _hosts if h.role == "agent"]
raspberry_pi = [h.name for h in _hosts if h.board == "rpi4b"]

check_inventory(__file__)
