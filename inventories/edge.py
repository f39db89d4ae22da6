"""Example fleet: one K3s server, x86 agents and Raspberry Pi 4B agents.

Edit the hosts and their data, then:

    pyinfra inventories/edge.py deploys/full_stack.py

Groups give roles: k3s_servers and k3s_agents. Every setting, its default and what it does
is listed in docs/settings.md (and, commented out, in group_data/all.py); override it per
group or per host here. The whole inventory is validated before any host is contacted.
"""

from edgewasm.config import check_inventory

_ssh = {
    "ssh_user": "root",
    "ssh_key": "~/.ssh/edge_fleet_ed25519",
    # Host keys are checked: collect them once (ssh-keyscan, compare fingerprints).
    "ssh_known_hosts_file": "~/.ssh/edge_fleet_known_hosts",
    "ssh_strict_host_key_checking": "yes",
}

k3s_servers = [
    ("edge-srv-01", {**_ssh, "ssh_hostname": "192.0.2.10", "edgewasm_arch": "amd64"}),
]

k3s_agents = [
    ("edge-x86-01", {**_ssh, "ssh_hostname": "192.0.2.21", "edgewasm_arch": "amd64"}),
    ("edge-x86-02", {**_ssh, "ssh_hostname": "192.0.2.22", "edgewasm_arch": "amd64"}),
    # Raspberry Pi 4B on 64-bit Raspberry Pi OS. Preflight adds the memory cgroup to
    # /boot/firmware/cmdline.txt and reboots them once.
    ("edge-pi-01", {**_ssh, "ssh_hostname": "192.0.2.31", "edgewasm_arch": "arm64"}),
    ("edge-pi-02", {**_ssh, "ssh_hostname": "192.0.2.32", "edgewasm_arch": "arm64",
                    # An SD card is small: ask for less than the default.
                    "preflight_min_disk_gb": 3}),
]

# Cluster-wide K3s settings (docs/k3s.md). The join token lives in
# secrets/edge.token (0600, generated on the first run), never in this file.
all = (
    [*(h for h, _ in k3s_servers), *(h for h, _ in k3s_agents)],
    {
        "k3s_cluster_name": "edge",
        "k3s_tls_san": ["k3s.edge.example"],
        "k3s_disable": ["traefik"],
        "k3s_kubeconfig_fetch": "kubeconfig/edge.yaml",
        # Image policies (docs/policies.md): where pods may pull from. "yourhub" trusts
        # yourhub/..., never yourhub-evil/...
        "policy_allowed_repos": ["registry.edge.example", "docker.io/edgewasm/"],
    },
)

# Boards that get this site's group_data/raspberry_pi.py (swap off). Preflight recognises a Pi by
# its device tree either way; the group is for settings.
raspberry_pi = ["edge-pi-01", "edge-pi-02"]

check_inventory(__file__)
