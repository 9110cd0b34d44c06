"""The GP paper's Table 1 and its time-lagged figure (Fig. 4), reproduced with symctl's methods.

Table: the paper's seven experiments (the built-in tasks that carry their settings) x RS, NDE,
GP-S, GP-D from scratch (`--seed-policy none`, the paper's setting) and GP-D with symctl's defaults
(the steady-state LQG, its gain-scheduled forms and linear seeds), at the paper's budgets
(population x generations of its Table 3 / experiment code; NDE spends as many evaluations as
50 x the rest, the split of its own preset), N seeds. Figure: GP-S, GP-L and GP-D
(all from scratch) on sho/partial with the position's observation noise at 0, 0.25, 0.5, 0.75, 1.0.

Every cell is `symctl synth TASK --method M` (the method alone, in the task's units, as the paper
trains) in a process of its own, then the chosen policy's mean cost on the same 1,000 held-out
trajectories (stream "test", seed 0; float64 `Simulator.simulate`) with its Student-t 95 % interval
(`synth._cost.mean_ci`), its size (operations, variables, constants of all its expressions; an
NDE: its parameter count) and the wall time of the synthesis. A method that is not registered
(`symctl._methods.METHODS`) is skipped with a note. A cell whose `cell.json` exists with the same
command is read back, not run again, and an interrupted cell continues from its checkpoint (its
wall time is then shown as ">=", the last part's), so the table can be built up over several sessions:

    .venv/bin/python bench/paper_table1.py                       # everything, 5 seeds (days on 2 cores)
    .venv/bin/python bench/paper_table1.py --experiments 1 2 --seeds 1
    .venv/bin/python bench/paper_table1.py --figure-only --seeds 1
    .venv/bin/python bench/paper_table1.py --quick               # smoke test, tiny budgets (about 30 min)
    .venv/bin/python bench/paper_table1.py --report              # the tables from the cells done so far
    .venv/bin/python bench/paper_table1.py --experiments 7 --generations 10   # a tenth of row 7's budget

Run folders and cells go to `runs/paper_table1` (`runs/paper_table1_quick` with --quick,
`runs/paper_table1_gG` with --generations G). A finished cell of these folders (not --quick, no
--out) is also written to `bench/paper_table1_cells/`, which is committed: a new checkout has no
runs/, and reads the cells back from there instead of running them again. Before a session ends,
`--keep-partial` (with the same --generations) copies the unfinished cells' checkpoints there too
(`seedK.partial/`, a few hundred kB each); commit them, and the next run continues those cells.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST_SEED, TEST_STREAM = 0, "test"


@dataclasses.dataclass(frozen=True)
class Experiment:
    number: int
    environment: str
    name: str
    task: str
    population: int
    islands: int
    generations: int
    paper: dict  # the paper's Table 1: method -> (fitness, size); higher fitness is better


# The paper's Table 3 and experiment code (notes/paper-settings.md): 100 per island; SHO experiment 1
# ran 50 generations in the current experiment code (30 in the paper's Table 3).
EXPERIMENTS = (
    Experiment(
        1,
        "SHO",
        "Observation noise",
        "sho/noisy",
        500,
        5,
        50,
        {"RS": (-56.11, 15), "NDE": (-48.85, 215), "GP-S": (-57.28, 5), "GP-D": (-49.66, 19)},
    ),
    Experiment(
        2,
        "SHO",
        "Partial state observability",
        "sho/partial",
        500,
        5,
        50,
        {"NDE": (-72.76, 195), "GP-S": (-903.44, 5), "GP-D": (-63.35, 21)},
    ),
    Experiment(
        3,
        "SHO",
        "Varying parameters",
        "sho/varying",
        1000,
        10,
        150,
        {"NDE": (-47.76, 215), "GP-S": (-110.25, 13), "GP-D": (-45.56, 25)},
    ),
    Experiment(
        4,
        "Acrobot",
        "Observation noise",
        "acrobot/noisy",
        500,
        5,
        50,
        {"RS": (-123.64, 6), "NDE": (-98.45, 231), "GP-S": (-115.31, 8), "GP-D": (-112.82, 20)},
    ),
    Experiment(
        5,
        "Acrobot",
        "Partial state observability",
        "acrobot/partial",
        500,
        5,
        50,
        {"NDE": (-101.47, 191), "GP-S": (-250.0, 1), "GP-D": (-110.23, 12)},
    ),
    Experiment(
        6,
        "Acrobot",
        "Two control inputs",
        "acrobot/two-inputs",
        500,
        5,
        50,
        {"NDE": (-97.02, 272), "GP-S": (-103.43, 12), "GP-D": (-100.69, 18)},
    ),
    Experiment(
        7,
        "CSTR",
        "Varying parameters",
        "cstr/varying",
        1000,
        10,
        100,
        {"NDE": (-1017.72, 215), "GP-S": (-1059.31, 9), "GP-D": (-845.33, 27)},
    ),
)

# label -> (symctl method, extra options, the paper's column it compares with)
METHODS = {
    "RS": ("rs", [], "RS"),
    "NDE": ("nde", [], "NDE"),
    "GP-S": ("gp-s", ["--seed-policy", "none"], "GP-S"),
    "GP-D scratch": ("gp-d", ["--seed-policy", "none"], "GP-D"),
    "GP-D symctl": ("gp-d", [], None),
}
FIGURE_METHODS = {
    "GP-S": ("gp-s", ["--seed-policy", "none"], None),
    "GP-L": ("gp-l", ["--seed-policy", "none"], None),
    "GP-D": ("gp-d", ["--seed-policy", "none"], None),
}
FIGURE_NOISE = (0.0, 0.25, 0.5, 0.75, 1.0)  # the paper's Fig. 4 / Appendix E
FIGURE_BUDGET = (500, 5, 50)  # the lag experiment: 100 x 5, 50 generations

# --quick: every cell on a tiny budget (a smoke test of the whole script, not a result).
QUICK_BUDGET = (20, 2, 2)
QUICK_SET = {
    "gp": [
        "--set",
        "train_trajectories=4",
        "--set",
        "validation_trajectories=16",
        "--set",
        "polish_steps=10",
        "--set",
        "seed_steps=10",
        "--set",
        "tune_steps=5",
        "--set",
        "seed_policy_trajectories=8",
    ],
    "nde": ["--set", "train_trajectories=4", "--set", "validation_trajectories=16"],
}
QUICK_TEST_TRAJECTORIES = 100


# Cells ---------------------------------------------------------------------------------------
# NDE spends the experiment's evaluations (population x generations) with a population of 50, the
# split of its paper preset (CMA-ES went further so at equal evaluations: synth/nde/_config.py).
NDE_POPULATION = 50
QUICK_NDE = (8, 5)


def synth_args(
    task: str, method: str, extra: list[str], seed: int, out: Path, budget: tuple[int, int, int], quick: bool
) -> list[str]:
    population, islands, generations = budget
    if method == "nde":
        population, generations = QUICK_NDE if quick else (NDE_POPULATION, population * generations // NDE_POPULATION)
    args = [
        "synth",
        task,
        "--method",
        method,
        "--budget",
        "paper",
        "--seed",
        str(seed),
        "--out",
        str(out),
        "--quiet",
        "--population",
        str(population),
        "--generations",
        str(generations),
        *extra,
    ]
    if method.startswith("gp"):
        args += ["--islands", str(islands)]
    if quick:
        args += QUICK_SET["nde" if method == "nde" else "gp"]
    return args


def test_set(task, n: int):
    """The held-out trajectories every cell is scored on: (simulator, scenarios)."""
    from synth import Simulator, stream_key

    sim = Simulator(task)
    return sim, sim.scenarios(stream_key(TEST_SEED, TEST_STREAM), n)


def _scores(cost) -> dict:
    import numpy as np

    from synth._cost import mean_ci

    cost = np.asarray(cost, float)
    mean, lo, hi = mean_ci(cost)
    return {
        "test_cost": mean,
        "test_ci95": [lo, hi],
        "test_lost": int((~np.isfinite(cost)).sum()),
        "test_costs": cost.tolist(),  # per trajectory: a reference that covers only some compares on those
    }


def run_cell(spec: dict) -> dict:
    """In this process: the synthesis (`symctl synth`, continued with `--resume` when the spec says
    so), or the LQG design, then the policy on the held-out trajectories."""
    import jax
    import numpy as np

    jax.config.update("jax_enable_x64", True)  # (as the CLI does: the held-out cost in float64)
    import plants
    from symctl.cli import main
    from validation.lqg import LQGError, lqg, oracle_where_possible, run_oracle

    task = plants.get_task(spec["task"])
    record = dict(spec)
    t0 = time.perf_counter()
    if spec["method"] == "lqg-oracle":  # one design per held-out trajectory, at its own parameters and target
        sim, scen = test_set(task, spec["test_trajectories"])
        t0 = time.perf_counter()
        groups = oracle_where_possible(task, np.asarray(scen.p), targets=np.asarray(scen.r))
        if not groups:
            return {**record, "error": "no per-trajectory LQG: no test trajectory's parameters and target have a design"}
        record["synth_seconds"] = round(time.perf_counter() - t0, 3)
        rows, cost, _ = run_oracle(sim, groups, scen)
        record["designed"] = rows.tolist()  # the test trajectories it covers (where an operating point exists)
        record["structures"] = len(groups)
        return {**record, **_scores(cost)}
    if spec["method"] == "lqg":
        try:
            policy = lqg(task, "lqg")
        except (LQGError, ValueError, ArithmeticError):
            return {**record, "error": "no LQG design for this task"}
    else:
        status = main([*spec["args"], *(["--resume"] if spec.get("resume") else [])])
        if status != 0:
            return {**record, "error": f"symctl synth exited with status {status}"}
        from synth import load_policy

        policy = load_policy(spec["out"])
    record["synth_seconds"] = round(time.perf_counter() - t0, 3)
    sim, scen = test_set(task, spec["test_trajectories"])
    record.update(
        _scores(sim.simulate(policy, scen).cost),
        size=size(policy),
        policy=str(policy) if hasattr(policy, "f") else policy.summary(),
    )
    return record


def size(policy) -> dict:
    """Operations, variables and constants (occurrences) over all the policy's expressions, and
    their sum; a network policy: its parameter count as the size."""
    if not hasattr(policy, "f"):
        c = policy.complexity()
        return {**c, "size": int(c.get("parameters", sum(v for v in c.values() if isinstance(v, int))))}
    import sympy as sp

    exprs = [*policy.f, *policy.g]
    ops = int(sum(sp.count_ops(e) for e in exprs))
    variables = int(sum(1 for e in exprs for a in sp.preorder_traversal(e) if isinstance(a, sp.Symbol)))
    consts = int(
        sum(
            1
            for e in exprs
            for a in sp.preorder_traversal(e)
            if isinstance(a, sp.Number) and a not in (sp.S.One, sp.S.NegativeOne)
        )
    )
    return {"operations": ops, "variables": variables, "constants": consts, "size": ops + variables + consts}


# Finished cells are kept in git as well as in the run folder: a new checkout starts with an empty
# runs/, and the table is built up over sessions (paths in them are relative to the repository).
KEPT = ROOT / "bench" / "paper_table1_cells"


def _portable(obj):
    return json.loads(json.dumps(obj, default=str).replace(str(ROOT) + "/", ""))


def cell_folder(root: Path, group: str, label: str, seed: int) -> Path:
    return root / group / label.replace(" ", "-") / f"seed{seed}"


def kept_path(root: Path, group: str, label: str, seed: int) -> Path:
    """Where a finished cell's record is kept in git (`.partial` beside it: an unfinished cell's folder)."""
    return (KEPT / cell_folder(root, group, label, seed).relative_to(root.parent)).with_suffix(".json")


def _same(record: dict, spec: dict) -> bool:
    """A record of this cell's command that did not fail."""
    return {k: record.get(k) for k in spec} == spec and "error" not in record


