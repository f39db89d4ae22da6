"""What the checks know of the test bed's light K3s stand-in (a machine that runs no
Kubernetes): how the host and its inventory data say so. Shared by conftest.py and the
check modules; a plain module, so checks import it as package code, not from conftest."""

# What the test bed's K3s stand-in says in `k3s --version` on a machine without Kubernetes.
LIGHT_STANDIN = "FIXTURE light stand-in"


def light_standin(data) -> bool:
    """The test bed says this host runs the light K3s stand-in: no node of it joins."""
    return bool(data.get("testbed_k3s_light"))
