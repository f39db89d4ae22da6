"""Files, directories and links on a host, decided from the run's prefetched facts.

These replace pyinfra's ``files.template``, ``files.put``, ``files.file``,
``files.directory``, ``files.link``, ``files.replace`` and ``server.sysctl`` in the deploys.
pyinfra's own run each operation's generator twice (once to see whether it changes,
again when it executes) and ask their facts afresh each time: a template costs a stat of
the file, a stat of its parent and a checksum, twice. Over a satellite link that was
most of a converged run. These ask ``host_ops.fact_once``, which answers from one batch
per host (``host_ops.prefetch``), and say what they read in ``wants_*`` so a deploy can
list its facts before asking them. What they change is what pyinfra's would.
"""

from __future__ import annotations

import hashlib
import io
import posixpath

from pyinfra import host, logger, state
from pyinfra.api import FileUploadCommand, QuoteString, StringCommand, operation
from pyinfra.facts.files import Directory, File, FileContents, FindInFile, Link, Sha256File
from pyinfra.operations.util.files import generate_color_diff, sed_replace

from deploys.host_ops import _mode_kept, _upload_name, _verified_rename, fact_once, mkdir_once
from edgewasm import templates
from facts.host import SysctlValues


def wants_file(path: str) -> list:
    """The facts ``put`` / ``template`` / ``absent`` / ``verified_file`` read about ``path``."""
    return [(File, {"path": path}), (Sha256File, {"path": path}), (Directory, {"path": posixpath.dirname(path)})]


def wants_link(path: str) -> list:
    return [(Link, {"path": path})]


def wants_directory(path: str) -> list:
    return [(Directory, {"path": path})]


def _show_diff(dest: str, data: bytes) -> None:
    # Only with --diff, and only for a file that changes: one more read, never on a converged run.
    current = [line + "\n" for line in host.get_fact(FileContents, path=dest) or []]
    host.log(f"Will write {dest}", logger.info)
    for line in generate_color_diff(current, data.decode(errors="replace").splitlines(keepends=True)):
        logger.info("  %s", line)


def _content(data: bytes, dest: str, mode: str, diff: bool = True):
    sha256 = hashlib.sha256(data).hexdigest()
    if fact_once(Sha256File, path=dest) == sha256:
        yield from _mode_kept(dest, mode, "is current")
        return
    if diff and state.config.DIFF:
        _show_diff(dest, data)
    directory, partial = _upload_name(dest)
    yield from mkdir_once(directory)
    yield FileUploadCommand(io.BytesIO(data), partial, remote_temp_filename=partial)
    yield StringCommand("chmod", mode, QuoteString(partial), "&&", _verified_rename(
        partial, dest, sha256, f"{dest}: upload does not match what was sent"))


@operation()
def template(src: str, dest: str, mode: str = "644", **values):
    """
    Render a Jinja2 template of ``templates/`` here and put it on the host, atomically,
    only when its content or mode differs.

    + src: the template's name under templates/
    + dest: path on the host
    + mode: octal mode of ``dest``

    **Example:**

    .. code:: python

        host_files.template(name="Write the K3s config", src="k3s/config.yaml.j2",
                            dest="/etc/rancher/k3s/config.yaml", mode="600", **values)
    """
    yield from _content(templates.render(src, **values).encode(), dest, mode)


@operation()
def put(src: str, dest: str, mode: str = "644"):
    """
    Put a local file on the host, atomically, only when its content or mode differs.

    **Example:**

    .. code:: python

        host_files.put(src="templates/policies/k8sallowedrepos.yaml",
                       dest="/var/lib/rancher/k3s/server/manifests/edgewasm-policy-k8sallowedrepos.yaml")
    """
    with open(src, "rb") as f:
        yield from _content(f.read(), dest, mode)


@operation()
def absent(path: str):
    """
    No file (or link) at ``path``.

    **Example:**

    .. code:: python

        host_files.absent(name="No server token on an agent", path="/etc/rancher/k3s/token")
    """
    if fact_once(File, path=path) is None:
        host.noop(f"{path} does not exist")
        return
    yield StringCommand("rm", "-f", QuoteString(path))


@operation()
def directory(path: str, mode: str | None = None):
    """
    A directory at ``path`` (parents made as needed), with ``mode`` when given; without,
    its mode is left to whoever else sets it (K3s does for its own directories).

    **Example:**

    .. code:: python

        host_files.directory(name="K3s config directory", path="/etc/rancher/k3s/config.yaml.d")
    """
    info = fact_once(Directory, path=path)
    if info and (mode is None or str(info["mode"]) == mode.lstrip("0")):
        host.noop(f"directory {path} exists")
        return
    yield StringCommand("mkdir", "-p", QuoteString(path), *(("&&", "chmod", mode, QuoteString(path)) if mode else ()))


@operation()
def link(path: str, target: str | None = None):
    """
    A symbolic link at ``path`` pointing at ``target``; with no ``target``, no link there.
    Switched atomically (a new link renamed over the old), so K3s never finds it missing.

    **Example:**

    .. code:: python

        host_files.link(name="Put wasmtime on PATH", path="/usr/local/bin/wasmtime",
                        target="/opt/edgewasm/wasmtime/49.0.3/wasmtime")
    """
    info = fact_once(Link, path=path)
    if target is None:
        if info is None:
            host.noop(f"link {path} does not exist")
        else:
            yield StringCommand("rm", "-f", QuoteString(path))
        return
    if info and info.get("link_target") == target:
        host.noop(f"link {path} points at {target}")
        return
    partial = f"{posixpath.dirname(path)}/.{posixpath.basename(path)}.edgewasm-link"
    yield StringCommand("mkdir", "-p", QuoteString(posixpath.dirname(path)), "&&",
                        "ln", "-sfn", QuoteString(target), QuoteString(partial), "&&",
                        "mv", "-Tf", QuoteString(partial), QuoteString(path))


@operation()
def replaced(path: str, text: str, replace: str):
    """
    Lines of ``path`` matching the extended regex ``text`` rewritten as ``replace``
    (``sed -E``), when any match.

    **Example:**

    .. code:: python

        host_files.replaced(name="Comment out swap in /etc/fstab", path="/etc/fstab",
                            text=FSTAB_SWAP_LINE, replace=FSTAB_SWAP_COMMENTED)
    """
    (fact, kwargs), = wants_lines(path, text)
    if not fact_once(fact, **kwargs):
        host.noop(f"no line of {path} matches {text}")
        return
    yield sed_replace(path, text, replace, extended_regex=True)


def wants_lines(path: str, text: str) -> list:
    return [(FindInFile, {"path": path, "pattern": text, "interpolate_variables": False, "extended_regex": True})]


@operation()
def sysctls(values: dict[str, object]):
    """
    Kernel settings set now (what ``/etc/sysctl.d`` persists), one ``sysctl -w`` for all
    that differ.

    **Example:**

    .. code:: python

        host_files.sysctls(name="Set sysctls for K3s", values={"net.ipv4.ip_forward": 1})
    """
    current = fact_once(SysctlValues, keys=sorted(values))
    differ = [f"{k}={v}" for k, v in values.items() if current.get(k) != str(v)]
    if not differ:
        host.noop(f"sysctls {', '.join(values)} are set")
        return
    yield StringCommand("sysctl", "-q", "-w", *(QuoteString(d) for d in differ))


def wants_sysctls(values: dict) -> list:
    return [(SysctlValues, {"keys": sorted(values)})]
