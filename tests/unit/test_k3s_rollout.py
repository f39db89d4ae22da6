"""Rollouts: how many agents restart at once, and the digest that says K3s is stale."""

import subprocess

import pytest

from edgewasm import settings
from edgewasm.k3s import inputs_digest_script, rollout_batch


@pytest.mark.parametrize("value,agents,batch", [
    ("25%", 1, 1), ("25%", 2, 1), ("25%", 4, 1), ("25%", 8, 2), ("25%", 48, 12), ("25%", 500, 125),
    ("100%", 48, 48), ("1%", 48, 1), (1, 48, 1), (5, 48, 5), (5, 2, 5),
])
def test_batch_is_a_count_or_a_share_of_the_agents_rounded_down_at_least_one(value, agents, batch):
    assert rollout_batch(value, agents) == batch


@pytest.mark.parametrize("bad", [0, -1, "0%", "101%", "25", "x%", True, 2.5, None])
def test_a_bad_batch_is_refused_with_the_form_it_takes(bad):
    problem = settings.SETTINGS["k3s_rollout_batch"].check(bad)
    assert problem and "percentage" in problem


def _digest(paths):
    return subprocess.run(["sh", "-c", inputs_digest_script([str(p) for p in paths])],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_the_inputs_digest_follows_content_links_and_absence(tmp_path):
    config, link, gone = tmp_path / "config.yaml", tmp_path / "shim", tmp_path / "template"
    config.write_text("a: 1\n")
    link.symlink_to("/opt/edgewasm/one")
    paths = [config, link, gone]
    first = _digest(paths)
    assert len(first) == 64 and _digest(paths) == first
    config.write_text("a: 2\n")
    second = _digest(paths)
    link.unlink()
    link.symlink_to("/opt/edgewasm/two")
    third = _digest(paths)
    gone.write_text("now here\n")
    fourth = _digest(paths)
    assert len({first, second, third, fourth}) == 4


def test_drain_keeps_daemonsets_and_bounds_the_wait():
    from edgewasm.k3s import drain_args

    assert drain_args("edge-agent-3", 300) == ["drain", "edge-agent-3", "--ignore-daemonsets",
                                               "--delete-emptydir-data", "--timeout=300s"]


# ------------------------------------------------------------------------------ quoting
#
# A node's name is inventory data and reaches root shells on the first server (drain,
# uncordon) and on the node (its restart script). Validation refuses names that are not
# RFC 1123 names (tests/unit/test_config.py); these prove the commands are quoted anyway,
# by running exactly what the deploy sends through a local sh, with stub k3s, systemctl
# and journalctl that only log their arguments.

HOSTILE = ["a1;touch {dir}/pwned;#", "a2';touch {dir}/pwned;'", "a3$(touch {dir}/pwned)", 'a4"`touch {dir}/pwned`"']


class _ShellHost:
    """A pyinfra host whose commands run in a local sh (PATH: the stubs)."""

    def __init__(self, name: str, env: dict):
        import types

        self.name, self.env = name, env
        self.data = types.SimpleNamespace(k3s_ready_timeout=1)

    def run_shell_command(self, command):
        import types

        done = subprocess.run(["sh", "-c", command.get_raw_value()], env=self.env, capture_output=True, text=True)
        return done.returncode == 0, types.SimpleNamespace(stderr_lines=done.stderr.splitlines())

    def log_styled(self, *args, **kwargs):
        pass


@pytest.fixture
def stubs(tmp_path):
    import os

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    for tool in ("k3s", "systemctl", "journalctl"):
        (bin_dir / tool).write_text(f'#!/bin/sh\nprintf "%s\\n" "{tool} $*" >> {log}\n')
        (bin_dir / tool).chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}, log


