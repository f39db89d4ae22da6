"""``edgewasm-bench INVENTORY``: what Wasm pods cost on a deployed edgewasm K3s cluster,
against runc with the same workload (issue 32):

    edgewasm-bench inventories/edge.py
    edgewasm-bench inventories/edge.py --handlers wasmtime,runc --concurrency 1,10 --rounds 3 --out reports/bench
    edgewasm-bench inventories/edge.py --density-max 100 --phase-timeout 900 --policy --opa /usr/local/bin/opa

For every node of the inventory (or --nodes) and every handler it offers (wasmtime,
wasmedge: runwasi shims; crun-wasm; runc with bench-native): pod cold start at each
concurrency, density with memory per pod, node CPU during bursts, image sizes. Read-only
but for its own pods, in its own namespace (edgewasm-bench), labelled
app.kubernetes.io/managed-by=edgewasm-bench and the run's id, and always deleted at the
end, after an error, Ctrl-C or SIGTERM too. Needs the bench images on the nodes
(edgewasm_bench_images = True, deployed).

Writes result.json (every raw sample, summaries, environment) and report.html (tables,
plots with the optional extra `bench`) into --out/<UTC time>/ and a table on stdout;
progress on stderr. Exit status: 0 every measured handler ran its pods; 1 some handler
failed (its reasons are in the report) or does not
conform (a case a container passes and the Wasm pod does not); 2 the bench did not run (bad arguments or
inventory, a cluster it cannot reach, images missing) or crashed.
"""

from __future__ import annotations

import argparse
import datetime
import shutil
import signal
import sys
import threading
import traceback
from pathlib import Path

from edgewasm.bench import report
from edgewasm.bench.cluster import KubectlError
from edgewasm.bench.pods import BenchError
from edgewasm.bench.run import MAX_CONCURRENCY, MAX_DENSITY, Options, bench
from edgewasm.bench.target import Refused, handlers_arg
from edgewasm.config import inventory_hosts


class Stopped(BaseException):
    """SIGTERM: unwinds the run so its finally deletes the pods."""


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _levels(value: str) -> list[int]:
    try:
        levels = sorted({int(v) for v in value.split(",") if v.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: comma-separated pod counts, e.g. 1,10,100") from None
    if not levels or levels[0] < 1 or levels[-1] > MAX_CONCURRENCY:
        raise argparse.ArgumentTypeError(f"{value!r}: each level from 1 to {MAX_CONCURRENCY}")
    return levels


def _bounded(low: float, high: float, kind=int):
    def parse(value: str):
        try:
            number = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range [{low}, {high}]")
        return number
    return parse


def _handlers(value: str) -> list[str]:
    try:
        return handlers_arg(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edgewasm-bench", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inventory", help="pyinfra inventory of a deployed cluster")
    p.add_argument("--handlers", type=_handlers, default=Options().handlers,
                   help="comma-separated, of wasmtime,wasmedge,crun-wasm,runc (default: all a node offers)")
    p.add_argument("--nodes", type=lambda v: [n for n in v.split(",") if n], default=None,
                   help="comma-separated inventory hosts to measure (default: every node of the inventory)")
    p.add_argument("--concurrency", type=_levels, default=[1, 10, 100],
                   help=f"burst sizes, each 1-{MAX_CONCURRENCY} (default 1,10,100)")
    p.add_argument("--rounds", type=_bounded(1, 100), default=5, help="bursts per level (default 5)")
    p.add_argument("--density-max", type=_bounded(0, MAX_DENSITY), default=50,
                   help=f"pods per node and handler at most, 0 for no density phase (default 50, at most {MAX_DENSITY})")
    p.add_argument("--density-step", type=_bounded(1, 50), default=5, help="pods added at a time (default 5)")
    p.add_argument("--ready-timeout", type=_bounded(5, 3600, float), default=120,
                   help="seconds a density pod may take to be Ready (default 120)")
    p.add_argument("--phase-timeout", type=_bounded(10, 7200, float), default=600,
                   help="seconds one burst or one density phase may take (default 600)")
    p.add_argument("--cpu-interval", type=_bounded(0.5, 60, float), default=2.0,
                   help="seconds between node summaries during a burst (default 2)")
    p.add_argument("--out", type=Path, default=Path("reports/bench"), help="reports go to OUT/<UTC time>/")
    p.add_argument("--no-conformance", dest="conformance", action="store_false",
                   help="leave out the handler conformance cases (stdout/stderr, exit status, args, env, volume, "
                        "memory limit)")
    p.add_argument("--policy", action="store_true", help="also run the policy bench (edgewasm.bench.policy; needs opa)")
    p.add_argument("--opa", type=Path, default=None, help="the opa binary (default: opa on PATH)")
    return p


def _options(args) -> Options:
    return Options(handlers=args.handlers, concurrency=args.concurrency, rounds=args.rounds,
                   density_max=args.density_max, density_step=args.density_step, ready_timeout=args.ready_timeout,
                   phase_timeout=args.phase_timeout, cpu_interval=args.cpu_interval, nodes=args.nodes,
                   density=args.density_max > 0, conformance=args.conformance)


def _policy(args) -> tuple[dict, str]:
    # Late: the policy bench runs Wasm in wasmtime (the optional extra `check`), which the
    # cluster bench does not need.
    from edgewasm.bench import policy

    opa = args.opa or (Path(found) if (found := shutil.which("opa")) else None)
    if opa is None or not opa.is_file():
        raise Refused(f"--policy needs opa: {args.opa or 'none on PATH'}; fix: install OPA and pass --opa PATH")
    result = policy.run(opa, iterations=2000)
    return result, policy.table(result)


def run(args) -> int:
    if not Path(args.inventory).is_file():
        raise Refused(f"inventory {args.inventory} does not exist; fix: pass the path of a pyinfra inventory file")
    try:
        hosts = inventory_hosts(args.inventory)
    except RuntimeError as exc:
        raise Refused(f"{exc}\nfix: correct the inventory; no host was contacted") from None
    out = args.out / datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    result = bench(hosts, args.inventory, _options(args), _say)
    if args.policy:
        _say("bench: policy bench (opa)")
        result["policy"], result["policies_table"] = _policy(args)
    written = report.write(result, out)
    print(report.table(result))
    _say(f"bench: reports in {out}: " + ", ".join(p.name for p in written.values()))
    failed = [r for r in result["coldstart"]["summary"] if r["status"] != "ok"] + \
        [r for r in (result.get("conformance") or {}).get("rows", []) if not r["ok"]]
    return 1 if failed or (result.get("policy") and not result["policy"]["ok"]) else 0


def _stop(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Stopped()


def main(argv: list[str] | None = None) -> int:
    handler = signal.signal(signal.SIGTERM, _stop) if threading.current_thread() is threading.main_thread() else None
    try:
        return run(parser().parse_args(argv))
    except Refused as exc:
        _say(f"edgewasm-bench: {exc}")
        return 2
    except (BenchError, KubectlError) as exc:
        _say(f"edgewasm-bench: the run stopped: {exc}; its pods were deleted, no report written (exit 2)")
        return 2
    except Stopped:
        _say("edgewasm-bench: stopped (SIGTERM); its pods were deleted, no report written")
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        _say("edgewasm-bench: interrupted; its pods were deleted, no report written")
        return 130
    except Exception:  # noqa: BLE001 - a crash is exit 2, never 1 (a result)
        _say("edgewasm-bench: CRASHED (exit 2):\n" + traceback.format_exc().rstrip())
        return 2
    finally:
        if handler is not None:
            signal.signal(signal.SIGTERM, handler)


if __name__ == "__main__":
    sys.exit(main())
