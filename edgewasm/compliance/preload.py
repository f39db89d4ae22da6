"""What every host's check process needs, imported once in edgewasm-check's fork server
(edgewasm.compliance.runner) before any host's process is forked from it."""

import kubernetes_validate  # noqa: F401
import paramiko  # noqa: F401
import pytest  # noqa: F401
import testinfra  # noqa: F401
import wasmtime  # noqa: F401
import yaml  # noqa: F401
from _pytest import assertion, python, runner, terminal  # noqa: F401
from pyinfra.facts import files, server  # noqa: F401

from edgewasm import hello_wasm, plan, policy, wasm  # noqa: F401
from edgewasm.compliance import admission, applies, crd_schemas, hosts, plugin, schema  # noqa: F401
