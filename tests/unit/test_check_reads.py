"""The host checks' reads in one command: each answered exactly as when run alone, and
only the reads sent in the batch are answered from it."""

from __future__ import annotations

import subprocess

import pytest
from testinfra.backend.paramiko import ParamikoBackend

from edgewasm import settings
from edgewasm.compliance import reads
from edgewasm.compliance.hosts import KnownHostsParamikoBackend, batch_script, parse_batch
from edgewasm.config import InventoryHost
from edgewasm.k3s import AGENT_TOKEN_FILE, KUBECONFIG, SERVER_TOKEN, TOKEN_FILE


def local(command: str) -> tuple[int, bytes, bytes]:
    done = subprocess.run(["sh", "-c", command], capture_output=True, stdin=subprocess.DEVNULL)
    return done.returncode, done.stdout, done.stderr


COMMANDS = [
    "echo one; echo two",
    "printf 'no newline\\000binary'",
    "echo out; echo err >&2; exit 3",
    "true",
    "cat /no/such/file",
    "echo '@@fake 0 0'",  # output that looks like a marker of another tag
]


def test_each_command_in_a_batch_answers_as_it_does_alone():
    rc, stdout, _ = local(batch_script(COMMANDS, "t4g"))
    assert rc == 0
    assert parse_batch(COMMANDS, "t4g", stdout) == {c: local(c) for c in COMMANDS}


def test_a_cut_off_batch_answers_only_what_arrived():
    _, stdout, _ = local(batch_script(COMMANDS, "t4g"))
    answered = parse_batch(COMMANDS, "t4g", b"\n".join(stdout.split(b"\n")[:6]))
    assert list(answered) == COMMANDS[:2]


@pytest.fixture
def backend(monkeypatch):
    sent = []

    def run_on_host(self, command, *args, **kwargs):  # what reaches the host: run here
        command = self.get_command(command, *args)
        sent.append(command)
        return self.result(*local(command)[:1], self.encode(command), *local(command)[1:])

    monkeypatch.setattr(ParamikoBackend, "run", run_on_host)
    b = KnownHostsParamikoBackend(InventoryHost("edge-1", ["k3s_agents"], {"ssh_hostname": "127.0.0.1"}))
    return b, sent


def test_prefetched_reads_are_answered_without_another_command(backend, tmp_path):
    b, sent = backend
    (tmp_path / "config.yaml").write_text("node-name: edge-1\n")
    path = str(tmp_path / "config.yaml")
    b.prefetch(reads.file_reads(path, "content", "mode") + [("uname -m",)])
    assert len(sent) == 1
    assert b.run("cat -- %s", path).stdout == "node-name: edge-1\n"
    assert b.run("stat -Lc %%a %s", path).stdout.strip() == local(f"stat -Lc %a {path}")[1].decode().strip()
    assert b.run("uname -m").rc == 0
    assert len(sent) == 1
    b.run("cat -- %s", str(tmp_path / "other"))  # not prefetched: sent
    assert len(sent) == 2
    b.prefetch(reads.file_reads(path, "content"))  # already answered: nothing sent
    assert len(sent) == 2


def test_the_reads_of_every_role_are_valid_testinfra_commands(backend):
    b, _ = backend
    data = {k: settings.value({}, k) for k in ("preflight_kernel_modules", "preflight_sysctls", "preflight_packages")}
    for role, first in ((None, False), ("agent", False), ("server", True)):
        for read in reads.host_reads(data, role, first):
            assert isinstance(b.get_command(*read), str)
    secret_files = (AGENT_TOKEN_FILE, TOKEN_FILE, SERVER_TOKEN, KUBECONFIG, "/etc/systemd/system/k3s.service.env",
                    "/etc/systemd/system/k3s-agent.service.env")
    for role in ("agent", "server"):
        for read in reads.host_reads(data, role, role == "server"):
            if read[0] in (reads.FILE_ATTRS["content"][0], reads.FILE_ATTRS["sha256sum"][0]):
                assert read[1] not in secret_files, f"{read[1]}: its content or unsalted digest would leave the host"
