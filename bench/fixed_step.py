"""Do the paper table's figures hold for the plants' ODEs? The fixed step against CVODES.

Every cost in bench/paper_RESULTS.md comes from the simulator's fixed step (the task's `substeps`
Euler-Heun steps per tick). For each finished cell of `bench/paper_table1.py` named here, this
replays held-out trajectories of its policy with CVODES between ticks on the same noise
(`validation.build_closed_loop(integrator="cvodes")`, tolerance 1e-9) and prints:

* the certificate's integration check (`validation._integration.integration_check`): the policy's
  4 costliest held-out trajectories, the largest relative difference over those compared;
* the mean cost over the first N held-out trajectories (a sample the fixed step did not choose)
  with each integrator, their relative difference and its paired standard error.

    .venv/bin/python bench/fixed_step.py exp1/GP-S exp4/GP-D-symctl --n 60
    .venv/bin/python bench/fixed_step.py exp4/GP-S --substeps 8   # the task at another step
    .venv/bin/python bench/fixed_step.py runs/my-run --task my_task.toml   # any policy
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "cells",
        nargs="+",
        help="cells of runs/paper_table1 as EXPERIMENT/LABEL, e.g. exp4/GP-S (seed 0), or run folders / policy files",
    )
    ap.add_argument("--task", help="the task of a run folder or policy file (default: its provenance's)")
    ap.add_argument("--n", type=int, default=60, help="held-out trajectories in the mean comparison")
    ap.add_argument("--root", type=Path, default=ROOT / "runs" / "paper_table1")
    ap.add_argument("--substeps", type=int, help="the task with this many substeps instead (its own noise draws)")
    args = ap.parse_args()

    import jax

    jax.config.update("jax_enable_x64", True)
    import _paper_cells
    import numpy as np

    import plants
    from synth import load_policy
    from validation import build_closed_loop, noise_from_simulator
    from validation._integration import integration_check

    print(
        "| cell | task | substeps | check: replays compared, largest difference | fixed-step mean | CVODES mean | difference (paired s.e.) |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in args.cells:
        folder = args.root / name / "seed0"
        if (folder / "cell.json").exists():
            cell = json.loads((folder / "cell.json").read_text())
        else:  # a run folder or policy file of one's own: scored on the table's 1,000 held-out trajectories
            folder = Path(name)
            cell = {"task": args.task or load_policy(folder).provenance["task"], "test_trajectories": 1000}
        task = plants.get_task(cell["task"])
        if args.substeps:
            task = task.replace(substeps=args.substeps)
        sim, scen = _paper_cells.test_set(task, cell["test_trajectories"])
        policy = load_policy(folder)
        costs = (not args.substeps and cell.get("test_costs")) or np.asarray(sim.simulate(policy, scen).cost, float)
        ic = integration_check(task, policy, costs, scen, 4)
        fixed = build_closed_loop(task, policy)
        cvodes = build_closed_loop(task, policy, integrator="cvodes", tol=1e-9)
        a, b = [], []
        for i in range(args.n):
            s = scen.take(i)
            x0, r, p = (np.asarray(v, float) for v in (s.x0, s.r, s.p))
            noise = noise_from_simulator(sim.noise_sequence(s))
            a.append(fixed.run(x0, r, p, noise=noise)["cost"])
            b.append(cvodes.run(x0, r, p, noise=noise)["cost"])
        a, b = np.asarray(a), np.asarray(b)
        if np.isfinite(a).all() and np.isfinite(b).all():
            rel = (a.mean() - b.mean()) / b.mean()
            se = (a - b).std(ddof=1) / math.sqrt(args.n) / b.mean()
            diff = f"{rel:+.3f} ({se:.3f})"
        else:
            diff = f"non-finite: fixed {int((~np.isfinite(a)).sum())}, CVODES {int((~np.isfinite(b)).sum())}"
        check = (
            f"{ic.get('compared', 0)}, {ic['max_relative_difference']:.3g}"
            if ic.get("compared")
            else f"{ic.get('compared', 0)}, -"
        )
        print(
            f"| {name} | {cell['task']} | {task.substeps} | {check} | {a.mean():.4g} | {b.mean():.4g} | {diff} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