def cell(
    root: Path,
    group: str,
    label: str,
    method: str,
    extra: list[str],
    task: str,
    seed: int,
    budget,
    quick: bool,
    test_trajectories: int,
    keep: bool = False,
) -> dict:
    """The cell's record: read back when it was run with the same command (from the run folder, or
    kept in git), else run in a process of its own; `keep` keeps a finished record in git's folder."""
    out = cell_folder(root, group, label, seed)
    args = [] if method.startswith("lqg") else synth_args(task, method, extra, seed, out, budget, quick)
    spec = {
        "group": group,
        "label": label,
        "method": method,
        "task": task,
        "seed": seed,
        "out": str(out),
        "args": args,
        "test_trajectories": test_trajectories,
    }
    if method == "lqg-oracle":  # (records of the oracle designed at the nominal target lack this: run again)
        spec["designed_at"] = "each trajectory's parameters and target"
    path = out / "cell.json"
    kept = kept_path(root, group, label, seed)
    partial = kept.with_suffix(".partial")
    if path.is_file():
        old = json.loads(path.read_text())
        if _same(old, spec):
            if keep and not kept.is_file():
                _keep(kept, old)
            return old
    if keep and kept.is_file():
        old = json.loads(kept.read_text())
        if _same(old, _portable(spec)):
            return old
    started = out / "cell-started.json"
    if keep and args and not started.is_file() and (partial / "cell-started.json").is_file():
        if json.loads((partial / "cell-started.json").read_text()) == _portable(spec):
            shutil.rmtree(out, ignore_errors=True)  # an unfinished cell kept by --keep-partial: continue it
            shutil.copytree(partial, out)
            started.write_text(json.dumps(spec, indent=1) + "\n")
    # An interrupted cell (started with this command, no record) continues from its checkpoint, losing
    # at most one generation; a cell run with another command, or failed, starts afresh.
    resume = bool(args) and not path.is_file() and started.is_file() and json.loads(started.read_text()) == spec
    if out.exists() and not resume:
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    started.write_text(json.dumps(spec, indent=1) + "\n")
    print(
        f"  {'resuming' if resume else 'running'} {group} {label} seed {seed}: symctl {' '.join(args) or method}"
        f"{' --resume' if resume else ''}",
        file=sys.stderr,
        flush=True,
    )
    run = {**spec, "resume": resume}
    proc = subprocess.run([sys.executable, __file__, "--cell", json.dumps(run)], capture_output=True, text=True, cwd=ROOT)
    try:
        record = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        record = {**run, "error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}
    path.write_text(json.dumps(record, indent=1, default=str) + "\n")
    if "error" in record:
        print(f"    failed: {record['error']}", file=sys.stderr, flush=True)
    elif keep:
        _keep(kept, record)
    return record


def keep_partial(root: Path) -> list[Path]:
    """Copy every started, unfinished cell of `root` (its checkpoint, history and start record) next
    to the kept records, so that the next checkout continues it; returns the copies."""
    copies = []
    for started in sorted(root.glob("*/*/seed*/cell-started.json")):
        out = started.parent
        if (out / "cell.json").is_file() or not json.loads(started.read_text()).get("args"):
            continue
        partial = (KEPT / out.relative_to(root.parent)).with_suffix(".partial")  # (as `kept_path` places it)
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(out, partial)
        (partial / "cell-started.json").write_text(json.dumps(_portable(json.loads(started.read_text())), indent=1) + "\n")
        copies.append(partial)
    return copies


def _keep(path: Path, record: dict) -> None:
    """Keep a finished cell's record in git; its unfinished copy, if any, is no longer needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_portable(record), indent=1) + "\n")
    shutil.rmtree(path.with_suffix(".partial"), ignore_errors=True)


# Tasks of the figure --------------------------------------------------------------------------
def noisy_task_file(root: Path, sigma: float) -> str:
    """sho/partial with the position's observation noise `sigma` (a task file next to the runs)."""
    text = (ROOT / "plants/library/sho/partial.toml").read_text()
    plant = (ROOT / "plants/library/sho/plant.toml").resolve()
    old_noise = 'y_x = { expr = "x", noise = 0.3 }'
    assert old_noise in text and 'plant = "plant.toml"' in text
    text = text.replace(old_noise, f'y_x = {{ expr = "x", noise = {sigma} }}').replace(
        'plant = "plant.toml"', f'plant = "{plant}"'
    )
    text = text.replace('name = "sho/partial"', f'name = "sho/partial-noise{sigma:g}"')
    path = root / "tasks" / f"sho-partial-noise{sigma:g}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return str(path)


# Summaries ------------------------------------------------------------------------------------
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


# Driver ---------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cell", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="tiny budgets (a smoke test), 100 test trajectories, own run folders")
    ap.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 per cell (default 5; the paper: 20)")
    ap.add_argument("--experiments", type=int, nargs="+", default=[e.number for e in EXPERIMENTS], help="table rows (1-7)")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS), help="table columns")
    ap.add_argument("--noise", type=float, nargs="+", default=list(FIGURE_NOISE), choices=FIGURE_NOISE, help="figure rows")
    ap.add_argument("--figure-methods", nargs="+", default=list(FIGURE_METHODS), choices=list(FIGURE_METHODS))
    ap.add_argument("--table-only", action="store_true", help="no figure")
    ap.add_argument("--figure-only", action="store_true", help="no table")
    ap.add_argument("--report", action="store_true", help="run nothing: the tables from the cells done so far")
    ap.add_argument(
        "--keep-partial",
        action="store_true",
        help="run nothing: copy the unfinished cells' checkpoints to bench/paper_table1_cells/ (commit them; the next checkout continues them)",
    )
    ap.add_argument(
        "--generations",
        type=int,
        default=None,
        help="a reduced budget: every table cell at the paper's population for G generations (NDE: as many evaluations)",
    )
    ap.add_argument("--test-trajectories", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=None, help="default runs/paper_table1 (runs/paper_table1_quick with --quick)")
    args = ap.parse_args()
    if args.cell:
        print(json.dumps(run_cell(json.loads(args.cell)), default=str))
        return
    sys.path.insert(0, str(ROOT))
    import plants
    from symctl._methods import METHODS as REGISTERED

    if args.generations is not None and (args.generations < 1 or args.quick):
        ap.error(f"--generations {args.generations}: give a whole number >= 1, without --quick")
    folder = "paper_table1_quick" if args.quick else "paper_table1" + (f"_g{args.generations}" if args.generations else "")
    root = (args.out or ROOT / "runs" / folder).resolve()
    keep = args.out is None and not args.quick  # the table's own folders, kept in git when finished
    if args.keep_partial:
        if not keep:
            ap.error("--keep-partial keeps the table's own folders only: drop --out and --quick")
        for partial in keep_partial(root):
            print(f"kept {partial.relative_to(ROOT)}")
        return
    n_test = QUICK_TEST_TRAJECTORIES if args.quick and args.test_trajectories == 1000 else args.test_trajectories
    seeds = range(args.seeds)
    lqg: dict = {}
    oracle: dict = {}
    table: dict = {}
    figure: dict = {}

    def run_or_read(*a):
        if args.report:
            path = cell_folder(root, a[0], a[1], a[5]) / "cell.json"
            if not path.is_file() and keep:
                path = kept_path(root, a[0], a[1], a[5])
            return json.loads(path.read_text()) if path.is_file() else {}
        return cell(root, *a, args.quick, n_test, keep)

    if not args.figure_only:
        for exp in (e for e in EXPERIMENTS if e.number in args.experiments):
            budget = QUICK_BUDGET if args.quick else (exp.population, exp.islands, args.generations or exp.generations)
            group = f"exp{exp.number}"
            ref = run_or_read(group, "LQG", "lqg", [], exp.task, 0, budget)
            lqg[exp.task] = ref.get("test_cost")
            if plants.get_task(exp.task).varying_parameters:
                oracle[exp.task] = run_or_read(group, "LQG oracle", "lqg-oracle", [], exp.task, 0, budget)
            for label in args.methods:
                method, extra, _ = METHODS[label]
                if method not in REGISTERED:
                    print(
                        f"note: method {method!r} ({label}) is not registered in this symctl; its column is skipped",
                        file=sys.stderr,
                    )
                    continue
                table[(exp.number, label)] = summary(
                    [run_or_read(group, label, method, extra, exp.task, s, budget) for s in seeds]
                )
        print("## Table 1: held-out test cost (lower is better)\n")
        print(table_markdown(table, lqg, oracle))
        if oracle:
            print("\n## Against the per-trajectory LQG oracle (rows whose parameters vary)\n")
            print(oracle_markdown(table, oracle))
        print("\n## Orderings: here and in the paper (the methods both have)\n")
        print(ordering_markdown(table))
    if not args.table_only:
        budget = QUICK_BUDGET if args.quick else FIGURE_BUDGET
        for sigma in args.noise:
            task = noisy_task_file(root, sigma)
            group = f"lag-noise{sigma:g}"
            ref = run_or_read(group, "LQG", "lqg", [], task, 0, budget) if sigma > 0 else {}
            lqg[f"noise{sigma:g}"] = ref.get("test_cost")
            for label in args.figure_methods:
                method, extra, _ = FIGURE_METHODS[label]
                if method not in REGISTERED:
                    print(f"note: method {method!r} ({label}) is not registered in this symctl; skipped", file=sys.stderr)
                    continue
                figure[(sigma, label)] = summary([run_or_read(group, label, method, extra, task, s, budget) for s in seeds])
        print("\n## Fig. 4: sho/partial at rising observation noise (held-out test cost, lower is better)\n")
        print(figure_markdown(figure, lqg))
    dump = {
        "table": {f"{k[0]}|{k[1]}": v for k, v in table.items()},
        "figure": {f"{k[0]}|{k[1]}": v for k, v in figure.items()},
        "lqg": lqg,
        "lqg_oracle": {task: record.get("test_cost") for task, record in oracle.items()},
        "quick": args.quick,
        "generations": args.generations,
        "test_trajectories": n_test,
    }
    if not args.report:
        (root / "summary.json").write_text(json.dumps(dump, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
