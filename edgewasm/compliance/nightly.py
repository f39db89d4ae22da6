"""edgewasm-check every night on a management host, under a systemd timer.

    pyinfra inventories/management.py edgewasm.compliance.nightly.nightly_check

(pyinfra runs a deploy function by its dotted name, so this works from an installed
wheel as from a checkout.)

The management inventory's hosts carry the ``check_*`` settings (docs/settings.md): which
fleet inventory to check, the SSH key and known_hosts that reach the fleet, the fleet's
bundle. Install: Python (from the management host's own ``edgewasm_bundle`` when set, else
its apt sources), the check user, edgewasm's source and the wheels of its dependencies,
both built on the operator's machine (the host needs no route to PyPI), a venv with
``edgewasm[check]``. Configure: the fleet inventory and bundle (root's, readable by the
check user), the key and known_hosts (the check user's, 0600), the service and timer.
Activate: the timer enabled and started. A re-run changes nothing.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation
from pyinfra.facts.files import Directory, FindFiles
from pyinfra.operations import apt, server, systemd

from deploys import edgewasm_deploy
from deploys.preflight import package_problems, packages_from_bundle
from edgewasm import local_cache, os_releases
from edgewasm.bundle_trust import SIGNATURE
from edgewasm.compliance import install as check_install
from edgewasm.config import bundle_problems, check_running_host_keys, inventory_hosts
from edgewasm.manifest import Bundle, sha256_of
from facts.runtimes import ExtractedFrom
from operations import fact_cache, host_files, host_ops, secret_files

OPT = "/opt/edgewasm-check"
SOURCE, WHEELS, VENV = f"{OPT}/src", f"{OPT}/wheels", f"{OPT}/venv"
UNIT = "edgewasm-check"
KEY_NAME = "id_edgewasm"
CACHE = local_cache.CHECK


def home() -> str:
    return f"/var/lib/{host.data.check_user}"


def _problems() -> list[str]:
    data, problems = host.data, []
    for key in ("check_inventory", "check_ssh_key", "check_known_hosts"):
        if not data.get(key):
            problems.append(f"{host.name}: {key} is not set; fix: set it in the management inventory "
                            "(docs/compliance.md)")
        elif not Path(data.get(key)).is_file():
            problems.append(f"{host.name}: {key} {data.get(key)!r} is not a file on this machine; fix: give the "
                            "path of an existing file")
    if data.check_bundle and not (Path(data.check_bundle) / "manifest.json").is_file():
        problems.append(f"{host.name}: check_bundle {data.check_bundle!r} holds no manifest.json; fix: give the "
                        "fleet's bundle directory (edgewasm-bundle build)")
    elif data.check_bundle and data.get("check_inventory") and Path(data.check_inventory).is_file():
        problems += [f"{host.name}: check_bundle: {p}" for p in _fleet_bundle()[0]]
    if data.check_wheelhouse and not check_install.wheels(Path(data.check_wheelhouse)):
        problems.append(f"{host.name}: check_wheelhouse {data.check_wheelhouse!r} holds no wheels; fix: leave it "
                        "unset, or fill it with pip download")
    if fact_cache.arch() not in check_install.PLATFORMS:
        problems.append(f"{host.name}: arch {fact_cache.arch()!r}: edgewasm-check's wheels exist for "
                        f"{', '.join(check_install.PLATFORMS)}; fix: pick a management host of one of them")
    if not data.check_wheelhouse and not _python():
        problems.append(f"{host.name}: release {fact_cache.os_release()} has no python version in "
                        "edgewasm/os_releases.toml; fix: pick a listed release, or set check_wheelhouse")
    return problems + package_problems(data.check_packages)


def _python() -> str | None:
    """The host's python3 (X.Y), from its release's entry in edgewasm/os_releases.toml."""
    return os_releases.releases().get(fact_cache.os_release(), {}).get("python")


@operation()
def venv_installed(inputs_sha256: str):
    """
    (Re)build the venv with ``edgewasm[check]`` from the uploaded wheels and source, when
    what it was built from (``inputs_sha256``) differs from its stamp: also after a run cut
    between the upload and the install.

    **Example:**

    .. code:: python

        venv_installed(inputs_sha256="...")
    """
    if host.get_fact(ExtractedFrom, directory=VENV) == inputs_sha256:
        host.noop(f"{VENV} is built from the current source and wheels")
        return
    # Built in place (a venv's scripts name its own path, it cannot be moved); the stamp is
    # written last, so a build cut short is rebuilt by the next run.
    yield StringCommand("sh", "-c", f"'set -e; rm -rf {VENV}; python3 -m venv {VENV}; "
                                    f"{VENV}/bin/pip install --quiet --no-index --find-links {WHEELS} "
                                    f"-e {SOURCE}[check]; echo {inputs_sha256} > {VENV}/.edgewasm-source-sha256'")


@edgewasm_deploy("Nightly check: install")
def install_check() -> bool:
    """Returns whether the host was accepted."""
    problems = _problems()
    if problems:
        host_ops.refuse(name="Refuse the management host", reasons=problems)
        return False
    data = host.data
    if data.edgewasm_bundle:
        packages_from_bundle(data.check_packages)
    else:
        apt.packages(name="Install Python for edgewasm-check", packages=data.check_packages, no_recommends=True)
    server.group(name=f"Group {data.check_user}", group=data.check_user, system=True)
    server.user(name=f"User {data.check_user}", user=data.check_user, group=data.check_user, system=True,
                home=home(), shell="/usr/sbin/nologin", ensure_home=False)
    host_files.directory(name=f"{home()}, the check user's", path=home(), user=data.check_user,
                         group=data.check_user, mode="750")

    try:
        wheelhouse = Path(data.check_wheelhouse) if data.check_wheelhouse else \
            check_install.wheelhouse(_python(), fact_cache.arch(), CACHE / "wheelhouse")
    except RuntimeError as exc:
        host_ops.refuse(name="Refuse the management host", reasons=[f"{host.name}: {exc}"])
        return False
    archive = check_install.source_archive(CACHE / "check-source.tar.gz")
    wheels = check_install.wheels(wheelhouse)
    host_files.directory(name=OPT, path=OPT, user="root", group="root", mode="755")
    archive_sha = sha256_of(archive)
    host_files.verified_file(name="edgewasm source", src=str(archive), dest=f"{OPT}/source.tar.gz",
                           sha256=archive_sha)
    host_files.extracted(name=f"Unpack the edgewasm source into {SOURCE}", tarball=f"{OPT}/source.tar.gz",
                       dest=SOURCE, sha256=archive_sha)
    digests = {}
    for wheel in wheels:
        digests[wheel.name] = sha256_of(wheel)
        host_files.verified_file(name=f"Wheel {wheel.name}", src=str(wheel), dest=f"{WHEELS}/{wheel.name}",
                               sha256=digests[wheel.name])
    only_files(name="No other wheels", directory=WHEELS, keep=list(digests), pattern="*.whl")
    inputs = hashlib.sha256(repr((archive_sha, sorted(digests.items()))).encode()).hexdigest()
    venv_installed(name=f"edgewasm-check in {VENV}", inputs_sha256=inputs)
    return True


@operation()
def only_files(directory: str, keep: list[str], pattern: str):
    """
    Remove the files matching ``pattern`` in ``directory`` whose names are not in ``keep``
    (wheels of an older set would otherwise pile up).

    **Example:**

    .. code:: python

        only_files(directory="/opt/edgewasm-check/wheels", keep=["pytest-8.4.2-py3-none-any.whl"], pattern="*.whl")
    """
    present = host.get_fact(FindFiles, path=directory, maxdepth=1, fname=pattern) \
        if host.get_fact(Directory, path=directory) else []
    stale = sorted(p for p in present if os.path.basename(p) not in keep)
    if not stale:
        host.noop(f"{directory} holds no other {pattern}")
        return
    yield StringCommand("rm", "-f", *(QuoteString(p) for p in stale))


@edgewasm_deploy("Nightly check: configure")
def configure_check() -> bool:
    """The fleet's inventory and bundle, the key and known_hosts, the units. Returns
    whether a unit file changed."""
    data, user = host.data, host.data.check_user
    for directory in ("inventories", "bundles"):
        host_files.directory(name=f"{home()}/{directory}", path=f"{home()}/{directory}", user="root", group=user,
                             mode="750")
    inventory = f"inventories/{Path(data.check_inventory).name}"
    # Read by the check user, changed only by root: the fleet inventory and its bundle.
    host_files.put(name="Fleet inventory", src=data.check_inventory, dest=f"{home()}/{inventory}", user="root",
                   group=user, mode="640")
    if data.check_bundle:
        _bundle(Path(data.check_bundle), user)
    # The check key's public half, where the fleet inventory names it: the drift dry run
    # plans deploys/check_access.py, whose authorized_keys line it is.
    for public in _fleet_access_keys():
        host_files.put(name=f"Check access key {public}", src=public, dest=str(_beside_inventory(Path(public))),
                       user="root", group=user, mode="640")
    host_files.directory(name=f"{home()}/.ssh", path=f"{home()}/.ssh", user=user, group=user, mode="700")
    key = f"{home()}/.ssh/{KEY_NAME}"
    secret_files.secret_file(name="SSH key of the check user", content=io.BytesIO(Path(data.check_ssh_key).read_bytes()),
                             dest=key, user=user, group=user)
    host_files.put(name="known_hosts of the check user", src=data.check_known_hosts,
                   dest=f"{home()}/.ssh/known_hosts", user=user, group=user, mode="600")
    for path in (f"{home()}/reports",):
        host_files.directory(name=path, path=path, user=user, group=user, mode="700")
    # node_exporter (another user) reads the metrics: the directory stays world-readable.
    host_files.directory(name=data.check_textfile_dir, path=data.check_textfile_dir, group=user, mode="2775")
    values = dict(check_user=user, home=home(), venv=VENV, inventory=inventory, textfile_dir=data.check_textfile_dir,
                  keep=data.check_keep, parallel=data.check_parallel, schedule=data.check_schedule,
                  delay=data.check_randomized_delay)
    service = host_files.template(name=f"{UNIT}.service", src="check/edgewasm-check.service.j2",
                                  dest=f"/etc/systemd/system/{UNIT}.service", mode="644", **values)
    timer = host_files.template(name=f"{UNIT}.timer", src="check/edgewasm-check.timer.j2",
                                dest=f"/etc/systemd/system/{UNIT}.timer", mode="644", **values)
    return service.will_change or timer.will_change


_FLEET_BUNDLES: dict[str, tuple[list[str], list[str]]] = {}


def _fleet_bundle() -> tuple[list[str], list[str]]:
    """(why the fleet inventory would not trust check_bundle, the allowed_signers files it
    trusts it by): the management host gets only a bundle the fleet's own deploy would take,
    verified here as the deploy verifies it (signature or pin, paths, every file)."""
    data = host.data
    if host.name not in _FLEET_BUNDLES:
        fleet = [h for h in inventory_hosts(data.check_inventory) if h.data.get("edgewasm_bundle") == data.check_bundle]
        problems = bundle_problems(fleet) if fleet else [
            f"{data.check_bundle!r} is the edgewasm_bundle of no host in {data.check_inventory}; fix: set "
            "check_bundle to the fleet's edgewasm_bundle"]
        signers = sorted({h.data["edgewasm_bundle_signers"] for h in fleet if h.data.get("edgewasm_bundle_signers")})
        _FLEET_BUNDLES[host.name] = (problems, signers)
    return _FLEET_BUNDLES[host.name]


_ACCESS_KEYS: dict[str, list[str]] = {}


def _fleet_access_keys() -> list[str]:
    """The check_access_key files the fleet inventory names (public keys)."""
    data = host.data
    if host.name not in _ACCESS_KEYS:
        _ACCESS_KEYS[host.name] = sorted({h.data["check_access_key"] for h in inventory_hosts(data.check_inventory)
                                          if h.data.get("check_access_key")})
    return _ACCESS_KEYS[host.name]


def _beside_inventory(path: Path) -> Path:
    """Where a path the fleet inventory names lies on the management host (relative paths
    are read from the check user's home, as the inventory is)."""
    return path if path.is_absolute() else Path(home()) / path


def _bundle(bundle: Path, user: str) -> None:
    """The bundle's files under the same relative path as the fleet inventory names it,
    with its signature and the signers the fleet trusts it by (_problems verified them)."""
    dest = _beside_inventory(bundle)
    opened = Bundle.open(str(bundle))
    for entry in opened.manifest["artifacts"]:
        host_files.verified_file(name=f"Bundle {entry['file']}", src=str(bundle / entry["file"]),
                                 dest=str(dest / entry["file"]), sha256=entry["sha256"])
    host_files.verified_file(name="Bundle manifest", src=str(bundle / "manifest.json"),
                             dest=str(dest / "manifest.json"), sha256=opened.sha256)
    if (bundle / SIGNATURE).is_file():
        host_files.verified_file(name="Bundle signature", src=str(bundle / SIGNATURE), dest=str(dest / SIGNATURE),
                                 sha256=sha256_of(bundle / SIGNATURE))
    for signers in _fleet_bundle()[1]:
        host_files.put(name=f"Bundle signers {signers}", src=signers, dest=str(_beside_inventory(Path(signers))),
                       user="root", group=user, mode="640")


@edgewasm_deploy("Nightly check: activate")
def activate_check(units_changed: bool) -> None:
    if units_changed:
        systemd.daemon_reload(name="Reload systemd units")
    systemd.service(name=f"{UNIT}.timer enabled and started", service=f"{UNIT}.timer", running=True,
                    enabled=True)


@edgewasm_deploy("Nightly check")
def nightly_check() -> None:
    """Install, configure and activate edgewasm-check under its timer (the module's docstring)."""
    # A management host gets the fleet's SSH key: its own host key is checked first.
    check_running_host_keys()
    if install_check():
        activate_check(configure_check())
