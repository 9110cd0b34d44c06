"""Redo the last stage of a finished GP run (validation of the Pareto archive, gradient polish of the
best candidates, choice) with changed settings, and score the chosen policy like `gp_quick.py`: does
a finishing setting help, on the same evolved population?

    .venv/bin/python bench/gp_finish.py RUN_FOLDER [--set polish_trajectories=128] [--out DIR]

The run folder's checkpoint is read, not changed; the new policy.json and pareto.csv go to `--out`.
Test set: 1,000 trajectories of stream "test", seed 0, the same draw as `bench/gp_quick.py`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON")
    ap.add_argument("--out", default="/tmp/symctl-gp-finish")
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--constants", type=float, nargs="*", default=[],
                    help="also score these constant controls (on the trajectories every controller keeps finite)")
    args = ap.parse_args()

    import numpy as np
    import sympy as sp

    import plants
    from synth import Simulator, SymbolicPolicy
    from synth._runfolder import stream_key
    from synth.gp import _checkpoint
    from synth.gp._runner import finish
    from validation import lqg

    state, _ = _checkpoint.load(args.run)
    overrides = {k: json.loads(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    state = dataclasses.replace(state, config=dataclasses.replace(state.config, **overrides))
    task = plants.get_task(state.config.task)
    sim = Simulator(task)
    scen = sim.scenarios(stream_key(0, "test"), args.test)

    per_trajectory = {}

    def cost(pol, name):
        per_trajectory[name] = c = np.asarray(sim.simulate(pol, scen).cost, float)
        return float(np.mean(c))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    policy, rows = finish(state, out)
    res = {"run": args.run, "overrides": overrides, "finish_seconds": round(time.perf_counter() - t0, 1),
           "policy": str(policy), "validation_cost": policy.provenance["validation_cost"],
           "validation_lost": policy.provenance.get("validation_lost"),
           "constants_tuned": policy.provenance["constants_tuned"], "test_cost": cost(policy, "gp")}
    res["lqg_cost"] = cost(lqg(task, "lqg"), "lqg")
    res["ratio_to_lqg"] = res["test_cost"] / res["lqg_cost"]
    for v in args.constants:
        cost(SymbolicPolicy(observations=tuple(o.name for o in task.observations), targets=tuple(task.targets), latent=(),
                            controls=tuple(task.plant.inputs), f=(), g=(sp.Float(v),), dt=task.dt,
                            input_limits=tuple(task.input_limits)), f"constant {v:g}")
    # where some controller loses trajectories (a plain mean is then NaN): the ones all of them keep
    common = np.all([np.isfinite(c) for c in per_trajectory.values()], axis=0)
    res["non_finite"] = {k: int((~np.isfinite(c)).sum()) for k, c in per_trajectory.items()}
    res["common_finite"] = int(common.sum())
    res["common_finite_cost"] = {k: float(c[common].mean()) for k, c in per_trajectory.items()}
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
