"""The end-of-run summary's text (pure: operations/run_summary.py feeds it)."""

from __future__ import annotations


def render(hosts: list[str], reasons: dict[str, str]) -> list[tuple[str, str]]:
    """Lines (level, text) saying which of ``hosts`` converged and why the others, those
    in ``reasons``, did not."""
    failed = [h for h in hosts if h in reasons]
    converged = [h for h in hosts if h not in reasons]
    lines = [("info", f"--> edgewasm: {len(converged)} of {len(hosts)} hosts converged")]
    if converged:
        lines.append(("info", f"    converged: {', '.join(converged)}"))
    if failed:
        lines.append(("error", f"    not converged ({len(failed)}); fix these, then run again:"))
        lines += [("error", f"    {h}: {reasons[h]}") for h in failed]
    return lines
