"""The report's plots as PNG files: cold start latency per handler, memory per pod, the
density curve. matplotlib is the optional extra ``bench`` (pip install 'edgewasm[bench]');
without it the report has its tables and no plots, and says so."""

from __future__ import annotations

from pathlib import Path

MIB = 2**20


def available() -> bool:
    try:
        import matplotlib  # noqa: F401 - the optional extra `bench`
    except ImportError:
        return False
    return True


def render(result: dict, out: Path) -> dict[str, Path]:
    """{plot name: PNG path} of what the result has data for."""
    if not available():
        return {}
    # Late: matplotlib is optional and heavy to load; Agg needs no display.
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    written = {}
    for name, draw in (("coldstart", _coldstart), ("memory", _memory), ("density", _density)):
        figure = draw(result, pyplot)
        if figure is not None:
            path = out / f"{name}.png"
            figure.savefig(path, dpi=100, bbox_inches="tight")
            pyplot.close(figure)
            written[name] = path
    return written


def _coldstart(result: dict, pyplot):
    samples = [s for s in result.get("coldstart", {}).get("samples", []) if s["ok"]]
    levels = sorted({s["concurrency"] for s in samples})
    if not levels:
        return None
    figure, axes = pyplot.subplots(1, len(levels), figsize=(5.5 * len(levels), 4.5), squeeze=False)
    for ax, level in zip(axes[0], levels):
        keys = sorted({(s["node"], s["handler"]) for s in samples if s["concurrency"] == level})
        data = [[s["completed_ms"] for s in samples if s["concurrency"] == level and (s["node"], s["handler"]) == k]
                for k in keys]
        ax.boxplot(data, whis=(1, 99))
        ax.set_xticks(range(1, len(keys) + 1), [f"{h}\n{n}" for n, h in keys], fontsize=8, rotation=35,
                      ha="right")
        ax.set_title(f"create -> completed, c={level}")
        ax.set_ylabel("ms (server clock)")
    return figure


def _memory(result: dict, pyplot):
    rows = [d for d in result.get("density", []) if d["memory"]["at_rest"]]
    if not rows:
        return None
    figure, ax = pyplot.subplots(figsize=(max(5, 1.6 * len(rows)), 4))
    labels = [f"{d['handler']}\n{d['node']}" for d in rows]
    x = range(len(rows))
    ax.bar([i - 0.2 for i in x], [d["memory"]["at_rest"]["p50"] / MIB for d in rows], width=0.4, label="at rest (p50)")
    ax.bar([i + 0.2 for i in x], [d["memory"]["peak"]["max"] / MIB for d in rows], width=0.4, label="peak (max)")
    ax.set_xticks(list(x), labels, fontsize=8)
    ax.set_ylabel("MiB per pod (working set)")
    ax.set_title("memory per pod")
    ax.legend()
    return figure


def _density(result: dict, pyplot):
    rows = [d for d in result.get("density", []) if any("memory_working_set_bytes" in p for p in d["curve"])]
    if not rows:
        return None
    figure, ax = pyplot.subplots(figsize=(6, 4))
    for d in rows:
        points = [(p["pods_ready"], p["memory_working_set_bytes"] / MIB) for p in d["curve"]
                  if p.get("memory_working_set_bytes") is not None]
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o",
                label=f"{d['handler']} on {d['node']} ({d['bounded_by']['by']})")
    ax.set_xlabel("pods Ready on the node")
    ax.set_ylabel("node working set, MiB")
    ax.set_title("density")
    ax.legend(fontsize=8)
    return figure
