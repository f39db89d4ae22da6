"""K3s: install the pinned binary, configure from inventory data, (re)start only on change.

Roles come from the groups: ``k3s_servers`` (the first one initialises the cluster,
with embedded etcd when ``k3s_ha``), ``k3s_agents``. Everyone else joins
``https://<first server>:6443``: servers with the server token, agents with the agent
token (they never hold the server token). Tokens reach hosts only as 0600 files
(``token-file``, ``agent-token-file``), never on a command line or in pyinfra's output.
Starting and restarting (``service_running``):
- the first server first, then the other servers one at a time (in pyinfra's order,
  not the inventory's), each ready before the next;
- agents K3s never ran on start all at once (a first install has nothing to protect);
- running agents that must restart go in batches of ``k3s_rollout_batch``, each ready
  before the next;
- the first node that does not get ready in a rolling restart stops the rollout: every
  later restart in the run is refused, naming that node;
- "must restart" is decided from the running state too: the digest of K3s's inputs is
  recorded each time K3s gets ready, so a run that wrote an input and never restarted
  (interrupted, or its rollout stopped) is finished by the next run;
- readiness waits for the new service instance (a new InvocationID), not the old one
  still active for a moment after ``restart --no-block``.
"""

from __future__ import annotations

import io
import os
import shlex
from contextlib import nullcontext
from pathlib import Path

from gevent.lock import BoundedSemaphore
from pyinfra import host, inventory, logger
from pyinfra.api import FunctionCommand, QuoteString, StringCommand, operation
from pyinfra.facts.files import Sha256File
from pyinfra.facts.systemd import SystemdStatus
from pyinfra.operations import python, systemd

from deploys import edgewasm_deploy
from edgewasm import templates
from edgewasm.check_access import via_helper
from edgewasm.k3s import (
    AGENT_TOKEN_FILE,
    AUDIT_LOG_DIR,
    AUDIT_POLICY,
    CONFIG_DIR,
    K3S_BIN,
    KUBECONFIG,
    PSA_CONFIG,
    SERVER_DIR,
    SERVER_TOKEN,
    STARTED_INPUTS,
    TOKEN_FILE,
    READ_ONLY_ENV,
    cluster_token,
    config_values,
    drain_args,
    inputs_digest_script,
    join_url,
    pod_security_values,
    rewrite_kubeconfig,
    rollout_batch,
    service_env,
    sha256,
    unit_name,
)
from edgewasm.plan import Plan
from facts.k3s import InputsDigest, StartedInputs, UnitFileEnabled
from facts.secrets import SaltedSha256File
from operations import fact_cache, host_files, host_ops, run_summary, secret_files

_TOKEN_LOCK = BoundedSemaphore()


def _first_server():
    servers = inventory.get_group("k3s_servers", [])
    return servers[0] if servers else None


# Nodes that did not get ready in this run's rolling restarts: once one is here, no
# later restart runs (pyinfra alone would fail only that host and go on restarting).
_ROLLOUT_STOPPED: list[str] = []


# Agents restarting at once in a rolling restart: a node takes a slot before its restart
# and frees it once ready (Kubernetes' maxUnavailable). pyinfra's _parallel would count
# every host of the inventory, servers and agents with nothing to restart included.
_SLOTS: dict[int, BoundedSemaphore] = {}


def _fail(host, reason: str, details: list[str] = (), stop: bool = True) -> bool:
    """Fail ``host`` with ``reason`` (and ``details``, a journal tail), in the log and the
    run's summary; ``stop``: no later rolling restart runs."""
    for line in details or [f"{host.name}: {reason}"]:
        host.log_styled(line, fg="red", log_func=logger.error)
    run_summary.failed(host.name, reason)
    if stop:
        _ROLLOUT_STOPPED.append(host.name)
    return False


