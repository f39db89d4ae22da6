"""Facts of the nightly check's access (deploys/check_access.py), and the same facts read
through its helper (``through_helper``): a drift dry run that connects as the check user
(edgewasm.check_access.via_helper) cannot read root-only files itself, and the helper
answers each of these facts with exactly what its own command would print as root
(tests/unit/test_check_access.py, test_facts.py)."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase
from pyinfra.facts.files import Directory, File, Sha256File

from edgewasm import check_access
from edgewasm.k3s import STARTED_INPUTS
from facts import SingleLineFact
from facts.k3s import InputsDigest, StartedInputs
from facts.secrets import SaltedSha256File


class PasswdEntry(FactBase):
    """
    A user's passwd entry as a dict (``home``, ``shell``, ``uid``, ``gid``), None when there
    is no such user. Read with getent, which any user may run (no shadow file is read).
    """

    def command(self, user: str) -> str:
        return f"getent passwd {shlex.quote(user)} || true"

    def process(self, output):
        fields = output[0].split(":") if output and output[0] else []
        if len(fields) < 7:
            return None
        return {"uid": fields[2], "gid": fields[3], "home": fields[5], "shell": fields[6]}


class CheckKubeconfig(SingleLineFact):
    """The check user's kubeconfig on a server: ``current`` (what the deploy would write,
    0640 root:USER), ``stale``, or ``pending`` (K3s has not filled in the ServiceAccount's
    token yet). Run as root: it reads the token Secret and compares on the host; only the
    word leaves it."""

    def command(self, user: str) -> str:
        return check_access.kubeconfig_script(user, write=False)


def _quiet(command: str) -> str:
    # As the facts' own commands: a missing file prints nothing, and is no error.
    return f"{command} 2>/dev/null || true"


class HelperFile(File):
    def command(self, path):
        return _quiet(check_access.helper_command("stat", path))


class HelperDirectory(Directory):
    def command(self, path):
        return _quiet(check_access.helper_command("stat", path))


class HelperSha256File(Sha256File, digits=64, cmds=["sha256sum"]):
    def command(self, path):
        self.path = path  # process() matches it
        return _quiet(check_access.helper_command("sha256", path))


class HelperSaltedSha256File(SaltedSha256File):
    def command(self, path: str, salt: str) -> str:
        return check_access.helper_command("digest", salt, path)

    def process(self, output):
        found = super().process(output)
        return "" if found == "absent" else found


class HelperInputsDigest(InputsDigest):
    def command(self, paths: list[str]) -> str:
        return check_access.helper_command("inputs", *paths)


class HelperStartedInputs(StartedInputs):
    def command(self) -> str:
        return _quiet(check_access.helper_command("read", STARTED_INPUTS))


class CheckKubeconfigWorks(CheckKubeconfig):
    """As the check user: ``current`` when its kubeconfig is 0640 root:USER and lists nodes."""

    def command(self, user: str) -> str:
        return check_access.kubeconfig_works_script(user)


_BY_PATH = {File: (HelperFile, check_access.statable), Directory: (HelperDirectory, check_access.statable),
Sha256File: (HelperSha256File, check_access.readable),
            SaltedSha256File: (HelperSaltedSha256File, lambda p: check_access.readable(p) or check_access.secret(p))}


def through_helper(fact_cls, kwargs: dict):
    """The fact class that reads ``fact_cls`` with ``kwargs`` through the helper, or None
    when the fact needs no root (or the helper does not read that path: asked as it is,
    it then answers what the check user sees)."""
    if fact_cls in _BY_PATH:
        routed, allowed = _BY_PATH[fact_cls]
        return routed if allowed(kwargs.get("path")) else None
    if fact_cls is InputsDigest:
        return HelperInputsDigest if all(map(check_access.inputs_ok, kwargs.get("paths", []))) else None
    if fact_cls is StartedInputs:
        return HelperStartedInputs
    if fact_cls is CheckKubeconfig:
        return CheckKubeconfigWorks
    return None
