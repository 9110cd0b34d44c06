"""bench/paper_table1.py's summaries: a cell's seeds summed up, and the markdown tables of
bench/paper_RESULTS.md (Table 1, against the oracle, the orderings, the lag figure)."""

from __future__ import annotations

import math
import statistics

from _paper_setup import EXPERIMENTS, FIGURE_METHODS, FIGURE_NOISE, METHODS


def summary(records: list[dict]) -> dict:
    """Over seeds: mean of the per-seed test costs with its 95 % interval (Student t; one seed:
    that seed's interval over trajectories), median, best, the best seed's size, mean wall time."""
    from synth._cost import mean_ci

    done = [r for r in records if "test_cost" in r]
    if not done:
        return {"seeds": 0}
    costs = [r["test_cost"] for r in done]
    if len(done) == 1:
        mean, (lo, hi) = costs[0], done[0]["test_ci95"]
    else:
        mean, lo, hi = mean_ci(costs)
    best = min(done, key=lambda r: r["test_cost"] if math.isfinite(r["test_cost"]) else math.inf)
    median = statistics.median(costs)  # (a lost seed counts as inf)
    return {
        "seeds": len(done),
        "seed_list": [r["seed"] for r in done],
        "mean": mean,
        "ci95": [lo, hi],
        "median": median,
        "best": best["test_cost"],
        "best_seed": best["seed"],
        "best_size": best.get("size", {}),
        "best_costs": best.get("test_costs"),  # per trajectory (cells run before these were stored: None)
        "wall_seconds": sum(r["synth_seconds"] for r in done) / len(done),
        "lost": sum(r["test_lost"] for r in done),
        "wall_resumed": any(r.get("resume") for r in done),
    }  # (a resumed cell's synth_seconds are its last part's)


def fmt(v: float) -> str:
    return "inf" if not math.isfinite(v) else f"{v:.4g}"


def ratio(v: float, ref: float | None) -> str:
    """`v` over a reference cost, or "-" where there is no finite one."""
    return fmt(v / ref) if ref and math.isfinite(ref) else "-"


