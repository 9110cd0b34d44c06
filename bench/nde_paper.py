"""NDE (the paper's neural ODE baseline, CMA-ES) on one task at a budget: wall time, and the mean cost
on 1,000 held-out trajectories (stream "test", seed 0) against the optimal LQG on the same
trajectories, scored as bench/gp_quick.py scores GP (float64, `Simulator.simulate`).

    .venv/bin/python bench/nde_paper.py sho/noisy [--budget paper] [--seed 0] [--out DIR] [--resume]

The run is `symctl synth TASK --method nde` (the method alone, in the task's units); with --resume
an interrupted run continues from its checkpoint.
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
    ap.add_argument("--budget", default="paper")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--out", default="/tmp/symctl-nde-bench")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--population", type=int)
    ap.add_argument("--generations", type=int)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="an NDE setting, e.g. --set sigma_init=2.0")
    args = ap.parse_args()

    import numpy as np

    import plants
    from synth import Simulator, stream_key
    from synth.nde import run_nde
    from validation import LQGError, lqg

    task = plants.get_task(args.task)
    settings = {k: json.loads(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    tag = "".join(
        f"-{k}{v}"
        for k, v in {"population": args.population, "generations": args.generations, **settings}.items()
        if v is not None
    )
    out = Path(args.out) / f"{task.name.replace('/', '-')}-nde-{args.budget}-{args.seed}{tag}"
    options = {"population": args.population, "generations": args.generations}
    t0 = time.perf_counter()
    policy = run_nde(
        task, out, seed=args.seed, options=options, resume=args.resume, method="nde", budget=args.budget, settings=settings
    )
    wall = time.perf_counter() - t0
    manifest = json.loads((out / "manifest.json").read_text())
    rows = [line.split(",") for line in (out / "history.csv").read_text().splitlines()[1:]]
    secs = [float(r[-1]) for r in rows]

    sim = Simulator(task)
    scen = sim.scenarios(stream_key(0, "test"), args.test)

    def cost(pol):
        c = np.asarray(sim.simulate(pol, scen).cost, float)
        return float(np.mean(np.where(np.isfinite(c), c, np.nan))), int((~np.isfinite(c)).sum())

    res = {
        "task": task.name,
        "method": "nde",
        "budget": args.budget,
        "seed": args.seed,
        "out": str(out),
        "settings": settings,
        "population": tomllib.loads((out / "config.toml").read_text())["population"],
        "generations": manifest["nde"]["generations"],
        "evaluations": manifest["nde"]["evaluations"],
        "wall_seconds_this_process": round(wall, 1),
        "train_seconds": manifest["nde"]["train_seconds"],
        "median_gen_seconds": float(np.median(secs[1:])) if len(secs) > 1 else None,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "chosen": manifest["nde"]["chosen"],
        "validation_cost": manifest["nde"]["validation_cost"],
        "complexity": policy.complexity(),
    }
    res["nde_cost"], res["nde_non_finite"] = cost(policy)
    try:
        res["lqg_cost"], _ = cost(lqg(task, "lqg"))
        res["lqg_ss_cost"], _ = cost(lqg(task, "lqg-ss"))
        res["ratio_to_lqg"] = res["nde_cost"] / res["lqg_cost"]
    except LQGError as err:
        res["lqg_error"] = str(err)
    print(json.dumps(res, indent=1))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
