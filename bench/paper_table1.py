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
import json
import sys
from pathlib import Path

from _paper_cells import cell, cell_folder, keep_partial, kept_path, noisy_task_file
from _paper_markdown import figure_markdown, oracle_markdown, ordering_markdown, summary, table_markdown
from _paper_setup import (
    EXPERIMENTS,
    FIGURE_BUDGET,
    FIGURE_METHODS,
    FIGURE_NOISE,
    METHODS,
    QUICK_BUDGET,
    QUICK_TEST_TRAJECTORIES,
    ROOT,
)


# Driver ---------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
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
