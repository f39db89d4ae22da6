"""Added latency on the test bed's site network, for benchmarks.

    with SiteLatency(hosts, delay_ms=50) as relayed:   # {host name: (address, port)}
        ...                                            # SSH to relayed[name] pays +50 ms per round trip

The kernel here is built without netem (``CONFIG_NET_SCH_NETEM is not set``: ``tc qdisc
... netem`` answers "Specified qdisc kind is unknown"), so the delay is added in user
space instead: a TCP relay running inside the site namespace, on an address of its own on
the site bridge, forwards one port per host to that host's sshd and holds every chunk of
data for half the delay in each direction (order kept). A request and its answer thus
cross the relay after ``delay_ms``: one SSH round trip costs the delay on top of the
network's own. What it does not model: loss, jitter, bandwidth; TCP's own ACKs are not
delayed (they end at the relay), which a real link would delay too, so bulk transfers are
favoured; the runs measured here send small commands. Only the test bed's own site
namespace is touched: the relay address is removed on exit.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

RELAY_ADDRESS = "10.231.0.250"
FIRST_PORT = 2201


def _site(*args: str, check: bool = True):
    from edgewasm.testbed import network
    return subprocess.run(["ip", "-n", network.SITE_NETNS, *args], check=check, capture_output=True, text=True)


class SiteLatency:
    def __init__(self, hosts, delay_ms: int):
        self.hosts, self.delay_ms, self.proc = list(hosts), delay_ms, None

    def __enter__(self) -> dict[str, tuple[str, int]]:
        from edgewasm.testbed import network
        _site("addr", "add", f"{RELAY_ADDRESS}/{network.PREFIX}", "dev", network.BRIDGE)
        routes = {FIRST_PORT + i: h.address for i, h in enumerate(self.hosts)}
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", network.SITE_NETNS, sys.executable, __file__, "relay",
             str(self.delay_ms), json.dumps(routes)], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"
        return {h.name: (RELAY_ADDRESS, port) for h, port in zip(self.hosts, routes)}

    def __exit__(self, *exc) -> None:
        from edgewasm.testbed import network
        if self.proc:
            self.proc.terminate()
            self.proc.wait()
        _site("addr", "del", f"{RELAY_ADDRESS}/{network.PREFIX}", "dev", network.BRIDGE, check=False)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    queue: asyncio.Queue = asyncio.Queue()

    async def deliver():
        while (item := await queue.get()) is not None:
            due, data = item
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            writer.write(data)
            await writer.drain()
        writer.close()

    delivering = asyncio.create_task(deliver())
    try:
        while data := await reader.read(65536):
            queue.put_nowait((time.monotonic() + delay, data))
    except ConnectionError:
        pass
    queue.put_nowait(None)
    await delivering


async def _relay(delay_ms: int, routes: dict[str, str]) -> None:
    half = delay_ms / 2000

    def handler(address: str):
        async def connected(client_r, client_w):
            upstream_r, upstream_w = await asyncio.open_connection(address, 22)
            await asyncio.gather(_pump(client_r, upstream_w, half), _pump(upstream_r, client_w, half),
                                 return_exceptions=True)
        return connected

    servers = [await asyncio.start_server(handler(address), RELAY_ADDRESS, int(port))
               for port, address in routes.items()]
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


def known_hosts_for(relayed: dict[str, tuple[str, int]], hosts, known_hosts: Path, out: Path) -> Path:
    """A known_hosts file naming each host's own key under its relayed address."""
    keys = {}
    for line in known_hosts.read_text().splitlines():
        name, _, key = line.partition(" ")
        keys.setdefault(name, []).append(key)
    lines = [f"[{address}]:{port} {key}" for h in hosts for address, port in [relayed[h.name]]
             for key in keys.get(h.address, [])]
    out.write_text("\n".join(lines) + "\n")
    return out


if __name__ == "__main__" and sys.argv[1:2] == ["relay"]:
    asyncio.run(_relay(int(sys.argv[2]), json.loads(sys.argv[3])))
