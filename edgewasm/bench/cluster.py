"""edgewasm-bench's session with a cluster: K3s's kubectl on the inventory's first server,
over ONE SSH connection (edgewasm.ssh.strict_client: host key from known_hosts only) that
every command of the run shares; manifests go on stdin, no secret on any command line.

Timing is on the server's clock only: ``create`` takes ``date +%s%N`` in the same shell
right before ``kubectl create``, and ``watch`` prefixes every line ``kubectl get pods -w``
prints with ``date +%s%N`` as the server reads it (the API's own timestamps have 1 s
resolution). The watch prints one line per event (jsonpath: name, phase, deletion,
conditions and container statuses as JSON), so stamping costs one ``date`` per event.

Everything the bench creates carries ``app.kubernetes.io/managed-by=edgewasm-bench`` and
the run's id; ``cleanup`` deletes the run's pods by that label, then the namespace once
no run's pods are left in it.
"""

from __future__ import annotations

import json
import queue
import select
import shlex
import threading
import time
from collections.abc import Sequence
from typing import Protocol

from edgewasm.k3s import K3S_BIN
from edgewasm.templates import render

NAMESPACE = "edgewasm-bench"
MANAGED_BY = "edgewasm-bench"
MANAGED_LABEL = "app.kubernetes.io/managed-by"
RUN_LABEL = "bench.edgewasm.io/run"
PHASE_LABEL = "bench.edgewasm.io/phase"
SENTINEL_PHASE = "sentinel"
# One line per pod event: name, phase, status reason (a word: OutOfpods...), deletion,
# conditions and containerStatuses (maps and lists print as compact JSON in kubectl's jsonpath),
# separated by ASCII's unit separator: `get -w` writes through a tabwriter that turns tabs
# into aligning spaces (seen on the bed), and JSON escapes every control character.
FIELD_SEP = "\x1f"
WATCH_FIELDS = ('{.metadata.name}{"\\x1f"}{.status.phase}{"\\x1f"}{.status.reason}{"\\x1f"}'
                '{.metadata.deletionTimestamp}{"\\x1f"}{.status.conditions}{"\\x1f"}{.status.containerStatuses}'
                '{"\\n"}')


class KubectlError(RuntimeError):
    """kubectl on the server failed; the message holds its stderr."""


class Stream(Protocol):
    def lines(self, timeout: float) -> list[str]: ...  # what arrived, waiting up to timeout for one
    def close(self) -> None: ...


class Runner(Protocol):
    """Runs shell commands on the first server: SshRunner, or a test's fake."""
    def run(self, command: str, stdin: str | None = None, timeout: float = 120) -> tuple[int, str, str]: ...
    def stream(self, command: str) -> Stream: ...
    def close(self) -> None: ...


class _SshStream:
    def __init__(self, channel):
        self._channel, self._queue = channel, queue.Queue()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                data = self._channel.recv(65536)
            except OSError:  # closed under it
                break
            if not data:
                break
            buffer += data
            *complete, buffer = buffer.split(b"\n")
            for line in complete:
                self._queue.put(line.decode(errors="replace"))
        self._queue.put(None)

    def lines(self, timeout: float) -> list[str]:
        got = []
        try:
            got.append(self._queue.get(timeout=timeout))
            while True:
                got.append(self._queue.get_nowait())
        except queue.Empty:
            pass
        return [line for line in got if line is not None]

    def close(self) -> None:
        self._channel.close()


