"""Files, directories and links on a host, decided from the run's prefetched facts.

These replace pyinfra's ``files.template``, ``files.put``, ``files.file``,
``files.directory``, ``files.link``, ``files.replace`` and ``server.sysctl`` in the deploys,
and put artifacts on hosts verified against their sha256 (``verified_file``,
``installed_copy``, ``extracted``).
pyinfra's own run each operation's generator twice (once to see whether it changes,
again when it executes) and ask their facts afresh each time: a template costs a stat of
the file, a stat of its parent and a checksum, twice. Over a satellite link that was
most of a converged run. These ask ``fact_cache.fact_once``, which answers from one batch
per host (``fact_cache.prefetch``), and say what they read in ``wants_*`` so a deploy can
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

from edgewasm import templates
from edgewasm.unpack import extract_script
from facts.host import SysctlValues
from facts.runtimes import ExtractedFrom
from operations.fact_cache import fact_once


_MKDIRS: dict = {}


def upload_name(dest: str) -> tuple[str, str]:
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


def mkdir_once(directory: str) -> list[StringCommand]:
    """``mkdir -p DIRECTORY``, unless the directory was there when the run found the host
    or an earlier operation of this run makes it (a first run puts ~50 .debs in one
    directory: one mkdir, not fifty). The operation that first asks is the one that
    makes it, on both of pyinfra's passes over its generator."""
    if fact_once(Directory, path=directory):
        return []
    maker = _MKDIRS.setdefault((host.name, directory), host.current_op_hash)
    return [StringCommand("mkdir", "-p", QuoteString(directory))] if maker == host.current_op_hash else []


def _owner(user: str | None, group: str | None) -> str | None:
    return f"{user or ''}:{group or ''}" if user or group else None


def mode_kept(dest: str, mode: str, current: str, user: str | None = None, group: str | None = None):
    """For a file whose content is already right (``current`` says how it is known): fix
    its mode (and owner, when given) if needed, else no change. (A secret chmod-ed open by
    hand must be closed again, not left as "current".)"""
    info = fact_once(File, path=dest) or {}
    fixes = []
    if info and str(info["mode"]) != mode.lstrip("0"):  # the fact gives 644 for 0o644
        fixes.append(StringCommand("chmod", QuoteString(mode), QuoteString(dest)))
    if info and ((user and info.get("user") != user) or (group and info.get("group") != group)):
        fixes.append(StringCommand("chown", QuoteString(_owner(user, group)), QuoteString(dest)))
    if not fixes:
        host.noop(f"{dest} {current} and mode {mode}")
    yield from fixes


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


def _content(data: bytes, dest: str, mode: str, diff: bool = True, user: str | None = None,
             group: str | None = None, check: tuple[str, ...] = ()):
    sha256 = hashlib.sha256(data).hexdigest()
    if fact_once(Sha256File, path=dest) == sha256:
        yield from mode_kept(dest, mode, "is current", user, group)
        return
    if diff and state.config.DIFF:
        _show_diff(dest, data)
    directory, partial = upload_name(dest)
    yield from mkdir_once(directory)
    yield FileUploadCommand(io.BytesIO(data), partial, remote_temp_filename=partial)
    owner = _owner(user, group)
    if owner:
        yield StringCommand("chown", QuoteString(owner), QuoteString(partial))
    if check:
        # The file as it will be, judged before it takes dest's place (a broken sudoers
        # drop-in locks everyone out of sudo).
        yield StringCommand("chmod", QuoteString(mode), QuoteString(partial), "&&", "if",
                            *(QuoteString(c) for c in check), QuoteString(partial), ">/dev/null", ";", "then", ":",
                            ";", "else", "rm", "-f", QuoteString(partial), ";",
                            "echo", QuoteString(f"{dest}: refused by {' '.join(check)}; left as it was"), ">&2", ";",
                            "exit", "1", ";", "fi")
    yield StringCommand("chmod", QuoteString(mode), QuoteString(partial), "&&", _verified_rename(
        partial, dest, sha256, f"{dest}: upload does not match what was sent"))


@operation()
def template(src: str, dest: str, mode: str = "644", user: str | None = None, group: str | None = None,
             check: tuple[str, ...] = (), **values):
    """
    Render a Jinja2 template of ``templates/`` here and put it on the host, atomically,
    only when its content or mode differs.

    + src: the template's name under templates/
    + dest: path on the host
    + mode: octal mode of ``dest``
    + user, group: owner of ``dest`` (default: root's, as the upload makes it)
    + check: a command that must accept the new file (its path appended) before it
      replaces ``dest``, e.g. ``("visudo", "-cf")``; refused, it is removed and the host fails

    **Example:**

    .. code:: python

        host_files.template(name="Write the K3s config", src="k3s/config.yaml.j2",
                            dest="/etc/rancher/k3s/config.yaml", mode="600", **values)
    """
    yield from _content(templates.render(src, **values).encode(), dest, mode, user=user, group=group, check=check)


