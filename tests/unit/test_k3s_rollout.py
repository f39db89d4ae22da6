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