class SshRunner:
    """Commands over one paramiko connection: each is a channel of its own, several at once."""

    def __init__(self, client):
        self.client = client

    def run(self, command: str, stdin: str | None = None, timeout: float = 120) -> tuple[int, str, str]:
        channel = self.client.get_transport().open_session()
        try:
            channel.exec_command(command)
            if stdin is not None:
                channel.sendall(stdin.encode())
            channel.shutdown_write()
            out, err, deadline = [], [], time.monotonic() + timeout
            # Done at the remote's EOF and exit status with nothing left buffered: the exit
            # status alone may come while output is still in flight (a 4 MB node summary
            # came back cut at 32 KiB on the bed).
            while not ((channel.eof_received or channel.closed) and channel.exit_status_ready() and not channel.recv_ready()
                       and not channel.recv_stderr_ready()):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no answer within {timeout:.0f}s to: {command[:120]}")
                select.select([channel], [], [], 0.5)
                while channel.recv_ready():
                    out.append(channel.recv(65536))
                while channel.recv_stderr_ready():
                    err.append(channel.recv_stderr(65536))
            return channel.recv_exit_status(), b"".join(out).decode(errors="replace"), \
                b"".join(err).decode(errors="replace")
        finally:
            channel.close()

    def stream(self, command: str) -> Stream:
        channel = self.client.get_transport().open_session()
        channel.exec_command(command)
        channel.shutdown_write()
        return _SshStream(channel)

    def close(self) -> None:
        self.client.close()


def quote(args: Sequence[str]) -> str:
    return " ".join(shlex.quote(a) for a in args)