@operation()
def put(src: str, dest: str, mode: str = "644", user: str | None = None, group: str | None = None):
    """
    Put a local file on the host, atomically, only when its content or mode differs.

    **Example:**

    .. code:: python

        host_files.put(src="templates/policies/k8sallowedrepos.yaml",
                       dest="/var/lib/rancher/k3s/server/manifests/edgewasm-policy-k8sallowedrepos.yaml")
    """
    with open(src, "rb") as f:
        yield from _content(f.read(), dest, mode, user=user, group=group)


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
def directory(path: str, mode: str | None = None, user: str | None = None, group: str | None = None):
    """
    A directory at ``path`` (parents made as needed), with ``mode`` and owner when given;
    without, they are left to whoever else sets them (K3s does for its own directories).

    **Example:**

    .. code:: python

        host_files.directory(name="K3s config directory", path="/etc/rancher/k3s/config.yaml.d")
    """
    info = fact_once(Directory, path=path)
    owned = not info or ((not user or info.get("user") == user) and (not group or info.get("group") == group))
    if info and owned and (mode is None or str(info["mode"]) == mode.lstrip("0")):
        host.noop(f"directory {path} exists")
        return
    owner = _owner(user, group)
    yield StringCommand("mkdir", "-p", QuoteString(path),
                        *(("&&", "chown", QuoteString(owner), QuoteString(path)) if owner else ()),
                        *(("&&", "chmod", QuoteString(mode), QuoteString(path)) if mode else ()))


@operation()
def tree_absent(path: str):
    """
    No directory at ``path``, nor anything under it.

    **Example:**

    .. code:: python

        host_files.tree_absent(name="Remove /opt/edgewasm", path="/opt/edgewasm")
    """
    if not fact_once(Directory, path=path):
        host.noop(f"directory {path} does not exist")
        return
    yield StringCommand("rm", "-rf", QuoteString(path))


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

        host_files.verified_file(
            src="bundles/site-a/k3s/v1.32.2+k3s1/arm64/k3s-arm64",
            dest="/var/lib/edgewasm/artifacts/k3s/v1.32.2+k3s1/k3s-arm64",
            sha256="...",
        )
    """
    if fact_once(Sha256File, path=dest) == sha256:  # artifacts.place() asked already
        yield from mode_kept(dest, mode, f"has sha256 {sha256[:12]}")
        return
    directory, partial = upload_name(dest)
    yield from mkdir_once(directory)
    # With sudo, pyinfra stages uploads elsewhere first: keep that on disk too.
    yield FileUploadCommand(src, partial, remote_temp_filename=f"/var/tmp/edgewasm-upload-{sha256[:16]}")
    yield StringCommand("chmod", QuoteString(mode), QuoteString(partial), "&&",
                        _verified_rename(partial, dest, sha256, f"{dest}: upload does not match sha256 {sha256}"))


@operation()
def installed_copy(src: str, dest: str, sha256: str, mode: str = "755"):
    """
    Install a file that is already on the host (from the artifact cache), verified.

    **Example:**

    .. code:: python

        host_files.installed_copy(src="/var/lib/edgewasm/artifacts/k3s/v1.32.2+k3s1/k3s-arm64",
                                dest="/usr/local/bin/k3s", sha256="...")
    """
    if fact_once(Sha256File, path=dest) == sha256:
        yield from mode_kept(dest, mode, f"has sha256 {sha256[:12]}")
        return
    partial = f"{dest}.edgewasm-new"
    yield StringCommand("install", "-m", QuoteString(mode), QuoteString(src), QuoteString(partial))
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

        host_files.extracted(tarball="/var/lib/edgewasm/artifacts/wasmtime/49.0.4/wasmtime-v49.0.4-aarch64-linux.tar.xz",
                           dest="/opt/edgewasm/wasmtime/49.0.4", sha256="...")
    """
    if fact_once(ExtractedFrom, directory=dest) == sha256:
        host.noop(f"{dest} holds {tarball.rsplit('/', 1)[-1]}")
        return
    script = extract_script(tarball, dest, sha256)
    yield StringCommand("sh", "-c", QuoteString(script))
