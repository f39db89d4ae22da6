"""Many facts in one SSH command.

On an edge link every command is a round trip (50-600 ms behind LTE or satellite), and
pyinfra runs one per fact. ``FactBatch`` runs the commands of many facts, pyinfra's own
(``File``, ``Sha256File``, ``Link`` ...) and ours, as one shell script and hands each
fact exactly the lines its own command printed, so every fact means what it means when
pyinfra asks it alone. ``operations/fact_cache.prefetch`` fills the run's fact cache from it.
"""

from __future__ import annotations

from pyinfra.api import FactBase, StringCommand

# Printed before each fact's output and after it with the fact's exit status; a line a
# fact's own command could print is never mistaken for it (the run's random tag).
_BEGIN = "@@edgewasm-fact-begin"
_END = "@@edgewasm-fact-end"
MISSING_COMMAND = "##PYINFRA_NOCMD##"  # what pyinfra's own guard prints: the fact's default


def fact_command(fact: FactBase, kwargs: dict) -> str:
    """The shell command pyinfra would run for ``fact`` with ``kwargs``, its
    ``requires_command`` guard included."""
    def render(attr):
        value = attr(**kwargs) if callable(attr) else attr
        return value.get_raw_value() if isinstance(value, StringCommand) else value

    command = render(fact.command)
    required = render(fact.requires_command) if fact.requires_command else None
    if required:
        return (f"if command -v {required} >/dev/null 2>&1; then ( {command}\n); "
                f"else echo '{MISSING_COMMAND}'; fi")
    return f"( {command}\n)"


class FactBatch(FactBase):
    """
    The facts ``specs`` (a list of ``(fact class, kwargs)``), read by one command:
    ``[value, ...]`` in the same order, each ``process``-ed from its own lines, or its
    ``default()`` when its command printed nothing or its binary is missing. A fact whose
    command fails is reported as ``FactBatch.Failed`` (pyinfra would fail the host).

    .. code:: python

        host.get_fact(FactBatch, specs=[(Arch, {}), (Sha256File, {"path": "/usr/local/bin/k3s"})], tag="3f0c")
        ["x86_64", "0123..."]
    """

    class Failed:
        def __init__(self, status: int, lines: list[str]):
            self.status, self.lines = status, lines

        def __repr__(self) -> str:
            return f"FactBatch.Failed(status={self.status})"

    default = list

    def command(self, specs: list, tag: str) -> str:
        parts = []
        for index, (cls, kwargs) in enumerate(specs):
            parts.append(f"echo '{_BEGIN} {tag} {index}'; {fact_command(cls(), kwargs)}; "
                         f"echo \"{_END} {tag} {index} $?\"")
        return "\n".join(parts) + "\ntrue"

    def process(self, output):
        # The raw lines: which fact each belongs to needs the specs and tag (values()).
        return list(output)

    @staticmethod
    def values(specs: list, tag: str, lines: list[str]) -> list:
        """Each spec's value from the batch's output ``lines``."""
        results: list = [None] * len(specs)
        current, buffer = None, []
        for line in lines:
            if line.startswith(f"{_BEGIN} {tag} "):
                current, buffer = int(line.split()[2]), []
            elif line.startswith(f"{_END} {tag} ") and current is not None:
                status = int(line.split()[3])
                results[current] = _value(*specs[current], status, buffer)
                current = None
            elif current is not None:
                buffer.append(line)
        for index, value in enumerate(results):
            if value is None and not _answered(lines, tag, index):
                results[index] = FactBatch.Failed(-1, [])
        return results


def _answered(lines: list[str], tag: str, index: int) -> bool:
    return any(line.startswith(f"{_END} {tag} {index} ") for line in lines)


def _value(cls, kwargs: dict, status: int, lines: list[str]):
    fact = cls()
    fact_command(fact, kwargs)  # some facts keep their arguments there for process (Sha256File)
    if status != 0:
        return FactBatch.Failed(status, lines)
    if not lines or lines == [MISSING_COMMAND]:
        return fact.default()
    return fact.process(lines)
