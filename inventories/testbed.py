"""The running local test bed (``edgewasm-testbed up``), as a pyinfra inventory.

Hosts, addresses and roles come from the test bed's state file; SSH uses the key and
known_hosts file the test bed generated, with host keys checked.
"""

from edgewasm.config import check_inventory
from edgewasm.testbed import inventory_groups

_groups = inventory_groups()
k3s_servers = _groups["k3s_servers"]
k3s_agents = _groups["k3s_agents"]
raspberry_pi = _groups["raspberry_pi"]

check_inventory(__file__, empty_fix="start the test bed first: edgewasm-testbed up")