def _kubectl(first, *args: str) -> tuple[bool, list[str]]:
    """``k3s kubectl ARGS`` on the first server (which holds the admin kubeconfig), each
    argument quoted: a node's name is inventory data, and this runs as root."""
    ok, output = first.run_shell_command(StringCommand("k3s", "kubectl", *(QuoteString(a) for a in args)))
    return ok, output.stderr_lines


def _restart(state, host, script: str, rolling: bool, slots: int, drain: bool) -> bool:
    with _SLOTS.setdefault(slots, BoundedSemaphore(slots)) if slots else nullcontext():
        # Checked once a slot is free: a node that failed meanwhile stops this one too.
        if rolling and _ROLLOUT_STOPPED:
            return _fail(host, f"rollout stopped: {', '.join(_ROLLOUT_STOPPED)} did not get ready; this node "
                               "was not restarted. Fix that node, then run again", stop=False)
        first = _first_server()
        if drain:
            ok, errors = _kubectl(first, *drain_args(host.name, host.data.k3s_ready_timeout))
            if not ok:
                return _fail(host, f"not restarted: drain failed: {' '.join(errors[-3:])}")
        ok, output = host.run_shell_command(StringCommand("sh", "-c", QuoteString(script)))
        if not ok:
            return _fail(host, "K3s did not get ready (its journal tail is above)", output.stderr_lines, stop=rolling)
        if drain:
            ok, errors = _kubectl(first, "uncordon", host.name)
            if not ok:
                return _fail(host, f"ready but still cordoned: uncordon failed: {' '.join(errors[-3:])}")
        return True


@operation()
def service_running(unit: str, restart: bool, timeout: int, server: bool, inputs: list[str], rolling: bool,
                    slots: int = 0, drain: bool = False):
    """
    Enable and start ``unit``, restarting it when ``restart`` or when its inputs changed
    since it last got ready, then wait until the new instance is ready, or fail naming the
    host with the last lines of its journal. ``rolling``: a restart of a running node,
    refused once an earlier one in this run did not get ready, and stopping later ones
    when it does not. ``slots``: at most this many such restarts at once (0: no bound).
    ``drain``: cordon and drain the node (through the first server) before its restart,
    uncordon it once ready.

    **Example:**

    .. code:: python

        service_running(unit="k3s-agent", restart=config.will_change, timeout=300, server=False,
                        inputs=["/usr/local/bin/k3s", "/etc/rancher/k3s/config.yaml"], rolling=True)
    """
    service = f"{unit}.service"
    running = fact_cache.fact_once(SystemdStatus, services=service).get(service)
    # Every value below reaches a root shell: quoted, though only the host's name is data.
    q = shlex.quote
    enabled = fact_cache.fact_once(UnitFileEnabled, unit=service) in ("enabled", "static")
    # --no-reload: the unit file's own change reloads systemd (and the restart script below
    # reloads when systemd says its copy is stale, as after a run cut before that reload); a
    # reload per enable, 47 agents at once on a small operator, was most of a first
    # install's start phase.
    enable = f"systemctl enable --no-reload --quiet {q(service)}"
    stale = running and fact_cache.fact_once(InputsDigest, paths=inputs) != fact_cache.fact_once(StartedInputs)
    if running and not restart and not stale:
        if enabled:
            host.noop(f"{service} is running and nothing it reads changed")
        else:
            yield enable
        return
    ready = f"systemctl is-active --quiet {q(service)}"
    if server:
        ready += f" && [ -s {q(SERVER_TOKEN)} ] && [ -s {q(KUBECONFIG)} ]"
    # --no-block: a unit that never gets ready must fail here with its journal, not hang.
    # The old instance stays active for a moment after the restart is queued: wait for a
    # new InvocationID.
    script = (
        ("" if enabled else f"{enable} || exit 1; ") +
        f'if [ "$(systemctl show -p NeedDaemonReload --value {q(service)})" = yes ]; then systemctl daemon-reload; fi; '
        f"old=$(systemctl show -p InvocationID --value {q(service)}); "
        f"systemctl restart --no-block {q(service)}; t=0; "
        f'until [ "$(systemctl show -p InvocationID --value {q(service)})" != "$old" ] && {ready}; do '
        f"t=$((t+1)); if [ $t -gt {int(timeout)} ]; then "
        f"echo {q(f'{host.name}: {service} not ready after {timeout}s; last journal lines:')} >&2; "
        f"journalctl -u {q(service)} -n 15 --no-pager -o cat >&2; exit 1; fi; sleep 1; done; "
        f"mkdir -p {q(STARTED_INPUTS.rsplit('/', 1)[0])}; ({inputs_digest_script(inputs)}) > {q(STARTED_INPUTS)}"
    )
    yield FunctionCommand(_restart, (script, rolling, slots, drain), {})


