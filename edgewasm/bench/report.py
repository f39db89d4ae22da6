"""A run's reports: result.json (every raw sample, the summaries, the environment),
report.html (the tables, and the plots as PNG files embedded in it; templates/bench/
report.html.j2, escaped), and a plain-text table for the terminal."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from edgewasm.bench import plots
from edgewasm.templates import render

FIGURES = ("p50", "p95", "p99")


def _write(path: Path, data: bytes | str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    os.replace(tmp, path)


def write(result: dict, out: Path) -> dict[str, Path]:
    """Write the reports into ``out``; {report name: path}."""
    out.mkdir(parents=True, exist_ok=True)
    written = {"json": out / "result.json"}
    _write(written["json"], json.dumps(result, indent=1, sort_keys=True))
    pngs = plots.render(result, out)
    images = {name: base64.b64encode(path.read_bytes()).decode() for name, path in pngs.items()}
    written["html"] = out / "report.html"
    _write(written["html"], render("bench/report.html.j2", r=result, images=images, figures=FIGURES,
                                   plots_missing=not plots.available()))
    written.update(pngs)
    return written


def _figs(dist: dict | None) -> str:
    return " ".join(f"{dist[k]:>9.1f}" for k in FIGURES) if dist else f"{'-':>9} {'-':>9} {'-':>9}"


def table(result: dict) -> str:
    """Cold start, density and memory in plain text (ms; MiB)."""
    lines = [f"{'node':16} {'handler':10} {'c':>4} {'status':8} {'done':>7}   started p50/p95/p99 (ms)"
             "    completed p50/p95/p99 (ms)"]
    for row in result.get("coldstart", {}).get("summary", []):
        lines.append(f"{row['node']:16} {row['handler']:10} {row['concurrency']:>4} {row['status'].upper():8} "
                     f"{row['completed']:>3}/{row['pods']:<3} {_figs(row['started_ms'])}  {_figs(row['completed_ms'])}")
        lines += [f"{'':16} {'':10} {'':>4} FAILED x{n}: {why}" for why, n in row["failures"].items()]
    for d in result.get("density", []):
        mem = d["memory"]
        rest = f"{mem['at_rest']['p50'] / 2**20:.1f}" if mem["at_rest"] else "-"
        peak = f"{mem['peak']['max'] / 2**20:.1f}" if mem["peak"] else "-"
        lines.append(f"density {d['node']} {d['handler']}: {d['pods_ready']} pods Ready, bounded by "
                     f"{d['bounded_by']['by']} ({d['bounded_by'].get('detail', '')}); memory per pod at rest p50 "
                     f"{rest} MiB, peak {peak} MiB")
    hooks = (result.get("admission") or {}).get("webhooks") or []
    if hooks:
        lines += ["", "admission webhooks during the run (API server histogram; p50/p95/p99 within its buckets)"]
        lines += [f"  {h['webhook']} {h['operation']} rejected={h['rejected']}: {h['calls']} calls, mean "
                  f"{h['mean_ms']:.2f} ms, p50/p95/p99 {h['p50_ms']}/{h['p95_ms']}/{h['p99_ms']} ms" for h in hooks]
    conformance = (result.get("conformance") or {}).get("table") or []
    if conformance:
        columns = [k for k in conformance[0] if k not in ("case", "what")]
        lines += ["", "conformance: " + ", ".join(columns)]
        lines += [f"  {row['case']:14} " + "  ".join("ok" if row[c] == "ok" else f"FAIL ({row[c]})" if row[c] else "-"
                                                    for c in columns) for row in conformance]
    for what, why in result.get("skipped", {}).items():
        lines.append(f"skipped {what}: {why}")
    if result.get("policies_table"):
        lines += ["", result["policies_table"]]
    return "\n".join(lines)
