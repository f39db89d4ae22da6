"""One edgewasm-bench run against a cluster: connect to the inventory's first server,
check what can be measured, run the phases, and ALWAYS delete the run's pods (``finally``:
after an error, Ctrl-C or SIGTERM too; the signals are held off while it cleans up)."""

from __future__ import annotations

import datetime
import secrets
import signal
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import paramiko

from edgewasm.bench import admission, coldstart, conformance, density
from edgewasm.bench.cluster import KubectlError, Runner, Session, SshRunner
from edgewasm.bench.pods import HANDLERS, Workload, sentinel_manifest
from edgewasm.bench.target import Refused, choose, environment, images
from edgewasm.ssh import connect_problem, known_hosts_file, ssh_user, strict_client

CONNECT_TIMEOUT = 15
MAX_CONCURRENCY = 100
MAX_DENSITY = 500


@dataclass
class Options:
    handlers: list[str] = field(default_factory=lambda: list(HANDLERS))
    concurrency: list[int] = field(default_factory=lambda: [1, 10, 100])
    rounds: int = 5
    density_max: int = 50
    density_step: int = 5
    ready_timeout: float = 120
    phase_timeout: float = 600
    cpu_interval: float = 2.0
    nodes: list[str] | None = None
    density: bool = True
    conformance: bool = True


def first_server(hosts: list):
    server = next((h for h in hosts if h.role == "server"), None)
    if server is None:
        raise Refused("the inventory has no K3s server (group k3s_servers); fix: pass the inventory of a deployed "
                      "cluster")
    return server


def _fix(problem: str, server) -> str:
    known = known_hosts_file(server.data)
    if "not in" in problem:
        return (f"add its host key to {known} after checking the fingerprint (ssh-keyscan {server.address} > new.keys "
                "&& ssh-keygen -lf new.keys, compared with the host's own), as for a deploy")
    if "does not match" in problem:
        return f"find out why its key changed; only for a host you replaced, replace its entry in {known}"
    if "authentication" in problem:
        return ("set ssh_user and ssh_key for it in the inventory (root, or a user with sudo and _sudo = True: "
                "the bench creates pods as K3s's admin)")
    return (f"check that {server.address} port {server.data.get('ssh_port') or 22} is reachable from here "
            "(network, VPN; ssh_hostname and ssh_port in the inventory), and that the cluster is up")


def connect(server, timeout: float = CONNECT_TIMEOUT, client: Callable | None = None) -> SshRunner:
    """One SSH connection to the first server for the whole run; Refused (naming the
    host and the fix) when it cannot be made."""
    try:
        return SshRunner((client or strict_client)(server.address, server.data, timeout))
    except (paramiko.SSHException, OSError, socket.timeout, EOFError) as exc:
        problem = connect_problem(exc, server.address, server.data)
        raise Refused(f"cannot reach the cluster: its first server {server.name} ({ssh_user(server.data)}@"
                      f"{server.address}:{server.data.get('ssh_port') or 22}), where edgewasm-bench runs K3s's "
                      f"kubectl: {problem}; fix: {_fix(problem, server)}") from None


def nodes_of(session: Session, server) -> dict:
    try:
        return session.json("get", "nodes")
    except (KubectlError, TimeoutError) as exc:
        raise Refused(f"K3s's kubectl on {server.name} ({server.address}) failed: {str(exc)[:400]}; fix: check that "
                      f"K3s runs there (systemctl status k3s) and that {ssh_user(server.data)} may run it (root, or "
                      "sudo with _sudo = True in the inventory)") from None


def workload(refs: dict[str, str], options: Options) -> Workload:
    return Workload(wasm_image=refs["wasm"], native_image=refs["native"], deadline=int(options.phase_timeout + 300))


