"""Benchmark: 1,000-point sweep of cstr/varying in closed loop (500 ticks), LQG controller.

Targets: < 3 s on 2 cores with the CasADi VM; < 2 s including compilation with generated C.
Run: flock /tmp/symctl-bench.lock .venv/bin/python bench/validation_sweep.py [--substeps S] [--variant lqg|lqg-ss]
"""

import argparse
import time

import jax
import numpy as np

import plants
import validation
from synth import Simulator
from synth._runfolder import stream_key
from validation._closedloop import NOMINAL_KNOBS, aggregate_noise, build_closed_loop, noise_from_simulator
from validation._sweep import Base, parameter_box, sweep

jax.config.update("jax_enable_x64", True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=1000)
    ap.add_argument("--ticks", type=int, default=500)
    ap.add_argument("--substeps", type=int, default=None, help="plant substeps per tick (default: the task's 20)")
    ap.add_argument("--variant", default="lqg-ss")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--backends", default="vm,c")
    a = ap.parse_args()
    task = plants.get_task("cstr/varying")
    pol = validation.lqg(task, a.variant)
    short = task.replace(horizon=a.ticks * task.dt)
    sim = Simulator(short)
    s = sim.scenarios(stream_key(0, "test"), 1).take(0)
    NY, NW = noise_from_simulator(sim.noise_sequence(s))
    sub = a.substeps or task.substeps
    NW = aggregate_noise(NW, task.plant.nx, task.substeps, sub)
    base = Base(np.asarray(s.x0), np.asarray(s.r), task.nominal_parameters, NOMINAL_KNOBS.copy(), NY, NW)
    t0 = time.perf_counter()
    cl = build_closed_loop(short, pol, substeps=sub)
    build = time.perf_counter() - t0
    dims = parameter_box(task)
    print(f"cstr/varying, {a.variant}, {a.points} LHS points over {len(dims)} parameters, {a.ticks} ticks x {sub} substeps, "
          f"{a.cores} threads; tick: {cl.tick.n_instructions()} SX instructions; build {build:.3f} s")
    for backend in a.backends.split(","):
        t0 = time.perf_counter()
        r = sweep(cl, dims, base, a.points, "lhs", seed=0, cores=a.cores, backend=backend)
        total = time.perf_counter() - t0
        c = np.array(r["cost"])
        t = r["timing"]
        extra = f", generate {t['generate_s']:.3f} s, gcc {t['compile_s']:.3f} s ({t['flags']})" if backend == "c" else ""
        print(f"  {backend}: total {total:.3f} s (evaluation {t['seconds']:.3f} s, {t['trajectories_per_s']:.0f} traj/s{extra}); "
              f"finite {np.isfinite(c).mean():.3f}, success {np.mean(r['success']):.3f}, max cost {np.nanmax(c):.4g}")


if __name__ == "__main__":
    main()
