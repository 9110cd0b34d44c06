"""Benchmark: 1,000-point sweep of cstr/varying in closed loop (500 ticks), LQG controller.

Targets: < 3 s on 2 cores with the CasADi VM; < 2 s including compilation with generated C.
Run: flock /tmp/symctl-bench.lock .venv/bin/python bench/validation_sweep.py [--substeps S] [--variant lqg|lqg-ss]

Each backend is timed from the built closed loop to the costs (building the sweep Function, for C
generating and compiling it into an empty cache folder, and evaluating); "c (cached)" repeats the C
run with the library already in that folder. The closed-loop build is timed separately.
"""

import argparse
import os
import subprocess
import tempfile
import time

import jax
import numpy as np

import plants
import validation
from synth import Simulator, stream_key
from validation.robustness import (
    NOMINAL_KNOBS,
    Base,
    aggregate_noise,
    build_closed_loop,
    noise_from_simulator,
    parameter_box,
    sweep,
)

jax.config.update("jax_enable_x64", True)


def machine() -> str:
    model = [
        ln.split(":", 1)[1].strip()
        for ln in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
        if ln.startswith("Model name")
    ]
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return f"nproc {os.cpu_count()}, {model[0] if model else '?'}; uptime: {load}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=1000)
    ap.add_argument("--ticks", type=int, default=500)
    ap.add_argument("--substeps", type=int, default=None, help="plant substeps per tick (default: the task's 20)")
    ap.add_argument("--variant", default="lqg-ss")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--backends", default="vm,c")
    ap.add_argument("--repeats", type=int, default=3, help="runs per backend (each C run compiles into a fresh folder)")
    a = ap.parse_args()
    print("machine:", machine())
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
    print(
        f"cstr/varying, {a.variant}, {a.points} LHS points over {len(dims)} parameters, {a.ticks} ticks x {sub} substeps, "
        f"{a.cores} threads; tick: {cl.tick.n_instructions()} SX instructions; closed-loop build {build:.3f} s"
    )
    costs = {}
    for backend in a.backends.split(","):
        runs = []
        for _ in range(a.repeats):
            with tempfile.TemporaryDirectory() as cache:
                t0 = time.perf_counter()
                r = sweep(cl, dims, base, a.points, "lhs", seed=0, cores=a.cores, backend=backend, cache=cache)
                total = time.perf_counter() - t0
                runs.append((total, r))
                if backend == "c":
                    t0 = time.perf_counter()
                    rc = sweep(cl, dims, base, a.points, "lhs", seed=0, cores=a.cores, backend=backend, cache=cache)
                    runs[-1] += (time.perf_counter() - t0, rc["timing"]["cache_hit"])
        totals = sorted(x[0] for x in runs)
        total, r = runs[[x[0] for x in runs].index(totals[len(totals) // 2])][:2]
        c = np.array(r["cost"])
        costs[backend] = c
        t = r["timing"]
        extra = (
            f", generate {t['generate_s']:.3f} s, gcc {t['compile_s']:.3f} s ({' '.join(t['flags'])}, {t['c_bytes']} bytes of C)"
            if backend == "c"
            else ""
        )
        print(
            f"  {backend}: total median {total:.3f} s (runs: {', '.join(f'{x:.3f}' for x in totals)}); "
            f"{t['batches']} batches of {t['width']} points, {t['trajectories_per_s']:.0f} traj/s{extra}; "
            f"finite {np.isfinite(c).mean():.3f}, success {np.mean(r['success']):.3f}, max cost {np.nanmax(c):.6g}"
        )
        if backend == "c":
            cached = sorted(x[2] for x in runs)
            print(
                f"  c (cached library, hit {all(x[3] for x in runs)}): total median {cached[len(cached) // 2]:.3f} s "
                f"(runs: {', '.join(f'{x:.3f}' for x in cached)})"
            )
    if len(costs) == 2:
        v, cc = costs["vm"], costs["c"]
        fin = np.isfinite(v)
        print(
            f"  vm and c agree: same finite set {bool(np.array_equal(fin, np.isfinite(cc)))}, "
            f"max relative difference {np.max(np.abs(cc[fin] - v[fin]) / np.maximum(np.abs(v[fin]), 1e-300)):.2e}"
        )
    print("machine after:", machine())


if __name__ == "__main__":
    main()