def measure(session: Session, chosen: list, options: Options, server: str, say: Callable[[str], None]) -> dict:
    samples, bursts, dens, left_out, conforms = [], [], [], {}, []
    for index, (host, _, handlers, refs) in enumerate(chosen):
        load = workload(refs, options)
        for handler in handlers:
            if options.conformance:
                conforms += conformance.run(session, load, host.name, index, handler,
                                            min(options.phase_timeout, 300), say)
            dead = None
            for level in options.concurrency:
                if dead:
                    say(f"bench: {host.name} {handler} c={level} skipped: {dead}")
                    continue
                for rnd in range(1, options.rounds + 1):
                    b = coldstart.burst(session, load, coldstart.Burst(host.name, index, handler, level, rnd),
                                        options.phase_timeout, options.cpu_interval, say)
                    burst = b.pop("samples")
                    samples += burst
                    bursts.append(b)
                    if not any(s["ok"] for s in burst):  # a handler that cannot start pods: no more of it
                        dead = f"no pod of c={level} round {rnd} completed"
                        break
            if options.density and dead:
                left_out[f"{host.name}/{handler} density"] = f"not run: {dead}"
            if options.density and not dead:
                dens.append(density.run(session, load, host.name, index, handler, options.density_max,
                                        options.density_step, options.ready_timeout, options.phase_timeout, say))
    return {"coldstart": {"samples": samples, "bursts": bursts,
                          "summary": coldstart.summarize(samples, lambda node: node == server),
                          "clock_offsets": coldstart.clock_offsets(samples)},
            "density": dens, "left_out": left_out,
            "conformance": {"rows": conforms, "table": conformance.table(conforms)} if options.conformance else None}


def bench(hosts: list, inventory: str, options: Options, say: Callable[[str], None],
          runner: Runner | None = None, run_id: str | None = None) -> dict:
    """The run's result; ``runner``: commands on the first server (default: one SSH connection)."""
    server = first_server(hosts)
    runner = runner or connect(server)
    session = Session(runner, run_id or secrets.token_hex(3), sudo=bool(server.data.get("_sudo")))
    say(f"bench: run {session.run_id} on {server.name}; pods labelled {session.selector()}")
    created = False
    try:
        nodes = nodes_of(session, server)
        chosen, skipped = choose(hosts, nodes, options.handlers, options.nodes)
        result = {"tool": "edgewasm-bench", "inventory": inventory, "run_id": session.run_id,
                  "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                  "options": asdict(options), "environment": environment(nodes, chosen, server.name),
                  "images": images(session, chosen), "skipped": skipped, "clock": CLOCK}
        created = True  # from here on the run may have made something to delete
        session.ensure_namespace()
        session.kubectl("create", "-f", "-", stdin=sentinel_manifest(session, workload(chosen[0][3], options)))
        webhooks_before = admission.scrape(session)
        measured = measure(session, chosen, options, server.name, say)
        result["skipped"].update(measured.pop("left_out"))
        result["admission"] = _admission(webhooks_before, admission.scrape(session))
        return {**result, **measured}
    finally:
        if created:
            cleanup(session, say)
        runner.close()


def _admission(before, after) -> dict:
    """Every validating/mutating webhook call the API server made during the run (the run's
    pods: Gatekeeper's among them), or why the figures are missing."""
    if isinstance(before, str) or isinstance(after, str):
        return {"error": before if isinstance(before, str) else after, "webhooks": []}
    return {"source": f"{admission.METRIC} (API server /metrics), after minus before the run", "error": None,
            "webhooks": admission.difference(before, after)}


def cleanup(session: Session, say: Callable[[str], None]) -> None:
    """Delete the run's pods (and the namespace when it is left empty), with Ctrl-C and
    SIGTERM held off meanwhile; a failure is said with the command that finishes it."""
    held = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            held[sig] = signal.signal(sig, signal.SIG_IGN)
        except ValueError:  # not the main thread: nothing to hold off
            pass
    try:
        say(f"bench: deleting the run's pods ({session.selector()})")
        session.cleanup()
    except Exception as exc:  # noqa: BLE001 - said, with how to finish it by hand
        say(f"bench: cleanup failed ({str(exc)[:300]}); finish it with: k3s kubectl -n edgewasm-bench delete pods "
            f"-l {session.selector()}")
    finally:
        for sig, handler in held.items():
            signal.signal(sig, handler)


CLOCK = ("Every cold start figure is on the first server's clock (date +%s%N before the create; each watch event "
         "stamped on arrival), except in_container_start_ms, read by the workload on its node's clock: exact where "
         "the node is the first server, else off by the clocks' offset, which clock_offsets bounds per node from the "
         "samples (an interval that excludes 0 says the node's clock is off by at least that much).")
