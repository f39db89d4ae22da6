"""pyinfra deploys, one module per component; ``full_stack.py`` composes them.

Every deploy is declared with ``edgewasm_deploy`` rather than pyinfra's bare ``deploy``:
inside it ``host.data`` answers every setting with its declared default
(edgewasm/settings.py, through pyinfra's ``data_defaults``), so no deploy carries a
default of its own.
"""

from pyinfra.api import deploy

from edgewasm.settings import defaults

DEFAULTS = defaults()


def edgewasm_deploy(name: str):
    """``@edgewasm_deploy("K3s")``: pyinfra's ``@deploy`` with the declared defaults."""
    return deploy(name, data_defaults=DEFAULTS)
