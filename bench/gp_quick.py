"""GP with the quick (or paper) budget on one task: time, cost on 1,000 held-out test trajectories
against LQG, steady-state LQG and a zero-control baseline.

    .venv/bin/python bench/gp_quick.py sho/partial gp-d [--budget quick] [--seed 0] [--generations N]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import tomllib
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("task")
    ap.add_argument("method", choices=["gp-s", "gp-d"])
    ap.add_argument("--budget", default="quick")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--generations", type=int)
    ap.add_argument("--population", type=int)
    ap.add_argument("--islands", type=int)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument(
        "--constant-grid",
        type=int,
        default=0,
        metavar="N",
        help="also score N constant controls spread over the input range (one-input tasks) and report the best "
        "(chosen on the test set itself, so the baseline is as strong as it can be)",
    )
    ap.add_argument("--out", default="/tmp/symctl-gp-bench")
    ap.add_argument(
        "--seed-policy",
        default=None,
        help="GP-D's seed policy as `symctl synth --seed-policy` takes it: "
        "a policy.json, lqg or none (default: the steady-state LQG when the task has one that fits)",
    )
    ap.add_argument(
        "--set", action="append", default=[], metavar="KEY=JSON", help="override a GP setting, e.g. --set const_opt=true"
    )
    args = ap.parse_args()

    import numpy as np
    import sympy as sp

    import plants
    from symctl._methods import run_gp as run
    from synth import Simulator, SymbolicPolicy, stream_key
    from validation import LQGError, lqg

    task = plants.get_task(args.task)
    out = Path(args.out) / f"{task.name.replace('/', '-')}-{args.method}-{args.budget}-{args.seed}"
    options = {
        "generations": args.generations,
        "population": args.population,
        "islands": args.islands,
        "seed_policy": args.seed_policy,
    }
    overrides = {}
    for kv in args.set:
        k, v = kv.split("=", 1)
        overrides[k] = json.loads(v)
    t0 = time.perf_counter()
    policy = run(
        task,
        out,
        seed=args.seed,
        options=options,
        resume=False,
        progress=None,
        method=args.method,
        budget=args.budget,
        **overrides,
    )
    wall = time.perf_counter() - t0
    synth_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before any test scoring
    hist = [line.split(",") for line in (out / "history.csv").read_text().splitlines()[1:]]
    secs = [float(h[4]) for h in hist]

    sim = Simulator(task)
    scen = sim.scenarios(stream_key(0, "test"), args.test)

    per_trajectory = {}  # name -> costs of the test trajectories, for the comparison on the common finite set

    def cost(pol, name=None):
        c = np.asarray(sim.simulate(pol, scen).cost, float)
        if name:
            per_trajectory[name] = c
        return float(np.mean(np.where(np.isfinite(c), c, np.nan))), int((~np.isfinite(c)).sum())

    def constant(values):
        return SymbolicPolicy(
            observations=tuple(o.name for o in task.observations),
            targets=tuple(task.targets),
            latent=(),
            controls=tuple(task.plant.inputs),
            f=(),
            g=tuple(sp.Float(v) for v in values),
            dt=task.dt,
            input_limits=tuple(task.input_limits),
        )

    zero = constant([0.0] * len(task.plant.inputs))
    res = {
        "task": task.name,
        "method": args.method,
        "budget": args.budget,
        "seed": args.seed,
        "generations": len(hist) - 1,
        "wall_seconds": round(wall, 1),
        "gen0_seconds_incl_compile": secs[0],
        "median_gen_seconds": float(np.median(secs[1:])) if len(secs) > 1 else None,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_rss_mb_synthesis": synth_peak_mb,
        "policy": str(policy),
        "complexity": policy.complexity(),
        "seed_policy": tomllib.loads((out / "config.toml").read_text()).get("seed_policy", ""),
    }
    res["gp_cost"], res["gp_non_finite"] = cost(policy, "gp")
    res["zero_cost"], res["zero_non_finite"] = cost(zero, "zero")
    if args.constant_grid and len(task.plant.inputs) == 1:
        lo, hi = task.input_limits[0]
        grid = []
        for v in np.linspace(lo, hi, args.constant_grid):
            c, bad = cost(constant([float(v)]), f"constant {float(v):g}")
            grid.append((c if bad == 0 else float("inf"), float(v), bad))
        best = min(grid)
        res["best_constant"] = {"control": best[1], "cost": best[0], "grid": [[v, c, bad] for c, v, bad in grid]}
    try:
        res["lqg_cost"], _ = cost(lqg(task, "lqg"), "lqg")
        res["lqg_ss_cost"], _ = cost(lqg(task, "lqg-ss"), "lqg_ss")
        res["ratio_to_lqg"] = res["gp_cost"] / res["lqg_cost"]
        if task.cost.every > 1:
            # The task's cost looks at every `every`-th tick only; a policy that acts hard between
            # those ticks would look better than it is. The same ratio with every tick counted:
            every_tick = task.on_every_tick()
            sim1 = Simulator(every_tick)
            c1 = [float(np.mean(np.asarray(sim1.simulate(p, scen).cost, float))) for p in (policy, lqg(every_tick, "lqg"))]
            res["ratio_to_lqg_every_tick"] = c1[0] / c1[1]
    except LQGError as err:  # no LQG where the task has no design at its operating point (e.g. acrobot)
        res["lqg_error"] = str(err)
    # Where some controller loses trajectories (a plain mean is then NaN), compare on the trajectories
    # that every controller keeps finite.
    common = np.all([np.isfinite(v) for v in per_trajectory.values()], axis=0)
    res["common_finite"] = int(common.sum())
    res["common_finite_cost"] = {k: float(v[common].mean()) for k, v in per_trajectory.items()}
    consts = {k: c for k, c in res["common_finite_cost"].items() if k.startswith("constant ")}
    if consts:
        res["common_finite_best_constant"] = min(consts.items(), key=lambda kv: kv[1])
    print(json.dumps(res, indent=1))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