class Session:
    """kubectl on the server as ``sudo`` says (the inventory's ``_sudo``), in the bench's
    namespace, for one run (``run_id``)."""

    def __init__(self, runner: Runner, run_id: str, sudo: bool = False, timeout: float = 120):
        self.runner, self.run_id, self.timeout = runner, run_id, timeout
        self.sudo = "sudo -n " if sudo else ""
        self.kubectl_cmd = f"{self.sudo}{K3S_BIN} kubectl"

    # ------------------------------------------------------------------ commands
    def sh(self, command: str, stdin: str | None = None, timeout: float | None = None) -> str:
        code, out, err = self.runner.run(command, stdin, timeout or self.timeout)
        if code != 0:
            raise KubectlError((err or out).strip() or f"exit status {code}")
        return out

    def kubectl(self, *args: str, stdin: str | None = None, timeout: float | None = None) -> str:
        return self.sh(f"{self.kubectl_cmd} {quote(args)}", stdin, timeout)

    def json(self, *args: str) -> dict:
        return json.loads(self.kubectl(*args, "-o", "json"))

    def ns(self, *args: str, stdin: str | None = None, timeout: float | None = None) -> str:
        return self.kubectl("-n", NAMESPACE, *args, stdin=stdin, timeout=timeout)

    def selector(self, phase: str | None = None) -> str:
        return f"{RUN_LABEL}={self.run_id}" + (f",{PHASE_LABEL} in ({SENTINEL_PHASE},{phase})" if phase else "")

    def labels(self, phase: str) -> dict[str, str]:
        return {MANAGED_LABEL: MANAGED_BY, RUN_LABEL: self.run_id, PHASE_LABEL: phase}

    def create(self, manifests: Sequence[str]) -> int:
        """Create the pods (one kubectl create); the server's clock (ns) right before it."""
        out = self.sh(f"date +%s%N && {self.kubectl_cmd} create -f - -o name", "---\n".join(manifests))
        return int(out.split("\n", 1)[0])

    def watch(self, phase: str, timeout: float) -> Stream:
        """Every event of the phase's pods (and the run's sentinel), each line
        ``<server ns> <WATCH_FIELDS>``; the first line is ``<ns> @pid <kubectl's pid>``."""
        get = quote(["-n", NAMESPACE, "get", "pods", "-l", self.selector(phase), "-w", "-o",
                     f"jsonpath={WATCH_FIELDS}"])
        script = (f"{{ {self.sudo}timeout {int(timeout)} {K3S_BIN} kubectl {get} & echo \"@pid $!\"; wait; }} "
                  "| while IFS= read -r line; do printf '%s %s\\n' \"$(date +%s%N)\" \"$line\"; done")
        return self.runner.stream(script)

    def stop(self, pid: int) -> None:
        self.runner.run(f"{self.sudo}kill {int(pid)} 2>/dev/null; true", None, 30)

    def summary(self, node: str) -> dict:
        """The kubelet's summary API for ``node`` (node CPU, per-pod working sets)."""
        return json.loads(self.kubectl("get", "--raw", f"/api/v1/nodes/{node}/proxy/stats/summary"))

    def warnings(self) -> dict[str, list[str]]:
        """The Warning events of the run's pods: {pod: ["Reason: message", ...]}."""
        found: dict[str, list[str]] = {}
        for event in json.loads(self.ns("get", "events", "--field-selector", "type=Warning", "-o", "json"))["items"]:
            name = event.get("involvedObject", {}).get("name", "")
            if name.startswith(pod_prefix(self.run_id)):
                found.setdefault(name, []).append(f"{event.get('reason')}: {(event.get('message') or '').strip()}")
        return found

    def logs(self, phase: str) -> dict[str, str]:
        """The last line each pod of the phase printed: {pod: line}."""
        out = self.ns("logs", "-l", f"{RUN_LABEL}={self.run_id},{PHASE_LABEL}={phase}", "--prefix", "--tail=1",
                      "--max-log-requests=200", "--ignore-errors=true")
        found = {}
        for line in out.splitlines():
            if line.startswith("[pod/") and "] " in line:
                head, text = line.split("] ", 1)
                found[head[len("[pod/"):].split("/")[0]] = text.strip()
        return found

    def log(self, pod: str) -> str:
        """Everything the pod's container printed, stdout and stderr as kubectl logs shows
        them (one pod at a time: with -l, kubectl interleaves pods and a last line without
        its newline runs into the next pod's prefix)."""
        return self.ns("logs", pod)

    def pods(self, phase: str) -> dict[str, dict]:
        """The phase's pod objects: {name: pod}."""
        listed = self.json("-n", NAMESPACE, "get", "pods", "-l", f"{RUN_LABEL}={self.run_id},{PHASE_LABEL}={phase}")
        return {p["metadata"]["name"]: p for p in listed.get("items", [])}

    def delete_phase(self, phase: str, timeout: float) -> str | None:
        """Delete a phase's pods and wait for them to go (the next phase starts on a node
        without them); why not, or None. What is left the run's cleanup deletes."""
        try:
            self.ns("delete", "pods", "-l", f"{RUN_LABEL}={self.run_id},{PHASE_LABEL}={phase}", "--wait=true",
                    f"--timeout={int(timeout)}s", "--ignore-not-found", timeout=timeout + 30)
        except (KubectlError, TimeoutError) as exc:
            return f"the pods of {phase} were not deleted in time ({str(exc)[:200]})"
        return None

    # ------------------------------------------------------------------ namespace and cleanup
    def ensure_namespace(self, wait: float = 120) -> None:
        """The bench's namespace, Active: a previous run's, still terminating (its cleanup
        deletes it without waiting), is waited out first, since apply on it answers
        "unchanged" and the namespace is gone a moment later."""
        manifest = render("bench/namespace.yaml.j2", namespace=NAMESPACE, managed_by=MANAGED_BY)
        deadline = time.monotonic() + wait
        while True:
            phase = self.kubectl("get", "namespace", NAMESPACE, "--ignore-not-found", "-o",
                                 "jsonpath={.status.phase}").strip()
            if phase == "Active":
                return
            if phase != "Terminating":
                try:
                    self.kubectl("apply", "-f", "-", stdin=manifest)
                    continue
                except KubectlError as exc:
                    if "being terminated" not in str(exc):
                        raise
            if time.monotonic() > deadline:
                raise KubectlError(f"namespace {NAMESPACE} still terminating after {wait:.0f}s (a previous run's "
                                   f"cleanup); fix: wait for it to go (kubectl get namespace {NAMESPACE}) and run again")
            time.sleep(3)

    def cleanup(self) -> None:
        """Delete the run's pods; then the namespace, when no run's pods are left in it."""
        self.ns("delete", "pods", "-l", f"{RUN_LABEL}={self.run_id}", "--wait=true", "--timeout=120s",
                "--ignore-not-found", timeout=180)
        left = self.ns("get", "pods", "-l", f"{MANAGED_LABEL}={MANAGED_BY}", "-o", "name").split()
        if not left:
            self.kubectl("delete", "namespace", NAMESPACE, "--wait=false", "--ignore-not-found")


def pod_prefix(run_id: str) -> str:
    return f"eb-{run_id}-"
