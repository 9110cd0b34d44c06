"""Held-out cost of policies on a varying-parameter task, split into bins of one plant parameter:
where over the parameter box a policy pays. The trajectories are bench/paper_table1.py's test set
(1,000 by default, the same initial states, targets, parameters and noise for every policy).

    .venv/bin/python bench/cost_by_parameter.py sho/varying omega --policy lqg \
        --policy runs/paper_table1/exp3/GP-D-scratch/seed0 --bins 0 0.25 0.5 1 1.5 2

`--policy lqg` is the task's time-varying LQG at the nominal parameters (`validation.lqg`); any other
value is a run folder, policy.json or network.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("task")
    ap.add_argument("parameter", help="a parameter the task draws per trajectory")
    ap.add_argument("--policy", action="append", required=True, help="lqg, or a run folder / policy file (repeatable)")
    ap.add_argument("--bins", type=float, nargs="+", help="bin edges (default: the parameter's quartiles)")
    ap.add_argument("--test-trajectories", type=int, default=1000)
    args = ap.parse_args()

    import numpy as np
    from _paper_cells import test_set

    import plants
    from synth import load_policy
    from validation.lqg import lqg

    task = plants.get_task(args.task)
    names = [q.name for q in task.plant.parameters]
    if args.parameter not in names:
        print(
            f"cost_by_parameter.py: parameter {args.parameter!r} is not one of {args.task}'s: {', '.join(names)}", file=sys.stderr
        )
        return 2
    sim, scen = test_set(task, args.test_trajectories)
    p = np.asarray(scen.p, float)[:, names.index(args.parameter)]
    if np.ptp(p) == 0:
        print(
            f"cost_by_parameter.py: {args.task} does not vary {args.parameter!r} (it is {p[0]:g} in every trajectory)",
            file=sys.stderr,
        )
        return 2
    edges = np.asarray(args.bins if args.bins else np.quantile(p, [0, 0.25, 0.5, 0.75, 1]), float)
    costs = {}
    for spec in args.policy:
        policy = lqg(task, "lqg") if spec == "lqg" else load_policy(spec)
        costs[spec] = np.asarray(sim.simulate(policy, scen).cost, float)

    print(f"{args.task}: held-out cost by {args.parameter} ({args.test_trajectories} trajectories; mean / median per bin)\n")
    print("| " + " | ".join([args.parameter, "trajectories", *costs]) + " |")
    print("|" + "---|" * (2 + len(costs)))
    for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        last = i == len(edges) - 2
        m = (p >= lo) & ((p <= hi) if last else (p < hi))
        cells = [f"{c[m].mean():.4g} / {np.median(c[m]):.4g}" if m.any() else "-" for c in costs.values()]
        print(f"| [{lo:g}, {hi:g}{']' if last else ')'} | {int(m.sum())} | " + " | ".join(cells) + " |")
    cells = [f"{c.mean():.4g} / {np.median(c):.4g}" for c in costs.values()]
    print(f"| all | {p.size} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
