"""Custom pyinfra facts about edge hosts, each parsing one command's output. Where pyinfra
has the fact (``server.Arch``, ``server.KernelVersion``, ``server.LinuxDistribution``,
``files.Sha256File``) edgewasm uses pyinfra's."""

from pyinfra.api import FactBase


class SingleLineFact(FactBase):
    """A fact whose command prints one line of interest: that line stripped, or ``""``.

    Subclasses give ``command`` (and a docstring saying what the line is)."""

    default = str

    def requires_command(self, *args, **kwargs) -> str:
        return "cat"

    def process(self, output):
        return output[0].strip() if output else ""
