"""A campaign's aggregate: one row per task, method and budget over the seeds (`summary.csv`,
`summary.html` with a plot) and one row per run (`runs.csv`). See `symctl/_campaign.py`, whose
`Campaign` is the `campaign` argument here (not imported: that module imports this one).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any


def _fmt(v: Any) -> str:
    try:
        return f"{float(v):.4g}"
    except (TypeError, ValueError):
        return str(v)


SUMMARY_COLUMNS = (
    "task",
    "method",
    "budget",
    "seeds",
    "failed",
    "cost_mean",
    "cost_ci_low",
    "cost_ci_high",
    "lqg_cost_mean",
    "ratio_mean",
    "ratio_ci_low",
    "ratio_ci_high",
    "certificate_pass",
    "operations_mean",
    "constants_mean",
    "synth_seconds",
    "total_seconds",
)
RUN_COLUMNS = (
    "task",
    "method",
    "budget",
    "seed",
    "cost",
    "lqg_cost",
    "ratio_to_lqg",
    "trajectories",
    "verdict",
    "c_ok",
    "operations",
    "constants",
    "nodes",
    "synth_seconds",
    "total_seconds",
    "error",
    "folder",
)


def aggregate(rows: list[dict | None]) -> list[dict[str, Any]]:
    """One row per task, method and budget (in the campaign's order): the mean over the seeds of the
    held-out cost and of the ratio to LQG, each with its 95% Student-t interval (`mean_ci`), the
    certificates passed, the mean size and the mean seconds of a run."""
    from synth._cost import mean_ci

    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r is not None:
            groups.setdefault((r["task"], r["method"], r["budget"]), []).append(r)
    out = []
    for (task, method, budget), members in groups.items():
        ok = [r for r in members if not r.get("error")]

        def col(name: str, rows_: list[dict] = ok) -> list[float]:
            return [float(r[name]) if r.get(name) is not None else math.nan for r in rows_]

        cost, ratio = mean_ci(col("cost")) if ok else (math.nan,) * 3, mean_ci(col("ratio_to_lqg")) if ok else (math.nan,) * 3
        out.append(
            {
                "task": task,
                "method": method,
                "budget": budget,
                "seeds": len(members),
                "failed": len(members) - len(ok),
                "cost_mean": cost[0],
                "cost_ci_low": cost[1],
                "cost_ci_high": cost[2],
                "lqg_cost_mean": _mean(col("lqg_cost")),
                "ratio_mean": ratio[0],
                "ratio_ci_low": ratio[1],
                "ratio_ci_high": ratio[2],
                "certificate_pass": sum(r.get("verdict") == "PASS" for r in ok),
                "operations_mean": _mean(col("operations")),
                "constants_mean": _mean(col("constants")),
                "synth_seconds": _mean(col("synth_seconds")),
                "total_seconds": _mean(col("total_seconds", members)),
            }
        )
    return out


def _mean(values: list[float]) -> float:
    return float(sum(values) / len(values)) if values else math.nan


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else str(v)
    return "" if v is None else str(v)


def write_aggregate(campaign: Any, rows: list[dict]) -> list[Path]:
    """`summary.csv`, `runs.csv`, `summary.html` (the table and an inline plot) in the campaign folder."""
    out = campaign.out
    summary = aggregate(rows)
    files = [out / "summary.csv", out / "runs.csv", out / "summary.html"]
    for path, columns, table in ((files[0], SUMMARY_COLUMNS, summary), (files[1], RUN_COLUMNS, rows)):
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(columns)
            for r in table:
                w.writerow([_cell(r.get(c)) for c in columns])
    files[2].write_text(_html(campaign, summary, rows), encoding="utf-8")
    return files


def _html(campaign: Any, summary: list[dict], rows: list[dict]) -> str:
    """A self-contained page: the summary table and a plot of cost ratio to LQG per task and method."""
    import html

    def num(v: Any, digits: int = 4) -> str:
        return f"{v:.{digits}g}" if isinstance(v, float) and math.isfinite(v) else html.escape(_cell(v))

    head = (
        "task",
        "method",
        "budget",
        "seeds",
        "held-out cost (95% CI)",
        "ratio to LQG (95% CI)",
        "certificate PASS",
        "operations",
        "constants",
        "synthesis s",
        "run s",
    )
    body = []
    for r in summary:
        cells = (
            html.escape(r["task"]),
            html.escape(r["method"]),
            html.escape(r["budget"]),
            f"{r['seeds']}" + (f" ({r['failed']} failed)" if r["failed"] else ""),
            f"{num(r['cost_mean'])} ({num(r['cost_ci_low'])} to {num(r['cost_ci_high'])})",
            f"{num(r['ratio_mean'])} ({num(r['ratio_ci_low'])} to {num(r['ratio_ci_high'])})",
            f"{r['certificate_pass']} / {r['seeds'] - r['failed']}",
            num(r["operations_mean"], 3),
            num(r["constants_mean"], 3),
            num(r["synth_seconds"], 3),
            num(r["total_seconds"], 3),
        )
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    errors = [f"<li>{html.escape(Path(r['folder']).name)}: {html.escape(str(r['error']))}</li>" for r in rows if r.get("error")]
    return (
        "<!doctype html>\n<html><head><meta charset='utf-8'><title>symctl campaign</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:4px 8px;"
        "text-align:right}td:nth-child(-n+3),th{text-align:left}</style></head><body>\n"
        f"<h1>Campaign {html.escape(str(campaign.source))}</h1>\n"
        f"<p>{len(rows)} runs: tasks {', '.join(map(html.escape, campaign.tasks))}; methods {', '.join(campaign.methods)}; "
        f"budgets {', '.join(campaign.budgets)}; seeds {', '.join(map(str, campaign.seeds))}. Held-out cost: validation's Monte "
        "Carlo mean on the run's test stream; the interval is over the seeds (Student t, 95%). Ratio to LQG: the per-seed ratios of "
        "mean costs on common random numbers, averaged over the seeds.</p>\n"
        "<table><tr>"
        + "".join(f"<th>{h}</th>" for h in head)
        + "</tr>\n"
        + "\n".join(body)
        + "\n</table>\n"
        + (f"<h2>Failed runs</h2><ul>{''.join(errors)}</ul>\n" if errors else "")
        + "<h2>Cost ratio to LQG (mean over seeds, 95% interval)</h2>\n"
        + _plot(summary)
        + "\n</body></html>\n"
    )


def _plot(summary: list[dict]) -> str:
    """The ratio to LQG of every task, method and budget as bars with their interval (matplotlib, as
    inline SVG)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    rows = [r for r in summary if isinstance(r["ratio_mean"], float) and math.isfinite(r["ratio_mean"])]
    if not rows:
        return "<p>No finite ratio to plot.</p>"
    fig = Figure(figsize=(max(4.0, 0.6 * len(rows) + 2), 3.5))
    ax = fig.add_subplot()
    x = range(len(rows))
    mean = [r["ratio_mean"] for r in rows]
    lo = [max(0.0, r["ratio_mean"] - r["ratio_ci_low"]) if math.isfinite(r["ratio_ci_low"]) else 0.0 for r in rows]
    hi = [max(0.0, r["ratio_ci_high"] - r["ratio_mean"]) if math.isfinite(r["ratio_ci_high"]) else 0.0 for r in rows]
    ax.bar(x, mean, yerr=[lo, hi], capsize=3, color="#4a7fb5")
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set_xticks(list(x), [f"{r['task']}\n{r['method']} {r['budget']}" for r in rows], fontsize=7)
    ax.set_ylabel("cost / LQG cost")
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue()
    return svg[svg.index("<svg") :]
