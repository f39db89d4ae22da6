"""The compliance checker, ``edgewasm-check`` (cli; ``python -m edgewasm.compliance``,
__main__, also exits 2 when it cannot be imported): the host checks (checks: Testinfra
tests, manifests validated by schema and crd_schemas) run per host and concurrently
(runner, preload, plugin), where they apply (applies), with drift from pyinfra's dry run
(drift, drift_deploy) and versions (versions), reported in every format from one JSON
report (report, formats) kept per run (history); the packaging a management host gets
(install). Also: inventory hosts as Testinfra hosts with host keys checked (hosts), many
files' state in one command (files), and the verdicts the checks reach on kubectl and
Gatekeeper output (cluster, admission); what no report may carry (redact)."""
