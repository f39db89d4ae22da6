"""edgewasm-check before any host is contacted: bad input exits 2 and touches nothing;
run directories, history and pruning; which checks apply to which host; every check
states its fix."""

import ast
import json
import os
import signal
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from edgewasm import templates
from edgewasm.compliance import applies, cli, crd_schemas, history, runner, schema
from edgewasm.compliance.plugin import describe
from edgewasm.config import InventoryHost

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = ROOT / "inventories" / "testbed.py"


def test_unknown_report_format_exits_2(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit:
        cli.main([str(INVENTORY), "--format", "json,pdf", "--reports", str(tmp_path)])
    assert exit.value.code == 2
    assert "unknown report format pdf; choose from json, junit, html, markdown, prometheus" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("option", ["--parallel", "--keep"])
def test_counts_below_one_exit_2(capsys, option):
    with pytest.raises(SystemExit) as exit:
        cli.main([str(INVENTORY), option, "0"])
    assert exit.value.code == 2 and "'0' is not a whole number of at least 1" in capsys.readouterr().err


def test_missing_inventory_exits_2(capsys, tmp_path):
    assert cli.main([str(tmp_path / "nope.py"), "--reports", str(tmp_path / "r")]) == 2
    assert f"inventory {tmp_path / 'nope.py'} does not exist" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_broken_inventory_exits_2_naming_the_problem(capsys, tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("k3s_servers = [('edge-1', {'k3s_version': 'v0.1'})]\nthis is not python\n")
    assert cli.main([str(broken), "--reports", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "cannot read inventory" in err and "no host was contacted" in err
    assert not list((tmp_path / "r").iterdir()), "no run directory for a run that did not happen"


def test_unwritable_report_directory_exits_2(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert cli.main([str(INVENTORY), "--reports", str(blocker / "reports")]) == 2
    assert f"reports directory {blocker / 'reports'} is not writable" in capsys.readouterr().err


def test_run_directories_history_and_pruning(tmp_path):
    root = tmp_path / "site"
    t = datetime(2026, 12, 1, 3, 15, tzinfo=timezone.utc)
    first = history.new_run_dir(root, t)
    second = history.new_run_dir(root, t)
    assert (first.name, second.name) == ("20261201T031500Z", "20261201T031500Z-2")
    assert first.stat().st_mode & 0o777 == 0o700
    assert history.previous_report(root, second) == (None, []), "a run without report.json is no baseline"
    (first / "report.json").write_text(json.dumps({"run": first.name}))
    assert history.previous_report(root, second) == ({"run": first.name}, [])
    third = history.new_run_dir(root, datetime(2026, 12, 2, tzinfo=timezone.utc))
    (root / "notes").mkdir()
    assert history.prune(root, 2) == [first]
    assert history.runs(root) == [second, third] and (root / "notes").is_dir()
    assert history.inventory_name("inventories/site a.py") == "site_a"


def test_describe_splits_summary_and_fix():
    assert describe("""Token files are root's, mode 0600.

    Fix: run the deploy.""") == ("Token files are root's, mode 0600.", "run the deploy.")
    assert describe(None) == ("", "")


def _checks():
    paths = sorted(runner.CHECKS.glob("test_*.py"))
    assert paths, f"no checks in {runner.CHECKS}"
    for path in paths:
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                yield path.name, node


def test_every_host_check_states_what_it_verifies_and_its_fix():
    missing = [f"{f}::{n.name}" for f, n in _checks() if not all(describe(ast.get_docstring(n)))]
    assert missing == []


def test_the_checks_need_nothing_from_tests():
    """edgewasm-check runs the checks from the installed package, where tests/ is not."""
    found = []
    for path in sorted(runner.CHECKS.rglob("*.py")) + [Path(schema.__file__), Path(crd_schemas.__file__)]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.name}: {n}" for n in names if n == "tests" or n.startswith("tests.")]
    assert found == []


class FakeInventoryHost:
    def __init__(self, name, role, data):
        self.name, self.role, self.data = name, role, data


def target(role="agent", data=None, first=None, uname="x86_64", model="", versions=()):
    probes = {"uname -m": uname}

    def probe(command):
        return probes.get(command, model)

    plan = type("Plan", (), {"versions": {v: "1" for v in versions}})
    return applies.Target(FakeInventoryHost("h", role, data or {}), first, probe, lambda: plan)


def test_applicability_from_inventory_data():
    assert applies.server(target("server")) and not applies.server(target("agent"))
    assert applies.k3s_node(target("agent")) and not applies.k3s_node(target(None))
    assert applies.first_server(target("server", first="h")) and not applies.first_server(target("server"))
    assert applies.from_bundle(target(data={"edgewasm_bundle": "bundles/x"})) and not applies.from_bundle(target())
    assert applies.swap_disabled(target(data={"preflight_swap": "disable"}))
    assert not applies.swap_disabled(target(data={"preflight_swap": "keep"}))
    assert applies.crun_route(target(data={"edgewasm_crun": True}))


def test_the_hardening_checks_apply_where_the_hardening_is_on():
    """On by default (the inventory data the checks get is merged with the defaults; a bare
    {} here stands for it), off where a setting turns its part off."""
    assert applies.secrets_encryption(target("server")) and not applies.secrets_encryption(target("agent"))
    assert not applies.secrets_encryption(target("server", data={"k3s_secrets_encryption": False}))
    assert applies.audit_log(target("server")) and not applies.audit_log(target("server", data={"k3s_audit_log": False}))
    assert applies.pod_security(target("server")) and not applies.pod_security(target("agent"))
    assert applies.pod_security_enforced(target("server"))
    assert not applies.pod_security_enforced(target("server", data={"k3s_pod_security": "privileged"}))
    assert applies.protect_kernel_defaults(target("agent")) and not applies.protect_kernel_defaults(target(None))
    assert not applies.protect_kernel_defaults(target("agent", data={"k3s_protect_kernel_defaults": False}))


def test_applicability_from_the_host():
    assert applies.raspberry_pi(target(uname="aarch64", model="Raspberry Pi 4 Model B Rev 1.4"))
    assert not applies.raspberry_pi(target(model=""))
    assert applies.wasm_arch(target(uname="aarch64")) and not applies.wasm_arch(target(uname="riscv64"))
    assert applies.component("wasmedge")(target(versions=["wasmedge"]))
    assert not applies.component("wasmedge")(target(versions=["wasmtime"]))
    assert applies.gatekeeper(target("server", data={"gatekeeper_enabled": True}, versions=["gatekeeper"]))
    assert not applies.gatekeeper(target("server", data={"gatekeeper_enabled": False}, versions=["gatekeeper"]))
    assert not applies.gatekeeper(target("agent", data={"gatekeeper_enabled": True}, versions=["gatekeeper"]))


def test_a_target_reads_the_host_only_when_asked():
    asked = []
    t = applies.Target(FakeInventoryHost("h", "agent", {}), None, lambda c: asked.append(c) or "x86_64",
                       lambda: None)
    assert applies.agent(t) and asked == []
    applies.wasm_arch(t), applies.wasm_arch(t)
    assert asked == ["uname -m"]


def test_inventory_host_round_trips_through_the_json_edgewasm_check_hands_pytest():
    h = InventoryHost("edge-1", ["k3s_agents"], {"ssh_port": 22})
    assert InventoryHost(**json.loads(json.dumps(vars(h)))) == h


def test_reports_are_private(tmp_path):
    old = os.umask(0o022)
    try:
        cli._write(tmp_path / "a", "x")
        cli._write(tmp_path / "m.prom", "x", 0o644)
    finally:
        os.umask(old)
    assert (tmp_path / "a").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "m.prom").stat().st_mode & 0o777 == 0o644


def test_source_archive_is_reproducible_and_carries_the_checks(tmp_path):
    from edgewasm.compliance import install
    import tarfile

    a = install.source_archive(tmp_path / "a.tar.gz")
    b = install.source_archive(tmp_path / "b.tar.gz")
    assert a.read_bytes() == b.read_bytes()
    with tarfile.open(a) as tar:
        names = tar.getnames()
        assert all(m.mtime == 0 and m.uid == 0 for m in tar.getmembers())
    assert {"pyproject.toml", "edgewasm/compliance/checks/conftest.py", "edgewasm/compliance/cli.py",
            "edgewasm/compliance/schema.py", "deploys/full_stack.py", "operations/host_files.py",
            "templates/compliance/report.html.j2"} <= set(names)
    assert not [n for n in names if "__pycache__" in n or n.startswith(("tests", "bundles"))]


def test_wheel_download_is_for_the_hosts_python_and_arch(tmp_path):
    from edgewasm.compliance import install

    args = install.pip_download_args(tmp_path, "3.11", "arm64", tmp_path / "c.txt", ["pytest>=8"])
    assert args[args.index("--python-version") + 1] == "3.11" and "cp311" in args
    assert "manylinux_2_17_aarch64" in args and "--only-binary=:all:" in args and args[-1] == "pytest>=8"
    with pytest.raises(ValueError, match="no wheels for arch 'arm'"):
        install.pip_download_args(tmp_path, "3.11", "arm", tmp_path / "c.txt", [])
    reqs = install.requirements()
    assert "pytest-testinfra>=10" in reqs and "wasmtime>=20" in reqs and "setuptools>=68" in reqs
    assert not [r for r in reqs if r.startswith("regopy")], "the Rego engine is a test tool, not a check's"


def test_file_states_in_one_command(tmp_path):
    import subprocess

    from edgewasm.compliance import files

    (tmp_path / "a b").write_text("x")
    (tmp_path / "a b").chmod(0o640)
    (tmp_path / "link").symlink_to(tmp_path / "a b")
    (tmp_path / "dir").mkdir()
    paths = [str(tmp_path / n) for n in ("a b", "link", "dir", "none")]
    found = files.parse(subprocess.run(files.command(paths), shell=True, capture_output=True, text=True,
                                       check=True).stdout)
    import getpass
    import hashlib

    assert found[paths[0]] == files.FileState(paths[0], "file", 0o640, getpass.getuser(),
                                              hashlib.sha256(b"x").hexdigest())
    assert [found[p].kind for p in paths[1:]] == ["link", "other", "missing"]


def test_the_cli_leaves_the_callers_umask_as_it_was(tmp_path):
    old = os.umask(0o022)
    try:
        cli.main([str(tmp_path / "nope.py"), "--reports", str(tmp_path / "r")])
        assert os.umask(0o022) == 0o022
    finally:
        os.umask(old)


# ------------------------------------------------------------- a run, its hosts faked

class FakeRun:
    """edgewasm-check on a fake inventory: its hosts' checks answered by ``checks``
    (called with the inventory file the check processes would read)."""

    def __init__(self, tmp_path, monkeypatch):
        self.inventory = tmp_path / "site.py"
        self.inventory.write_text("# hosts come from the test\n")
        self.reports, self.textfile = tmp_path / "reports", tmp_path / "textfile"
        self.hosts = [InventoryHost("srv-1", ["k3s_servers"], {"k3s_token": "K10ab::server:INVENTORYSECRET1"}),
                      InventoryHost("agent-1", ["k3s_agents"], {})]
        self.seen: list[tuple[Path, str]] = []
        self.checks = lambda inventory_json: [runner.HostRun(h.name, h.role, checks=[]) for h in self.hosts]
        self.ended_by: list[int] = []
        monkeypatch.setattr(cli, "inventory_hosts", lambda inventory: self.hosts)
        monkeypatch.setattr(cli, "_end_by_signal", self.ended_by.append)

        def check_all(hosts, inventory_json, workdir, parallel, timeout, done=None, known=frozenset()):
            self.seen.append((inventory_json, inventory_json.read_text()))
            self.private_mode = inventory_json.parent.stat().st_mode & 0o777
            return self.checks(inventory_json)

        monkeypatch.setattr(runner, "check_all", check_all)

    def main(self, *extra):
        return cli.main([str(self.inventory), "--reports", str(self.reports), "--textfile-dir", str(self.textfile),
                         "--no-drift", *extra])

    @property
    def metrics(self) -> str:
        return (self.textfile / "edgewasm_compliance_site.prom").read_text()

    def run_dirs(self):
        return history.runs(self.reports / "site")


@pytest.fixture
def fake_run(tmp_path, monkeypatch):
    return FakeRun(tmp_path, monkeypatch)


def test_the_check_processes_read_a_private_inventory_without_secrets_gone_after_the_run(fake_run):
    assert fake_run.main() == 1  # drift unknown (--no-drift): not compliant
    ((path, text),) = fake_run.seen
    assert "INVENTORYSECRET1" not in text and "k3s_token" not in text
    assert fake_run.private_mode == 0o700 and fake_run.reports not in path.parents
    assert not path.parent.exists(), "the private directory is removed with the run"
    assert not list(fake_run.reports.rglob("*inventory*"))
    assert "edgewasm_compliance_run_success{inventory=\"site\"} 1.0" in fake_run.metrics


def _interrupt_with(what):
    def checks(inventory_json):
        if what == "sigterm":
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler interrupts this
        raise what
    return checks


@pytest.mark.parametrize("what", ["sigterm", KeyboardInterrupt(), RuntimeError("a bug")])
def test_an_interrupted_or_crashed_run_leaves_no_inventory_and_says_so_in_the_metrics(fake_run, what, capsys):
    fake_run.textfile.mkdir(mode=0o755)
    (fake_run.textfile / "edgewasm_compliance_site.prom").write_text(
        "# HELP edgewasm_compliance_host_compliant x\n# TYPE edgewasm_compliance_host_compliant gauge\n"
        'edgewasm_compliance_host_compliant{host="srv-1",inventory="site"} 1.0\n'
        "# HELP edgewasm_compliance_run_success x\n# TYPE edgewasm_compliance_run_success gauge\n"
        'edgewasm_compliance_run_success{inventory="site"} 1.0\n')
    fake_run.checks = _interrupt_with(what)
    started = time.monotonic()
    if isinstance(what, KeyboardInterrupt):
        with pytest.raises(KeyboardInterrupt):
            fake_run.main()
    elif what == "sigterm":
        assert fake_run.main() == 128 + signal.SIGTERM
        assert fake_run.ended_by == [signal.SIGTERM], "it ends by the signal, once cleaned up"
        assert time.monotonic() - started < 4
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    else:
        assert fake_run.main() == 2, "a crash is no verdict: 1 would read as 'not compliant'"
        err = capsys.readouterr().err
        assert "CRASHED" in err and "RuntimeError: a bug" in err
    ((path, _),) = fake_run.seen
    assert not path.parent.exists()
    families = {f.name: f for f in text_string_to_metric_families(fake_run.metrics)}
    assert families["edgewasm_compliance_run_success"].samples[0].value == 0
    assert families["edgewasm_compliance_host_compliant"].samples[0].value == 1, "the last finished run's, kept"
    history.unlock(history.lock(fake_run.reports / "site"))  # released


def test_a_crash_in_the_dry_run_exits_2(fake_run, monkeypatch):
    def broken(inventory, names, timeout):
        raise ValueError("unexpected output")

    monkeypatch.setattr(cli.drift, "dry_run", broken)
    assert cli.main([str(fake_run.inventory), "--reports", str(fake_run.reports)]) == 2


def test_the_nightly_unit_counts_not_compliant_a_result_and_anything_else_a_failure():
    unit = templates.render("check/edgewasm-check.service.j2", check_user="c", home="/h", venv="/v", inventory="i.py",
                            textfile_dir="/t", keep=1, parallel=1)
    assert [line for line in unit.splitlines() if line.startswith("SuccessExitStatus")] == ["SuccessExitStatus=1"]
    (start,) = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    assert start.startswith("ExecStart=/v/bin/python -m edgewasm.compliance i.py ")


def test_a_broken_install_exits_2_not_1(monkeypatch, capsys):
    import edgewasm.compliance
    from edgewasm.compliance import __main__ as entry

    monkeypatch.delattr(edgewasm.compliance, "cli")
    monkeypatch.setitem(sys.modules, "edgewasm.compliance.cli", None)  # its import fails
    assert entry.main(["x.py"]) == 2
    assert "CRASHED while starting" in capsys.readouterr().err


def test_a_second_run_of_the_inventory_exits_2_naming_the_lock_and_its_pid(fake_run, capsys):
    held = history.lock(fake_run.reports / "site")
    try:
        assert fake_run.main() == 2
    finally:
        history.unlock(held)
    err = capsys.readouterr().err
    lock = fake_run.reports / "site" / ".lock"
    assert f"another run of this inventory is in progress: PID {os.getpid()} holds the lock {lock}" in err
    assert fake_run.seen == [] and fake_run.run_dirs() == [], "no host contacted, no run directory"
    assert not (fake_run.textfile / "edgewasm_compliance_site.prom").exists(), "the run in progress writes the metrics"
    assert fake_run.main() == 1, "the lock is free again"


def test_the_lock_goes_with_its_process(tmp_path):
    import subprocess

    code = f"from edgewasm.compliance import history; history.lock(__import__('pathlib').Path({str(tmp_path)!r}))"
    subprocess.run([sys.executable, "-c", code], check=True)  # exits holding it
    history.unlock(history.lock(tmp_path))


MALFORMED = {
    "truncated by a full disk": '{"schema": "edgewasm.compliance/v1", "hosts": [{"na',
    "not an object": "[]",
    "a host without its checks": json.dumps({"schema": "edgewasm.compliance/v1", "run": "x", "hosts": [{"name": "a"}]}),
    "another schema": json.dumps({"schema": "other", "hosts": []}),
    "not UTF-8": b"\xff\xfe".decode("latin-1"),
}


@pytest.mark.parametrize("kind", MALFORMED)
def test_a_malformed_last_report_is_passed_over_with_a_warning(fake_run, kind):
    assert fake_run.main() == 1
    (good,) = fake_run.run_dirs()
    good.rename(good.with_name("20200101T000000Z"))  # its report still names its run as it was
    bad = history.new_run_dir(fake_run.reports / "site", datetime(2021, 1, 1, tzinfo=timezone.utc))
    (bad / "report.json").write_bytes(MALFORMED[kind].encode("latin-1"))
    assert fake_run.main() == 1, "not a crash"
    latest = json.loads((fake_run.run_dirs()[-1] / "report.json").read_text())
    assert latest["changes"]["previous"] == good.name, "compared with the newest readable run"
    (warning,) = latest["warnings"]
    assert warning.startswith(f"the report of run {bad.name} is unreadable (") and warning.endswith(
        "passed over as the baseline")
    assert f"Warning: {warning}" in (fake_run.run_dirs()[-1] / "summary.md").read_text()
    assert "Warning: " in (fake_run.run_dirs()[-1] / "report.html").read_text()
