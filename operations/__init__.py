"""edgewasm's own pyinfra operations, beside facts/ as pyinfra splits operations from facts.

- fact_cache: facts read once per run, most in one batch per host (``prefetch``, ``fact_once``)
- host_files: files, directories, links, sysctls and verified artifacts, decided from those facts
- secret_files: secrets uploaded 0600 and compared by salted digest
- host_ops: reboot by boot id, kernel modules, refusing a host
- run_summary: the run's last word per host
- pyinfra_internals: every touch of pyinfra's private internals, in one place

Deploys (deploys/) use these; nothing here imports a deploy.
"""
