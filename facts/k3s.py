"""Facts about a host's K3s service that decide whether it must restart."""

from __future__ import annotations

from facts import SingleLineFact
from edgewasm.k3s import STARTED_INPUTS, inputs_digest_script


class InputsDigest(SingleLineFact):
    """One sha256 over the files K3s reads at start (content, link target or absence)."""

    def command(self, paths: list[str]) -> str:
        return inputs_digest_script(paths)


class StartedInputs(SingleLineFact):
    """The inputs digest recorded when K3s last got ready here ("" when never)."""

    def command(self) -> str:
        return f"cat {STARTED_INPUTS} 2>/dev/null || true"


class UnitFileEnabled(SingleLineFact):
    """``systemctl is-enabled UNIT``: ``enabled``, ``disabled``, ``static`` ..., ``""`` when
    there is no such unit. Read from the unit files on disk; systemd's ``UnitFileState``
    property (pyinfra's SystemdEnabled) is cached until the next daemon reload, so after
    ``systemctl enable --no-reload`` of a loaded unit it still says ``disabled``."""

    def requires_command(self, unit: str) -> str:
        return "systemctl"

    def command(self, unit: str) -> str:
        return f"systemctl is-enabled {unit} 2>/dev/null || true"
