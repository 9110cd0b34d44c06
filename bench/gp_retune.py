"""Retune the coefficients of a finished GP policy on more (or fewer) training trajectories and
report its test cost against LQG: does the policy overfit the run's training batch?

    .venv/bin/python bench/gp_retune.py RUN/policy.json --task sho/partial --trajectories 128 --steps 300 --lr 0.02

Test set: 1,000 trajectories of stream "test", seed 0, drawn before any GP program is built; the draw
is not the one `bench/gp_quick.py` scores on (the LQG cost is printed): compare ratios within this
script only.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("policy")
    ap.add_argument("--task", required=True)
    ap.add_argument("--budget", default="paper")
    ap.add_argument("--trajectories", type=int, default=128)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=0.02)
    args = ap.parse_args()

    import plants
    from synth import Simulator, SymbolicPolicy
    from synth._runfolder import stream_key
    from synth.gp._config import gp_config
    from synth.gp._evolve import context
    from synth.gp._polish import tune_constants
    from validation import lqg

    task = plants.get_task(args.task)
    policy = SymbolicPolicy.load(args.policy)
    sim = Simulator(task)
    scen = sim.scenarios(stream_key(0, "test"), 1000)

    def cost(p):
        return float(np.mean(np.asarray(sim.simulate(p, scen).cost, float)))

    ref = cost(lqg(task, "lqg"))
    print(f"LQG {ref:.4f}; before: {cost(policy) / ref:.4f} x LQG", flush=True)
    ctx = context(gp_config(task, args.budget, method="gp-d" if policy.latent else "gp-s", train_trajectories=args.trajectories))
    t0 = time.perf_counter()
    tuned, train = tune_constants(ctx, policy, args.steps, args.lr)
    print(f"after {args.steps} steps (lr {args.lr}) on {args.trajectories} trajectories: {cost(tuned) / ref:.4f} x LQG, "
          f"training cost {train:.4f}, {time.perf_counter() - t0:.1f} s")
    print(tuned)


if __name__ == "__main__":
    main()
