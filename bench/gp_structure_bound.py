"""What do richer dynamic policies reach on sho/partial, and what does the cost grid let through?

Three hand-written controller structures for `sho/partial` (only the position measured), each
tuned by Adam through the differentiable simulator (`synth.gp._polish.tune_constants`, as GP's
final polish) on training trajectories, then scored on the benchmark's 1,000 test trajectories
(stream "test", seed 0, float64: the draw of `bench/gp_quick.py`), as a ratio to the time-varying
LQG (`validation.lqg`):

* `linear`: a two-state observer with a fixed gain, `da1/dt = a2 + l1*e`, `da2/dt = -a1 + u + l2*e`
  with the innovation `e = y_x - a1` (every coefficient tuned), and a linear readout;
* `scheduled`: the same two states, but each gain grows with the innovation and saturates,
  `l + m*e^2/(c + e^2)`: large corrections while the estimate is far off (the start), small ones
  once it has converged; time-invariant, two latent states;
* `clock`: a third latent state `da3/dt = k` (a clock) and gains `l + m/(a3 + c)` that decay
  with it, like the time-varying Kalman gain.

Each is also scored with the cost evaluated at every control tick instead of the task's grid
(every 10th tick): a policy that moves a lot between grid points is penalised only there.

    .venv/bin/python bench/gp_structure_bound.py --structures linear scheduled clock --steps 3000
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import jax

jax.config.update("jax_enable_x64", True)


def structures():
    import sympy as sp

    from plants import symbol

    a1, a2, a3, u, r, y = (symbol(n) for n in ("a1", "a2", "a3", "u", "r", "y_x"))
    F = sp.Float
    e = y - a1
    readout = F(1.4) * r - F(0.4) * a1 - F(0.9) * a2  # the LQR gain and feedforward, rounded
    gains = {
        "linear": (F(1.05), F(0.52)),
        "scheduled": (F(1.05) + F(1.0) * e**2 / (F(1.0) + e**2), F(0.52) + F(0.5) * e**2 / (F(1.0) + e**2)),
        "clock": (F(1.05) + F(1.0) / (a3 + F(0.5)), F(0.52) + F(0.5) / (a3 + F(0.5))),
    }
    out = {}
    for name, (l1, l2) in gains.items():
        f = [a2 + l1 * e, F(-1.0) * a1 + u + l2 * e]
        latent = ("a1", "a2")
        if name == "clock":
            f.append(sp.Integer(1))
            latent += ("a3",)
        out[name] = (latent, [fi.subs(u, readout) for fi in f], [readout])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--structures", nargs="+", default=["linear", "scheduled", "clock"])
    ap.add_argument("--trajectories", type=int, default=256)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--save", help="write each tuned policy to SAVE-<structure>.json")
    args = ap.parse_args()

    import numpy as np

    import plants
    from synth import Simulator, SymbolicPolicy
    from synth._runfolder import stream_key
    from synth.gp._config import gp_config
    from synth.gp._evolve import context
    from synth.gp._polish import tune_constants
    from validation import lqg

    task = plants.get_task("sho/partial")
    every_tick = dataclasses.replace(task, cost=dataclasses.replace(task.cost, every=1))
    scorers = []
    for t in (task, every_tick):
        sim = Simulator(t)
        scen = sim.scenarios(stream_key(0, "test"), 1000)

        def cost(p, sim=sim, scen=scen):
            c = np.asarray(sim.simulate(p, scen).cost, float)
            return float(c.mean()), int((~np.isfinite(c)).sum())

        scorers.append((cost, cost(lqg(t, "lqg"))[0]))
    ctx = context(gp_config(task, "paper", method="gp-d", train_trajectories=args.trajectories))
    print(f"LQG: {scorers[0][1]:.5f} (task's grid), {scorers[1][1]:.5f} (every tick); "
          f"tuning: {args.steps} Adam steps, lr {args.lr}, {args.trajectories} training trajectories", flush=True)
    shapes = structures()
    for name in args.structures:
        latent, f, g = shapes[name]
        start = SymbolicPolicy(observations=("y_x",), targets=("r",), latent=latent, controls=("u",), f=tuple(f), g=tuple(g),
                               dt=task.dt, integrator="euler")
        t0 = time.perf_counter()
        tuned, train = tune_constants(ctx, start, args.steps, args.lr)
        cells = []
        for cost, ref in scorers:
            mean, bad = cost(tuned)
            cells.append(f"{mean / ref:.4f} x LQG" + (f" ({bad} non-finite)" if bad else ""))
        print(f"{name}: {len(latent)} latent states; test {cells[0]} on the task's grid, {cells[1]} every tick; "
              f"training cost {train:.5f}; {time.perf_counter() - t0:.0f} s", flush=True)
        print(f"  {tuned}", flush=True)
        if args.save:
            tuned.save(f"{args.save}-{name}.json")


if __name__ == "__main__":
    main()