def table_markdown(table: dict, lqg: dict, oracle: dict | None = None) -> str:
    lines = [
        "| # | experiment | task | method | seeds | test cost, mean over seeds [95% CI] | best seed | best / LQG | "
        "size of best: ops / vars / consts (sum) | synth wall s (mean) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for exp in EXPERIMENTS:
        ref = lqg.get(exp.task)
        for label in METHODS:
            s = table.get((exp.number, label))
            if s is None:
                continue
            if not s.get("seeds"):
                lines.append(f"| {exp.number} | {exp.environment}, {exp.name} | {exp.task} | {label} | 0 | not run | | | | |")
                continue
            sz = s["best_size"]
            size_text = (
                f"{sz['parameters']} parameters"
                if "parameters" in sz
                else f"{sz['operations']} / {sz['variables']} / {sz['constants']} ({sz['size']})"
            )
            lines.append(
                f"| {exp.number} | {exp.environment}, {exp.name} | {exp.task} | {label} | {s['seeds']} | "
                f"{fmt(s['mean'])} [{fmt(s['ci95'][0])}, {fmt(s['ci95'][1])}] | {fmt(s['best'])} (seed {s['best_seed']}) | "
                f"{ratio(s['best'], ref)} | {size_text} | {'>= ' if s.get('wall_resumed') else ''}{s['wall_seconds']:.0f} |"
            )
        if ref is not None:
            lines.append(f"| {exp.number} | | {exp.task} | LQG (time-varying, reference) | - | {fmt(ref)} | | 1 | | |")
        best = (oracle or {}).get(exp.task) or {}
        if "test_cost" in best:
            n = best["test_trajectories"]
            covered = len(best.get("designed", range(n)))  # (records from before partial cover: all)
            part = "" if covered == n else f" on {covered} of {n} trajectories"
            lines.append(
                f"| {exp.number} | | {exp.task} | LQG oracle (each trajectory's own parameters and target, reference) | - | "
                f"{fmt(best['test_cost'])}{part} | | {ratio(best['test_cost'], ref) if not part else '-'} | | |"
            )
    return "\n".join(lines)


def oracle_markdown(table: dict, oracle: dict) -> str:
    """Per varying-parameter row: each method's best seed against the per-trajectory LQG oracle, on
    the test trajectories the oracle covers (all of them, or those with an operating point): the
    ratio of mean costs and, where the per-trajectory costs are recorded, of medians (which a lost
    trajectory, cost inf, does not make infinite)."""
    import numpy as np

    lines = [
        "| # | task | oracle on its trajectories: mean, median (covered, lost) | "
        "method: best seed's cost on those trajectories / oracle's, mean (median) |",
        "|---|---|---|---|",
    ]
    for exp in EXPERIMENTS:
        ref = oracle.get(exp.task) or {}
        if "test_cost" not in ref:
            continue
        n = ref["test_trajectories"]
        rows = np.asarray(ref.get("designed", range(n)), int)
        ref_median = float(np.median(ref["test_costs"])) if "test_costs" in ref else None
        parts = []
        for label in METHODS:
            s = table.get((exp.number, label)) or {}
            if not s.get("seeds"):
                continue
            costs = None if s.get("best_costs") is None else np.asarray(s["best_costs"], float)[rows]
            if costs is None and rows.size < n:
                parts.append(f"{label} -")
                continue
            mean = s["best"] if costs is None else float(np.mean(costs))
            median = "-" if costs is None or ref_median is None else ratio(float(np.median(costs)), ref_median)
            parts.append(f"{label} {ratio(mean, ref['test_cost'])} ({median})")
        lines.append(
            f"| {exp.number} | {exp.task} | {fmt(ref['test_cost'])}, {fmt(ref_median) if ref_median is not None else '-'} "
            f"({rows.size} of {n}, {ref.get('test_lost', 0)} lost) | {', '.join(parts)} |"
        )
    return "\n".join(lines)


def _median(costs) -> float:
    """The median of per-trajectory costs (inf where none are recorded)."""
    return statistics.median(costs) if costs else math.inf


def _ordered_entry(label: str, s: dict) -> str:
    """A method's entry in the orderings: its mean, or where that is inf its best seed's median and losses."""
    if math.isfinite(s["mean"]):
        return f"{label} {fmt(s['mean'])}"
    costs = s.get("best_costs") or []
    lost = sum(not math.isfinite(c) for c in costs)
    return f"{label} inf (best seed: median {fmt(_median(costs))}, {lost} lost)"


def ordering_markdown(table: dict) -> str:
    """Per experiment, the methods run here from best to worst by mean test cost (then, for means
    that a lost trajectory makes inf, by the best seed's median), and the paper's order of the same
    methods by its Table 1 fitness (higher is better): the comparison the paper's costs allow, as
    its fitness is on its own discretisation and scale."""
    lines = ["| # | task | here (best first, mean test cost) | the paper (best first, Table 1 fitness) |", "|---|---|---|---|"]
    for exp in EXPERIMENTS:
        ours = {label: s["mean"] for (n, label), s in table.items() if n == exp.number and s.get("seeds")}
        # The paper's column of each method run here (GP-D symctl has none: the paper has no seeded GP-D).
        column = {label: METHODS[label][2] for label in ours if METHODS[label][2] in exp.paper}
        if len(column) < 2:
            continue
        # A lost trajectory makes a mean inf; such methods follow, ordered by their best seed's median.
        medians = {label: _median(table[(exp.number, label)].get("best_costs")) for label in column}
        here = sorted(column, key=lambda label: (ours[label], medians[label]))
        paper = sorted(column, key=lambda label: -exp.paper[column[label]][0])
        lines.append(
            f"| {exp.number} | {exp.task} | "
            + " < ".join(_ordered_entry(label, table[(exp.number, label)]) for label in here)
            + " | "
            + " > ".join(f"{column[label]} {exp.paper[column[label]][0]:g}" for label in paper)
            + " |"
        )
    return "\n".join(lines)


def figure_markdown(figure: dict, lqg: dict) -> str:
    labels = list(FIGURE_METHODS)
    lines = [
        "| obs. noise σ | " + " | ".join(f"{m}: mean over seeds [95% CI] (seeds)" for m in labels) + " | LQG |",
        "|---|" + "---|" * (len(labels) + 1),
    ]
    for sigma in FIGURE_NOISE:
        row = [f"{sigma:g}"]
        for m in labels:
            s = figure.get((sigma, m), {"seeds": 0})
            row.append(
                "not run" if not s.get("seeds") else f"{fmt(s['mean'])} [{fmt(s['ci95'][0])}, {fmt(s['ci95'][1])}] ({s['seeds']})"
            )
        ref = lqg.get(f"noise{sigma:g}")
        row.append(fmt(ref) if ref is not None else "-")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)