def _fetch_kubeconfig(local: str, server_url: str) -> None:
    """Copy the server's kubeconfig to the operator's machine (0600), naming the server."""
    remote_sha = fact_cache.fact_once(Sha256File, path=KUBECONFIG)
    stamp = Path(local + ".source-sha256")
    if remote_sha and Path(local).exists() and stamp.exists() and stamp.read_text().strip() == remote_sha:
        return

    def fetch():
        buffer = io.BytesIO()
        if not host.get_file(KUBECONFIG, buffer):
            raise RuntimeError(f"{host.name}: cannot read {KUBECONFIG}")
        text = rewrite_kubeconfig(buffer.getvalue().decode(), server_url)
        Path(local).parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(local + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(local + ".tmp", local)
        stamp.write_text(sha256(buffer.getvalue()) + "\n")

    python.call(name=f"Fetch kubeconfig to {local}", function=fetch)


def _read_secret(server, path: str) -> str:
    """A secret file on ``server``, read over SFTP into memory ("" when absent): never a
    fact, whose output pyinfra prints at -vvv."""
    if not server.connected:
        raise FirstServerUnreachable(f"{host.name}: the cluster's tokens are read from its first server "
                                     f"{server.name}, which did not connect; fix: bring {server.name} back "
                                     "(its own error is above), or give the tokens in k3s_token_file / "
                                     "k3s_agent_token_file")
    buffer = io.BytesIO()
    try:
        server.get_file(path, buffer)
    except OSError:
        return ""
    return buffer.getvalue().decode().strip()


class FirstServerUnreachable(Exception):
    pass


def _tokens(first, role: str) -> list:
    """Put this host's tokens: the agent token on every node, the server token on servers
    only (an agent holding it could join as a server); returns the operations."""
    data = host.data.dict()
    if via_helper(data):
        # The nightly check's dry run, as the check user: it never reads a token (the
        # first server's included). The checks compare the hosts' tokens by salted
        # digests instead (test_k3s.py, test_tokens_match_the_cluster), so drift leaves
        # them out, and the report says so (edgewasm/compliance/drift.py).
        host.noop("tokens not compared in this dry run: it runs as the check user, who reads no token")
        return []
    # pyinfra prepares hosts concurrently (gevent): one host at a time decides the tokens,
    # or two hosts could each generate one.
    # A drift check reads what edgewasm put on the first server before K3s's own copy.
    read_only = bool(os.environ.get(READ_ONLY_ENV))
    from_server = (lambda: _read_secret(first, TOKEN_FILE) or _read_secret(first, SERVER_TOKEN)) if read_only \
        else (lambda: _read_secret(first, SERVER_TOKEN))
    with _TOKEN_LOCK:
        agent = cluster_token(data, lambda: _read_secret(first, AGENT_TOKEN_FILE), kind="agent", read_only=read_only)
        server = cluster_token(data, from_server, read_only=read_only) if role == "server" else None
    ops = [secret_files.secret_file(name="Put the agent token", content=io.BytesIO(agent + b"\n"),
                                dest=AGENT_TOKEN_FILE)]
    if server:
        ops.append(secret_files.secret_file(name="Put the server token", content=io.BytesIO(server + b"\n"),
                                        dest=TOKEN_FILE))
    else:
        ops.append(host_files.absent(name="No server token on an agent", path=TOKEN_FILE))
    return ops


def _inputs(unit: str, runtime_inputs: tuple[str, ...]) -> list[str]:
    """What K3s reads at start, whose digest decides a restart (a server's API server reads
    the Pod Security configuration and the audit policy)."""
    hardening = [PSA_CONFIG, AUDIT_POLICY] if unit == unit_name("server") else []
    return [K3S_BIN, f"{CONFIG_DIR}/config.yaml", f"{CONFIG_DIR}/registries.yaml", AGENT_TOKEN_FILE, TOKEN_FILE,
            f"/etc/systemd/system/{unit}.service", f"/etc/systemd/system/{unit}.service.env", *hardening,
            *runtime_inputs]


def _hardening(role: str) -> list:
    """The API server's hardening files on a server (k3s_pod_security, k3s_audit_log; 0600,
    root's, under /etc/rancher/k3s) and the audit log's directory (0700); none on an agent,
    none for a setting turned off. Returns the operations on the files K3s reads."""
    data = host.data.dict()
    server = role == "server"
    if server:
        psa = host_files.template(name="Write the Pod Security admission configuration", src="k3s/psa.yaml.j2",
                                  dest=PSA_CONFIG, mode="600", **pod_security_values(data))
    else:
        psa = host_files.absent(name="No Pod Security admission configuration on an agent", path=PSA_CONFIG)
    if server and host.data.k3s_audit_log:
        # kube-apiserver makes a missing one 0700 (and the log 0600); held to 0700 here, as
        # one made by hand may be looser (the log names every request's user and object).
        # Its parent as K3s makes it (0700), not as mkdir -p would before K3s first starts.
        host_files.directory(name="K3s server directory", path=SERVER_DIR, mode="700")
        host_files.directory(name="K3s audit log directory", path=AUDIT_LOG_DIR, mode="700")
        audit = host_files.template(name="Write the K3s audit policy", src="k3s/audit-policy.yaml.j2",
                                    dest=AUDIT_POLICY, mode="600")
    else:
        # Written logs stay: they are the record of what happened while it was on.
        audit = host_files.absent(name="No K3s audit policy", path=AUDIT_POLICY)
    return [psa, audit]


def wants(runtime_inputs: tuple[str, ...] = ()) -> list:
    """Every fact ``k3s()`` reads, for ``fact_cache.prefetch``."""
    unit = unit_name(fact_cache.role())
    salted = [(SaltedSha256File, {"path": p, "salt": secret_files.SECRET_SALT})
              for p in (AGENT_TOKEN_FILE, TOKEN_FILE, f"/etc/systemd/system/{unit}.service.env")]
    return [*salted, *(spec for p in _inputs(unit, ()) for spec in host_files.wants_file(p)),
            *host_files.wants_file(PSA_CONFIG), *host_files.wants_file(AUDIT_POLICY),
            *host_files.wants_directory(SERVER_DIR), *host_files.wants_directory(AUDIT_LOG_DIR),
            *host_files.wants_directory(f"{CONFIG_DIR}/config.yaml.d"), (SystemdStatus, {"services": f"{unit}.service"}),
            (UnitFileEnabled, {"unit": f"{unit}.service"}), (InputsDigest, {"paths": _inputs(unit, runtime_inputs)}),
            (StartedInputs, {}), (Sha256File, {"path": KUBECONFIG})]


@edgewasm_deploy("K3s")
def k3s(plan: Plan, runtime_labels: dict[str, str] | None = None, runtimes_changed: bool = False,
        runtime_inputs: tuple[str, ...] = ()) -> None:
    """``plan``: the host's artifact plan (the binary); ``runtime_labels``: node labels for
    the Wasm runtimes this host really has; ``runtimes_changed``: a shim or the
    containerd template changed, which K3s only reads at start; ``runtime_inputs``: those
    files' paths, part of what K3s read when it last got ready."""
    role = fact_cache.role()
    unit = unit_name(role)
    first = _first_server()
    if first is None:
        host_ops.refuse(name="Refuse K3s without a server", reasons=[f"{host.name}: the inventory has no k3s_servers"])
        return
    is_first = first.name == host.name
    server_url = join_url(first.name, first.data.dict())

    k3s_binary = plan.placement("k3s", "binary")
    binary = host_files.installed_copy(name="Install the K3s binary", src=k3s_binary.dest, dest=K3S_BIN,
                                     sha256=k3s_binary.sha256)

    try:
        tokens = _tokens(first, role)
    except FirstServerUnreachable as exc:  # this host only: the others may have their tokens
        host_ops.refuse(name="Refuse K3s without the cluster's tokens", reasons=[str(exc)])
        return
    host_files.directory(name="K3s config directory", path=f"{CONFIG_DIR}/config.yaml.d", mode="755")
    values = config_values(host.name, host.data.dict(), role, is_first, server_url)
    # K3s merges node-label into the node's labels at every start, so these follow the runtimes.
    values["node_labels"].update(runtime_labels or {})
    config = host_files.template(
        name="Write the K3s config",
        src="k3s/config.yaml.j2",
        dest=f"{CONFIG_DIR}/config.yaml",
        mode="600",
        **values,
    )
    hardening = _hardening(role)
    mirrors = host.data.get("k3s_registry_mirrors")
    if mirrors:
        registries = host_files.template(name="Write K3s registry mirrors", src="k3s/registries.yaml.j2",
                                         dest=f"{CONFIG_DIR}/registries.yaml", mode="600", mirrors=mirrors)
    else:
        registries = host_files.absent(name="No K3s registry mirrors", path=f"{CONFIG_DIR}/registries.yaml")
    # Proxy credentials may be in it: a secret upload, never a template pyinfra can diff.
    env_text = templates.render("k3s/k3s.env.j2", unit=unit, env=service_env(host.data.dict()))
    env = secret_files.secret_file(name="Write the K3s environment file", content=io.BytesIO(env_text.encode()),
                               dest=f"/etc/systemd/system/{unit}.service.env")
    unit_file = host_files.template(name="Write the K3s unit", src="k3s/k3s.service.j2",
                                    dest=f"/etc/systemd/system/{unit}.service", mode="644",
                                    unit=unit, command="server" if role == "server" else "agent")
    if unit_file.will_change:
        systemd.daemon_reload(name="Reload systemd units")
    inputs = _inputs(unit, runtime_inputs)
    service = {
        "unit": unit,
        "restart": runtimes_changed
        or any(op.will_change for op in (binary, *tokens, config, *hardening, registries, env, unit_file)),
        "timeout": host.data.k3s_ready_timeout,
        "server": role == "server",
        "inputs": inputs,
    }
    running = fact_cache.fact_once(SystemdStatus, services=f"{unit}.service").get(f"{unit}.service")
    # Only a running node has workloads to move, and only when the cluster asks for it.
    drain = bool(running) and host.data.k3s_drain
    # pyinfra orders operations by where they are called: these call sites make the
    # first server start first, then the other servers one at a time, then the agents.
    if is_first:
        service_running(name="Start the first K3s server and wait until it is ready", rolling=bool(running),
                        _serial=True, drain=drain, **service)
    elif role == "server":
        service_running(name="Start K3s servers one at a time", rolling=bool(running), _serial=True, drain=drain,
                        **service)
    elif not running:
        service_running(name="Start new K3s agents, all at once", rolling=False, **service)
    else:
        agents = len(inventory.get_group("k3s_agents", []))
        service_running(name="Restart K3s agents in batches", rolling=True, drain=drain,
                        slots=rollout_batch(host.data.k3s_rollout_batch, agents), **service)
    local = host.data.get("k3s_kubeconfig_fetch")
    if local and is_first and not via_helper(host.data.dict()):  # the admin kubeconfig: never as the check user
        _fetch_kubeconfig(local, server_url)