def _restart_script(name: str) -> str:
    import types
    from unittest import mock

    import deploys.k3s as k3s_deploy

    facts = {"SystemdStatus": {"k3s-agent.service": True}, "UnitFileEnabled": "enabled",
             "InputsDigest": "a", "StartedInputs": "b"}
    with mock.patch.object(k3s_deploy, "host", types.SimpleNamespace(name=name)), \
            mock.patch.object(k3s_deploy.fact_cache, "fact_once", lambda cls, **kwargs: facts[cls.__name__]):
        (command,) = k3s_deploy.service_running._inner(unit="k3s-agent", restart=True, timeout=1, server=False,
                                                       inputs=["/etc/rancher/k3s/config.yaml"], rolling=True,
                                                       drain=True)
    return command.args[0]


@pytest.mark.parametrize("template", HOSTILE)
def test_a_node_name_reaches_drain_restart_and_uncordon_as_one_argument(tmp_path, stubs, template):
    from unittest import mock

    import deploys.k3s as k3s_deploy

    env, log = stubs
    name = template.format(dir=tmp_path)
    first, node = _ShellHost("srv", env), _ShellHost(name, env)
    failures = []
    with mock.patch.object(k3s_deploy, "_first_server", lambda: first), \
            mock.patch.object(k3s_deploy.run_summary, "failed", lambda *args: failures.append(args)), \
            mock.patch.object(k3s_deploy, "_ROLLOUT_STOPPED", []):
        # The stub systemctl never shows a new instance: the script times out and says so.
        assert k3s_deploy._restart(None, node, _restart_script(name), rolling=True, slots=0, drain=True) is False
        assert k3s_kubectl_calls(log) == [f"k3s kubectl drain {name} --ignore-daemonsets --delete-emptydir-data "
                                          "--timeout=1s"]
        assert k3s_deploy._kubectl(first, "uncordon", name)[0]
    assert not (tmp_path / "pwned").exists()
    assert k3s_kubectl_calls(log)[-1] == f"k3s kubectl uncordon {name}"
    assert failures == [(name, "K3s did not get ready (its journal tail is above)")]


def k3s_kubectl_calls(log) -> list[str]:
    return [line for line in log.read_text().splitlines() if line.startswith("k3s ")]


def test_the_restart_script_says_which_node_timed_out_in_its_own_words(tmp_path, stubs):
    env, _ = stubs
    name = "a2';touch {dir}/pwned;'".format(dir=tmp_path)
    done = subprocess.run(["sh", "-c", _restart_script(name)], env=env, capture_output=True, text=True)
    assert done.returncode == 1 and not (tmp_path / "pwned").exists()
    assert done.stderr.splitlines()[0] == f"{name}: k3s-agent.service not ready after 1s; last journal lines:"


def test_owners_modes_and_modules_reach_the_shell_quoted():
    """operations/: what a deploy passes for an owner (check_user is data), a mode or a
    kernel module goes to chown/chmod/modprobe as one word."""
    from unittest import mock

    from operations import host_files, host_ops

    with mock.patch.object(host_files, "fact_once", lambda cls, **kwargs: None):
        (mkdir,) = host_files.directory._inner(path="/var/lib/x", user="u;reboot", group="g", mode="750")
    assert mkdir.get_raw_value() == ("mkdir -p /var/lib/x && chown 'u;reboot:g' /var/lib/x "
                                     "&& chmod 750 /var/lib/x")
    with mock.patch.object(host_files, "fact_once", lambda cls, **kwargs: {"mode": 644, "user": "root"}):
        chmod, chown = host_files.mode_kept("/etc/x", "6$(reboot)", "is current", user="a b")
    assert chmod.get_raw_value() == "chmod '6$(reboot)' /etc/x"
    assert chown.get_raw_value() == "chown 'a b:' /etc/x"
    loadable = {"overlay": "loadable", "x;reboot": "loadable"}
    with mock.patch.object(host_ops, "fact_once", lambda cls, **kwargs: loadable):
        (modprobe,) = host_ops.kernel_modules_loaded._inner(modules=["overlay", "x;reboot"])
    assert modprobe.get_raw_value() == "modprobe -a overlay 'x;reboot'"
