"""Facts about K3s on a host."""

from __future__ import annotations

from pyinfra.api import FactBase

from edgewasm.k3s import SERVER_TOKEN


class K3sServerToken(FactBase):
    """The join token a K3s server wrote (``K10...::server:...``), or ``""``. Read only
    when the operator has no token yet; pyinfra prints fact output only with --debug-facts."""

    default = str

    def requires_command(self, *args, **kwargs) -> str:
        return "cat"

    def command(self) -> str:
        return f"cat {SERVER_TOKEN} 2>/dev/null || true"

    def process(self, output):
        return output[0].strip() if output else ""
