"""``edgewasm-check INVENTORY``: is every host of a fleet what edgewasm would make it?

    edgewasm-check inventories/edge.py
    edgewasm-check inventories/edge.py --format junit,markdown --parallel 4
    edgewasm-check inventories/edge.py --reports /var/lib/edgewasm-check/reports \\
        --textfile-dir /var/lib/prometheus/node-exporter

Read-only: it runs the host checks (edgewasm.compliance.checks) on every host, several
at once, and a pyinfra dry run of the deploy for drift; it never changes a host. Each run
writes its reports to <reports>/<inventory>/<UTC timestamp>/ and keeps the newest --keep
runs.

Exit status: 0 compliant (every check passed, no drift, every host reached); 1 not
compliant or drifted; 2 the check itself did not run to its report: bad inventory or
arguments, a report directory it cannot write, another run of the inventory in progress
(before any host is contacted), or a crash (any error, at any point). A run stopped by
SIGTERM or Ctrl-C ends as that signal would have ended it. With --textfile-dir, the
metrics say which: edgewasm_compliance_run_success 1 once the reports are written, 0 when
the run failed or was stopped (the last finished run's metrics are kept beside it).

A run holds the inventory's lock (<reports>/<inventory>/.lock) throughout. The hosts'
check processes get the inventory in a private temporary file holding no secret, removed
when the run ends, however it ends.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from edgewasm.check_access import check_user, pod_namespaces
from edgewasm.compliance import drift, formats, history, redact, report, runner
from edgewasm.config import inventory_hosts

DEFAULT_PARALLEL = 16
DEFAULT_KEEP = 30
DEFAULT_HOST_TIMEOUT = 900
TEXTFILE_NAME = "edgewasm_compliance_{inventory}.prom"


class Refused(Exception):
    """The check cannot run; the message names the value and the fix."""


class Busy(Refused):
    """Another run of the inventory holds its lock (that run writes the metrics)."""


class Stopped(BaseException):
    """SIGTERM arrived: unwinds the run (its finally blocks clean up), then it ends as
    SIGTERM would have ended it."""


def _formats(value: str) -> list[str]:
    wanted = [f.strip() for f in value.split(",") if f.strip()]
    unknown = [f for f in wanted if f not in formats.FILES]
    if unknown or not wanted:
        raise argparse.ArgumentTypeError(f"unknown report format {', '.join(unknown) or repr(value)}; "
                                         f"choose from {', '.join(formats.FILES)}")
    return wanted


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of at least 1")
    return number


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edgewasm-check", description=__doc__.split("\n\n")[2],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inventory", help="pyinfra inventory file whose hosts are checked")
    p.add_argument("--reports", default="reports", type=Path,
                   help="where run directories go (default: %(default)s)")
    p.add_argument("--format", dest="formats", type=_formats, default=list(formats.FILES),
                   help=f"comma-separated, of {', '.join(formats.FILES)} (default: all; json is always written)")
    p.add_argument("--keep", type=_positive, default=DEFAULT_KEEP,
                   help="runs kept per inventory (default: %(default)s)")
    p.add_argument("--parallel", type=_positive, default=DEFAULT_PARALLEL,
                   help="hosts checked at once (default: %(default)s)")
    p.add_argument("--host-timeout", type=_positive, default=DEFAULT_HOST_TIMEOUT,
                   help="seconds one host's checks may take (default: %(default)s)")
    p.add_argument("--textfile-dir", type=Path, default=None,
                   help="also write the metrics here, for node_exporter's textfile collector")
    p.add_argument("--no-drift", action="store_true", help="skip the dry run (drift is then unknown)")
    return p


def _writable(directory: Path, what: str) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".edgewasm-check-"):
            pass
    except OSError as exc:
        raise Refused(f"{what} {directory} is not writable ({exc.strerror}); fix: pass a directory this user "
                      f"can write with --{what.split()[0]}") from None


def _prepare(args) -> list:
    if not Path(args.inventory).is_file():
        raise Refused(f"inventory {args.inventory} does not exist; fix: pass the path of a pyinfra inventory file")
    if not runner.CHECKS.is_dir():
        raise Refused(f"the host checks are not at {runner.CHECKS}; fix: reinstall edgewasm (its package "
                      "edgewasm.compliance.checks holds them)")
    _writable(args.reports, "reports directory")
    if args.textfile_dir:
        _writable(args.textfile_dir, "textfile-dir")
    try:
        hosts = inventory_hosts(args.inventory)
    except RuntimeError as exc:
        raise Refused(f"{exc}\nfix: correct the inventory; no host was contacted") from None
    if not hosts:
        raise Refused(f"inventory {args.inventory} has no hosts; fix: add hosts to k3s_servers / k3s_agents")
    return hosts


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _write(path: Path, text: str, mode: int = 0o600) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _textfile(args, name: str) -> Path:
    return args.textfile_dir / TEXTFILE_NAME.format(inventory=name)


def run(args) -> int:
    hosts = _prepare(args)
    name = history.inventory_name(args.inventory)
    root = args.reports / name
    try:
        lock = history.lock(root)
    except history.Locked as exc:
        raise Busy(f"{exc}; fix: wait for it to finish (or stop it: kill {exc.pid})") from None
    # The hosts' check processes read the inventory here: private, no secret in it, gone
    # when the run ends (finally: also on SIGTERM, Ctrl-C or an error).
    private = Path(tempfile.mkdtemp(prefix="edgewasm-check-"))
    try:
        return _run(args, hosts, name, root, private / "inventory.json")
    finally:
        drift.stop_all()
        shutil.rmtree(private, ignore_errors=True)
        history.unlock(lock)


def _run(args, hosts: list, name: str, root: Path, inventory_json: Path) -> int:
    started = datetime.now(timezone.utc)
    clock = time.monotonic()
    run_dir = history.new_run_dir(root, started)
    known = frozenset(redact.known_secrets(hosts))
    _say(f"edgewasm-check: {len(hosts)} hosts of {args.inventory}, {args.parallel} at once; reports in {run_dir}")

    runner.write_inventory(hosts, inventory_json)
    names = [h.name for h in hosts]
    drift_result: dict = {}
    drift_error: list[BaseException] = []
    if args.no_drift:
        drift_result.update({n: {"known": False, "reason": "not computed (--no-drift)", "operations": []}
                             for n in names})
        dry = None
    else:
        def dry_run():
            try:
                drift_result.update(drift.dry_run(args.inventory, names, args.host_timeout))
            except BaseException as exc:  # noqa: BLE001 - raised again in the main thread: a crash
                drift_error.append(exc)
        dry = threading.Thread(target=dry_run, daemon=True)
        dry.start()

    def finished(host_run):
        bad = sum(c["outcome"] in report.BAD for c in host_run.checks)
        reason = redact.text(host_run.reason or "", known)
        state = (reason if reason.startswith("unreachable") else f"unreachable: {reason}") if reason \
            else f"{len(host_run.checks)} checks, {bad} failed"
        _say(f"  {host_run.name}: {state} ({host_run.duration_s:.1f}s)")

    runs = runner.check_all(hosts, inventory_json, run_dir, args.parallel, args.host_timeout, done=finished,
                            known=known)
    if dry is not None:
        dry.join()
    if drift_error:
        raise drift_error[0]

    entries = [report.host_entry(r.name, r.role, r.reason, r.checks, drift_result.get(r.name, {}), r.duration_s)
               for r in runs]
    previous, warnings = history.previous_report(root, run_dir, report.baseline_problem)
    for warning in warnings:
        _say(f"edgewasm-check: warning: {warning}")
    data = report.build(args.inventory, name, run_dir.name, started, time.monotonic() - clock, entries, previous,
                        warnings, made=_footprint(hosts))
    # The net under the checks: no string of any report holds a secret the inventory knows
    # or anything shaped like one (edgewasm.compliance.redact).
    data = redact.deep(data, known)
    for fmt in {"json", *args.formats}:
        _write(run_dir / formats.FILES[fmt], formats.WRITERS[fmt](data))
    if args.textfile_dir:
        # Read by node_exporter (another user): metrics only, no secret in them.
        _write(_textfile(args, name), formats.to_prometheus(data), 0o644)
    history.prune(root, args.keep)
    print(formats.to_markdown(data).strip())
    _say(f"edgewasm-check: {'compliant' if data['compliant'] else 'NOT compliant'}; reports in {run_dir}")
    return data["exit_status"]


def _footprint(hosts: list) -> dict:
    """What this run changes (report.footprint): pods where the cluster checks run them,
    on the inventory's first server's settings; and the check user it read the hosts as."""
    server = next((h for h in hosts if h.role == "server"), None)
    users = sorted({check_user(h.data) for h in hosts} - {None})
    return report.footprint(pod_namespaces(server.data) if server else [], ", ".join(users) or None)


def _run_failed(args) -> None:
    """Say in the metrics that the run did not finish, when there is where to."""
    if args is None or not getattr(args, "textfile_dir", None):
        return
    name = history.inventory_name(args.inventory)
    path = _textfile(args, name)
    try:
        previous = path.read_text() if path.is_file() else ""
        _write(path, formats.with_run_failed(previous, name), 0o644)
    except OSError as exc:
        _say(f"edgewasm-check: could not write {path} ({exc.strerror})")


def _stop(signum, frame):
    # Once: a second SIGTERM must not cut the cleanup the first one started.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Stopped()


def _end_by_signal(signum: int) -> None:
    """End the process as ``signum`` would have, once the run has cleaned up (systemd and
    shells then see what stopped it)."""
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def main(argv: list[str] | None = None) -> int:
    args = None
    # Reports name hosts and paths: their owner's only. Restored after: called in-process
    # (tests), a lasting 077 made every file the caller later created private, and the
    # test bed's hosts, built afterwards, booted with a D-Bus that could read no config.
    umask = os.umask(0o077)
    handler = signal.signal(signal.SIGTERM, _stop) if threading.current_thread() is threading.main_thread() else None
    try:
        args = parser().parse_args(argv)
        return run(args)
    except Refused as exc:
        _say(f"edgewasm-check: {exc}")
        if not isinstance(exc, Busy):  # the run in progress writes the metrics
            _run_failed(args)
        return 2
    except Stopped:
        _say("edgewasm-check: stopped (SIGTERM); no report written")
        _run_failed(args)
        _end_by_signal(signal.SIGTERM)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        _say("edgewasm-check: interrupted; no report written")
        _run_failed(args)
        raise
    except Exception:  # noqa: BLE001 - any crash: exit 2, never 1 ("not compliant", a result)
        _say("edgewasm-check: CRASHED, no report written (exit 2):\n"
             + redact.text("".join(traceback.format_exc())).rstrip())
        _run_failed(args)
        return 2
    finally:
        os.umask(umask)
        if handler is not None:
            signal.signal(signal.SIGTERM, handler)


if __name__ == "__main__":
    sys.exit(main())
