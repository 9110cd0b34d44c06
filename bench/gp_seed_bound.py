"""How good can a tuned linear two-state controller get? Fit the task's steady-state LQG to GP-D
trees (`synth.gp._seeds.fitted_seed`, as `--seed-policy lqg` does), tune its coefficients with
Adam through the simulator far beyond a run's budget, and score it on 1,000 held-out trajectories.

    .venv/bin/python bench/gp_seed_bound.py sho/partial --trajectories 256 --steps 3000 --lr 0.05
    .venv/bin/python bench/gp_seed_bound.py sho/partial --batch 32 --steps 2000 --lr 0.05

Test set: 1,000 trajectories of stream "test", seed 0, simulated in float64 on the exported
expressions (the draw of `bench/gp_quick.py`); ratios are to LQG (`validation.lqg`, time-varying).
Training: fresh trajectories of the run's training stream (seed 0), never the test ones.
"""

from __future__ import annotations

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("task")
    ap.add_argument("--trajectories", type=int, default=256)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--batch", type=int, default=0, help="draw this many new training trajectories at every step instead (polish_batch)")
    ap.add_argument("--save", help="write the tuned policy.json here")
    args = ap.parse_args()

    import numpy as np

    import plants
    from synth import Simulator
    from synth._runfolder import stream_key
    from synth.gp._config import gp_config
    from synth.gp._evolve import context
    from synth.gp._polish import tune_constants
    from synth.gp._runner import policy_of
    from synth.gp._seeds import fitted_seed
    from validation import lqg

    task = plants.get_task(args.task)
    sim = Simulator(task)
    scen = sim.scenarios(stream_key(0, "test"), 1000)

    def cost(p):
        return float(np.mean(np.asarray(sim.simulate(p, scen).cost, float)))

    ref = cost(lqg(task, "lqg"))
    ss = lqg(task, "lqg-ss")
    ctx = context(gp_config(task, "paper", method="gp-d", train_trajectories=args.trajectories))
    fitted = policy_of(ctx, *fitted_seed(ctx, ss, "lqg-ss"))
    print(f"LQG {ref:.5f}; lqg-ss {cost(ss) / ref:.4f} x LQG; fitted to GP-D trees {cost(fitted) / ref:.4f} x LQG", flush=True)
    t0 = time.perf_counter()
    fresh = (stream_key(0, "polish-batches"), args.batch) if args.batch else None
    tuned, train = tune_constants(ctx, fitted, args.steps, args.lr, fresh=fresh)
    data = f"{args.batch} new trajectories per step" if args.batch else f"{args.trajectories} training trajectories"
    print(f"tuned {args.steps} steps (lr {args.lr}) on {data}: {cost(tuned) / ref:.4f} x LQG "
          f"(training cost {train:.5f}, {time.perf_counter() - t0:.0f} s)")
    print(tuned)
    if args.save:
        tuned.save(args.save)


if __name__ == "__main__":
    main()
