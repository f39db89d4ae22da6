"""The nightly check's least privilege on every fleet host (docs/compliance.md, "Least
privilege"), when ``check_access_key`` is set:

- a system user ``check_access_user`` (a shell, for Testinfra's commands; no usable
  password) whose one authorized_keys line is the check key, ``restrict``-ed and accepted
  only ``from`` the management hosts (``check_access_from``);
- the read helper (root's, 0755) and a sudoers drop-in (0440, checked with ``visudo -cf``
  before it takes its place) letting that user run the helper, and nothing else, as root;
- on servers, a ServiceAccount with a long-lived token and the rights the checks need
  (K3s's auto-deploy directory), and a kubeconfig for the user (0640 root:user) that a root
  command writes on the server from the token Secret: the token never leaves the host.

What to put is decided in edgewasm/check_access.py. A re-run changes nothing. Unset, it
does nothing (it removes nothing either: taking access away is an operator's decision).
"""

from __future__ import annotations

import shlex
from pathlib import Path

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.facts.server import Which

from deploys import edgewasm_deploy
from edgewasm import check_access as access
from edgewasm import settings
from facts.check_access import CheckKubeconfig, PasswdEntry
from operations import fact_cache, host_files, host_ops

SHELL = "/bin/sh"


def home(user: str) -> str:
    return f"/var/lib/{user}"


def wants() -> list:
    """Every fact ``check_access()`` reads, for ``fact_cache.prefetch``."""
    if not host.data.get("check_access_key"):
        return []
    user = settings.value(host.data.dict(), "check_access_user")
    keys = f"{home(user)}/.ssh/authorized_keys"
    specs = [(PasswdEntry, {"user": user}), (Which, {"command": "visudo"}),
             *host_files.wants_directory(home(user)), *host_files.wants_directory(f"{home(user)}/.ssh"),
             *host_files.wants_file(keys), *host_files.wants_directory(str(Path(access.HELPER).parent)),
             *host_files.wants_file(access.HELPER), *host_files.wants_file(access.SUDOERS)]
    if fact_cache.role() == "server":
        specs += [*host_files.wants_file(access.RBAC_MANIFEST), (CheckKubeconfig, {"user": user})]
    return specs


@operation()
def system_user(user: str, home: str, shell: str):
    """
    A system user ``user`` (its own group) with ``home`` and ``shell`` and no usable
    password (``*``: not a locked ``!``, which sshd without PAM refuses even for a key).
    Read with getent (facts/check_access.PasswdEntry): no shadow file is read.

    **Example:**

    .. code:: python

        system_user(user="edgewasm-check", home="/var/lib/edgewasm-check", shell="/bin/sh")
    """
    entry = fact_cache.fact_once(PasswdEntry, user=user)
    if entry is None:
        yield StringCommand("useradd", "--system", "--user-group", "--no-create-home", "--home-dir", home,
                            "--shell", shell, "--password", shlex.quote("*"), user)
    elif (entry["home"], entry["shell"]) != (home, shell):
        yield StringCommand("usermod", "--home", home, "--shell", shell, user)
    else:
        host.noop(f"user {user} exists with home {home} and shell {shell}")


@operation()
def check_kubeconfig(user: str):
    """
    The check user's kubeconfig on a server (edgewasm.check_access.CHECK_KUBECONFIG),
    written by root on the host from the ServiceAccount token Secret when it is not what
    it would be (facts/check_access.CheckKubeconfig): the token is read, written and
    compared on the host, never sent to the operator or shown.

    **Example:**

    .. code:: python

        check_kubeconfig(user="edgewasm-check")
    """
    if fact_cache.fact_once(CheckKubeconfig, user=user) == "current":
        host.noop(f"{access.CHECK_KUBECONFIG} is current")
        return
    yield StringCommand("sh", "-c", shlex.quote(access.kubeconfig_script(user, write=True)))


@edgewasm_deploy("Nightly check access")
def check_access() -> None:
    data = host.data
    if not data.check_access_key:
        return
    user = data.check_access_user
    # Facts are read before anything runs: on a new host sudo is not there yet, and
    # preflight installs it earlier in this same run when preflight_packages names it.
    if "sudo" not in data.preflight_packages and not fact_cache.fact_once(Which, command="visudo"):
        host_ops.refuse(name="Refuse the check user without sudo", reasons=[
            f"{host.name}: check_access_key is set but sudo (visudo) is not installed, so the check user could "
            "not read root-only state; fix: add 'sudo' to preflight_packages (an offline bundle then carries it)"])
        return
    line = access.authorized_keys_line(Path(data.check_access_key).expanduser().read_text(),
                                       list(data.check_access_from))
    system_user(name=f"User {user}, for the nightly check", user=user, home=home(user), shell=SHELL)
    host_files.directory(name=f"{home(user)}, the check user's", path=home(user), user=user, group=user, mode="750")
    host_files.directory(name=f"{home(user)}/.ssh", path=f"{home(user)}/.ssh", user=user, group=user, mode="700")
    host_files.template(name="The check key, restricted, in authorized_keys", src="check_access/authorized_keys.j2",
                        dest=f"{home(user)}/.ssh/authorized_keys", mode="600", user=user, group=user, line=line)
    host_files.directory(name="Directory of the read helper", path=str(Path(access.HELPER).parent), user="root",
                         group="root", mode="755")
    host_files.template(name="The check user's read helper", src="check_access/check-read.j2", dest=access.HELPER,
                        mode="755", user="root", group="root", **access.helper_values())
    host_files.template(name="sudo: the check user may run the read helper, nothing else",
                        src="check_access/sudoers.j2", dest=access.SUDOERS, mode="440", user="root", group="root",
                        check=("visudo", "-cf"), account=user, helper=access.HELPER)
    if fact_cache.role() == "server":
        host_files.template(name="The check's ServiceAccount and rights in the auto-deploy directory",
                            src="check_access/rbac.yaml.j2", dest=access.RBAC_MANIFEST, mode="600",
                            **access.rbac_values(data.dict()))
        check_kubeconfig(name="The check user's kubeconfig", user=user)
