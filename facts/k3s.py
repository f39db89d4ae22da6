"""Facts about K3s on a host."""

from __future__ import annotations

from edgewasm.k3s import SERVER_TOKEN
from facts import SingleLineFact


class K3sServerToken(SingleLineFact):
    """The join token a K3s server wrote (``K10...::server:...``), or ``""``. Read only
    when the operator has no token yet; pyinfra prints fact output only with --debug-facts."""

    def command(self) -> str:
        return f"cat {SERVER_TOKEN} 2>/dev/null || true"
