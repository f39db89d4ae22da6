"""The compliance checker, ``edgewasm-check`` (cli): the host checks (checks: Testinfra
tests, manifests validated by schema and crd_schemas) run per host and concurrently
(runner, preload, plugin), where they apply (applies), with drift from pyinfra's dry run
(drift, drift_deploy) and versions (versions), reported in every format from one JSON
report (report, formats) kept per run (history); the packaging a management host gets
(install). Also: inventory hosts as Testinfra hosts with host keys checked (hosts), many
files' state in one command (files), and the verdicts the checks reach on kubectl and
Gatekeeper output (cluster, admission)."""
