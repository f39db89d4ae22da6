"""The host checks edgewasm-check runs (edgewasm.compliance.runner): Testinfra tests, one
pytest run per host. A package, so pytest imports them as ``edgewasm.compliance.checks.*``
from a checkout and from an installed edgewasm alike."""
