"""Host operations pyinfra lacks or gets wrong on edge boxes."""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import IO

from pyinfra import host, logger
from pyinfra.api import FileUploadCommand, FunctionCommand, QuoteString, StringCommand, operation
from pyinfra.facts.files import Directory, File, Sha256File
from pyinfra.facts.server import Arch, LinuxDistribution

from deploys import run_summary
from edgewasm import distribution, os_packages, settings
from edgewasm.arch import k3s_arch
from edgewasm.plan import wanted_versions
from edgewasm.runtimes import extract_script
from facts.batch import FactBatch
from facts.host import BootId, KernelModuleStates
from facts.runtimes import ExtractedFrom
from facts.secrets import SaltedSha256File

_FACTS: dict = {}


def _key(fact_cls, kwargs: dict) -> tuple:
    return (host.name, fact_cls, tuple(sorted((k, repr(v)) for k, v in kwargs.items())))


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
        _FACTS[key] = host.get_fact(fact_cls, **kwargs)
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
    lines = host.get_fact(FactBatch, specs=todo, tag=tag)
    for (cls, kwargs), value in zip(todo, FactBatch.values(todo, tag, lines)):
        if not isinstance(value, FactBatch.Failed):
            _FACTS[_key(cls, kwargs)] = value


def arch() -> str | None:
    """The host's arch in K3s's words (amd64, arm64, arm), None when K3s has none."""
    return k3s_arch(fact_once(Arch) or "")


def os_release() -> str:
    """The host's OS release as os_releases.toml names it (debian-trixie ...)."""
    return os_packages.release_of(fact_once(LinuxDistribution)["release_meta"])


def host_runtimes(plan=None) -> dict:
    """The Wasm runtimes this host takes from its OS release's packages (its plan's, else
    decided from its data before any plan exists: preflight and the crun gate)."""
    if plan is not None:
        return dict(plan.packaged)
    return distribution.packaged(host.data.dict(), os_release(), arch(), wanted_versions(host.data.dict()))


def role() -> str | None:
    """``server`` or ``agent``: which of k3s_servers / k3s_agents the host is in."""
    return settings.role(host.groups)


def _upload_name(dest: str) -> tuple[str, str]:
    """(directory, hidden name beside ``dest``) for an upload on its way to ``dest``."""
    directory, _, name = dest.rpartition("/")
    return directory, f"{directory}/.{name}.edgewasm-upload"


def _verified_rename(partial: str, dest: str, sha256: str, error: str) -> StringCommand:
    """Rename ``partial`` over ``dest`` if it has ``sha256``; else remove it and fail."""
    return StringCommand(
        "if", "echo", QuoteString(f"{sha256}  {partial}"), "|", "sha256sum", "-c", "--quiet", "-", ";",
        "then", "mv", "-f", QuoteString(partial), QuoteString(dest), ";",
        "else", "rm", "-f", QuoteString(partial), ";", "echo", QuoteString(error), ">&2", ";", "exit", "1", ";", "fi",
    )


_MKDIRS: dict = {}


def mkdir_once(directory: str) -> list[StringCommand]:
    """``mkdir -p DIRECTORY``, unless the directory was there when the run found the host
    or an earlier operation of this run makes it (a first run puts ~50 .debs in one
    directory: one mkdir, not fifty). The operation that first asks is the one that
    makes it, on both of pyinfra's passes over its generator."""
    if fact_once(Directory, path=directory):
        return []
    maker = _MKDIRS.setdefault((host.name, directory), host.current_op_hash)
    return [StringCommand("mkdir", "-p", QuoteString(directory))] if maker == host.current_op_hash else []


def _mode_kept(dest: str, mode: str, current: str):
    """For a file whose content is already right (``current`` says how it is known): fix
    its mode if needed, else no change. (A secret chmod-ed open by hand must be closed
    again, not left as "current".)"""
    info = fact_once(File, path=dest)
    if info and str(info["mode"]) != mode.lstrip("0"):  # the fact gives 644 for 0o644
        yield StringCommand("chmod", mode, QuoteString(dest))
    else:
        host.noop(f"{dest} {current} and mode {mode}")


