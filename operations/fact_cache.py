"""The run's view of a host: facts read once per run, most of them in one batch.

pyinfra 3 asks a fact afresh on every ``host.get_fact`` and runs each operation's
generator twice; over a satellite link that was most of a converged run. Deploys list the
facts they need (``wants()``), ``prefetch`` reads them in one SSH command (facts/batch.py),
and every operation asks ``fact_once``.
"""

from __future__ import annotations

import secrets

from pyinfra import host, logger
from pyinfra.facts.server import Arch, LinuxDistribution

from edgewasm import os_releases, packaged_runtimes, settings
from edgewasm.arch import k3s_arch
from edgewasm.check_access import via_helper
from edgewasm.plan import wanted_versions
from facts.batch import FactBatch
from facts.check_access import through_helper

_FACTS: dict = {}


def _key(fact_cls, kwargs: dict) -> tuple:
    return (host.name, fact_cls, tuple(sorted((k, repr(v)) for k, v in kwargs.items())))


def _read_as(fact_cls, kwargs: dict):
    """The fact class whose command reads ``fact_cls`` on this host: itself, or, in a dry
    run connected as the nightly check's user, the same fact through its read helper
    (facts/check_access.py). The cache keeps the answer under ``fact_cls``."""
    if via_helper(host.data):
        return through_helper(fact_cls, kwargs) or fact_cls
    return fact_cls


def fact_once(fact_cls, **kwargs):
    """A fact of the host as this run found it, read once per run: from the batch
    ``prefetch`` read, else on its own (one SSH command).

    pyinfra 3 runs ``get_fact`` again on every call, and runs each operation's generator
    twice (to see whether it changes, then to execute it): the second pass must yield what
    the first promised, so it gets the same answers. What must be read after a change (a
    reboot's boot id, an installed binary's version) is read with ``host.get_fact``."""
    key = _key(fact_cls, kwargs)
    if key not in _FACTS:
        logger.debug(f"edgewasm: fact {fact_cls.__name__} {kwargs} was not prefetched on {host.name}")
        _FACTS[key] = host.get_fact(_read_as(fact_cls, kwargs), **kwargs)
    return _FACTS[key]


def prefetch(specs) -> None:
    """Read the facts ``specs`` (``(fact class, kwargs)`` pairs) that this run has not read
    yet from the host in one SSH command, for ``fact_once`` to answer. A fact whose own
    command fails is left out: asked alone, pyinfra reports it as usual."""
    todo, seen = [], set()
    for cls, kwargs in specs:
        key = _key(cls, kwargs)
        if key not in _FACTS and key not in seen:
            seen.add(key)
            todo.append((cls, kwargs))
    if not todo:
        return
    tag = secrets.token_hex(4)
    read = [(_read_as(cls, kwargs), kwargs) for cls, kwargs in todo]
    lines = host.get_fact(FactBatch, specs=read, tag=tag)
    for (cls, kwargs), value in zip(todo, FactBatch.values(read, tag, lines)):
        if not isinstance(value, FactBatch.Failed):
            _FACTS[_key(cls, kwargs)] = value


def arch() -> str | None:
    """The host's arch in K3s's words (amd64, arm64, arm), None when K3s has none."""
    return k3s_arch(fact_once(Arch) or "")


def os_release() -> str:
    """The host's OS release as os_releases.toml names it (debian-trixie ...)."""
    return os_releases.release_of(fact_once(LinuxDistribution)["release_meta"])


def host_runtimes(plan=None) -> dict:
    """The Wasm runtimes this host takes from its OS release's packages (its plan's, else
    decided from its data before any plan exists: preflight and the crun gate)."""
    if plan is not None:
        return dict(plan.packaged)
    return packaged_runtimes.packaged(host.data.dict(), os_release(), arch(), wanted_versions(host.data.dict()))


def role() -> str | None:
    """``server`` or ``agent``: which of k3s_servers / k3s_agents the host is in."""
    return settings.role(host.groups)