@operation(is_idempotent=False)
def reboot(timeout: int = 600, interval: float = 2.0, pending_marker: str | None = None):
    """
    Reboot the host and wait until it is back with a new boot id.

    pyinfra's ``server.reboot`` compares uptimes, which inside containers (and with
    some RTC-less boards) is the wrong clock; the kernel's boot id changes on every
    boot everywhere.

    + timeout: seconds to wait for the host to come back
    + interval: seconds between reconnect attempts
    + pending_marker: a file saying the reboot is owed, removed once the host is back

    **Example:**

    .. code:: python

        host_ops.reboot(name="Reboot for the new boot line", pending_marker="/var/lib/edgewasm/reboot-pending")
    """
    before: list[str | None] = []

    # Read while the operation runs (not while pyinfra prepares it), before and after.
    def remember():
        before.append(host.get_fact(BootId))

    yield FunctionCommand(remember, (), {})
    yield StringCommand("( sleep 1 && systemctl reboot ) </dev/null >/dev/null 2>&1 &")

    def wait_for_new_boot():
        time.sleep(3)
        host.disconnect()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            host.connect(show_errors=False)
            if host.connected:
                now = host.get_fact(BootId)
                if now and now != before[0]:
                    return
                host.disconnect()
            time.sleep(interval)
        raise TimeoutError(f"{host.name} did not come back from reboot within {timeout}s")

    yield FunctionCommand(wait_for_new_boot, (), {})
    if pending_marker:
        yield StringCommand("rm", "-f", QuoteString(pending_marker))


@operation()
def kernel_modules_loaded(modules: list[str]):
    """
    Load the modules the kernel does not already provide.

    Unlike ``server.modprobe`` this treats built-in modules (absent from
    ``/proc/modules``) as loaded, so it never runs ``modprobe`` where there is
    nothing to load.

    **Example:**

    .. code:: python

        host_ops.kernel_modules_loaded(modules=["overlay", "br_netfilter"])
    """
    states = fact_once(KernelModuleStates, modules=modules)
    loadable = [m for m in modules if states.get(m) == "loadable"]
    if loadable:
        yield StringCommand("modprobe", "-a", *loadable)
    else:
        host.noop(f"kernel modules {', '.join(modules)} are active")


@operation(is_idempotent=False)
def refuse(reasons: list[str]):
    """
    Fail this host, printing each reason, and change nothing on it.

    pyinfra then leaves the host out of every later operation; other hosts go on.

    **Example:**

    .. code:: python

        host_ops.refuse(reasons=["edge-7: kernel '4.19' is older than 5.4; fix: ..."])
    """
    run_summary.failed(host.name, "refused: " + " | ".join(r.removeprefix(f"{host.name}: ") for r in reasons))
    yield StringCommand("printf", "'%s\\n'", *(QuoteString(r) for r in reasons), ">&2", "&&", "exit", "1")


@operation()
def verified_file(src: str, dest: str, sha256: str, mode: str = "644"):
    """
    Put a local file on the host, verified, atomically, and only when it differs.

    The upload goes to a hidden name beside ``dest`` (same filesystem, never a small
    ``/tmp`` tmpfs), is checked against ``sha256`` on the host, then renamed over
    ``dest``. A host that already has a file with that hash gets nothing.

    + src: local file
    + dest: path on the host
    + sha256: the file's expected sha256
    + mode: octal mode of ``dest``

    **Example:**

    .. code:: python

        host_ops.verified_file(
            src="bundles/site-a/k3s/v1.32.2+k3s1/arm64/k3s-arm64",
            dest="/var/lib/edgewasm/artifacts/k3s/v1.32.2+k3s1/k3s-arm64",
            sha256="...",
        )
    """
    if fact_once(Sha256File, path=dest) == sha256:  # artifacts.place() asked already
        yield from _mode_kept(dest, mode, f"has sha256 {sha256[:12]}")
        return
    directory, partial = _upload_name(dest)
    yield from mkdir_once(directory)
    # With sudo, pyinfra stages uploads elsewhere first: keep that on disk too.
    yield FileUploadCommand(src, partial, remote_temp_filename=f"/var/tmp/edgewasm-upload-{sha256[:16]}")
    yield StringCommand("chmod", mode, QuoteString(partial), "&&",
                        _verified_rename(partial, dest, sha256, f"{dest}: upload does not match sha256 {sha256}"))


# A random salt per run for digests of secrets (see facts/secrets.py).
SECRET_SALT = secrets.token_hex(16)


def salted_sha256(data: bytes) -> str:
    return hashlib.sha256(SECRET_SALT.encode() + data).hexdigest()


# $1 salt, $2 the uploaded file, $3 its destination; the expected salted digest arrives on
# stdin, so no secret-derived value is ever on a command line.
_SECRET_RENAME = ('read -r want; got=$( { printf %s "$1"; cat "$2"; } | sha256sum | cut -d" " -f1); '
                  'if [ "$got" = "$want" ]; then mv -f "$2" "$3"; '
                  'else rm -f "$2"; echo "$3: upload does not match what was sent" >&2; exit 1; fi')


@operation()
def secret_file(content: IO[bytes], dest: str):
    """
    Put a secret on the host with mode 0600 from the first byte, only when it differs.

    The secret travels over SFTP from memory: it is never on a command line, and pyinfra
    prints neither it, nor a diff of it, nor its plain digest: the host's copy is compared
    by a digest salted afresh every run, whose expected value reaches the host on stdin.

    **Example:**

    .. code:: python

        host_ops.secret_file(content=io.BytesIO(token), dest="/etc/rancher/k3s/agent-token")
    """
    data = content.read()
    content.seek(0)
    if fact_once(SaltedSha256File, path=dest, salt=SECRET_SALT) == salted_sha256(data):
        yield from _mode_kept(dest, "600", "is current")  # no digest of a secret in the output
        return
    directory, partial = _upload_name(dest)
    # Created 0600 before any byte of the secret is written into it.
    yield StringCommand("mkdir", "-p", QuoteString(directory), "&&", "(", "umask", "077", "&&",
                        "rm", "-f", QuoteString(partial), "&&", ":", ">", QuoteString(partial), ")")
    yield FileUploadCommand(content, partial, remote_temp_filename=partial)
    yield StringCommand("sh", "-c", QuoteString(_SECRET_RENAME), "secret", SECRET_SALT, QuoteString(partial),
                        QuoteString(dest), _stdin=salted_sha256(data) + "\n")


@operation()
def installed_copy(src: str, dest: str, sha256: str, mode: str = "755"):
    """
    Install a file that is already on the host (from the artifact cache), verified.

    **Example:**

    .. code:: python

        host_ops.installed_copy(src="/var/lib/edgewasm/artifacts/k3s/v1.32.2+k3s1/k3s-arm64",
                                dest="/usr/local/bin/k3s", sha256="...")
    """
    if fact_once(Sha256File, path=dest) == sha256:
        yield from _mode_kept(dest, mode, f"has sha256 {sha256[:12]}")
        return
    partial = f"{dest}.edgewasm-new"
    yield StringCommand("install", "-m", mode, QuoteString(src), QuoteString(partial))
    yield _verified_rename(partial, dest, sha256, f"{src} does not match sha256 {sha256}")


@operation()
def extracted(tarball: str, dest: str, sha256: str):
    """
    Unpack a release tarball (from the artifact cache) into ``dest``, once per tarball.

    A tarball whose members all sit under one top folder (WasmEdge before 0.15.0,
    Wasmtime) is unpacked without that folder, so both layouts give the same tree. The
    tree is built beside ``dest`` and swapped in whole.

    **Example:**

    .. code:: python

        host_ops.extracted(tarball="/var/lib/edgewasm/artifacts/wasmtime/49.0.4/wasmtime-v49.0.4-aarch64-linux.tar.xz",
                           dest="/opt/edgewasm/wasmtime/49.0.4", sha256="...")
    """
    if fact_once(ExtractedFrom, directory=dest) == sha256:
        host.noop(f"{dest} holds {tarball.rsplit('/', 1)[-1]}")
        return
    script = extract_script(tarball, dest, sha256)
    yield StringCommand("sh", "-c", QuoteString(script))
