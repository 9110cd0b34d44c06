"""Benchmark: worst-case search with 8 IPOPT starts on cstr/varying (LQG), against the random sweep and vertices.

Target: < 10 s; the worst case found is at least max(random sweep, vertices).
Run: flock /tmp/symctl-bench.lock .venv/bin/python bench/validation_worstcase.py [--ticks T] [--substeps S]
"""

import argparse
import os
import subprocess
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
    confirm,
    evaluate,
    noise_from_simulator,
    parameter_box,
    sweep,
    vertices,
    worst_case,
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
    print("machine:", machine())
    ap = argparse.ArgumentParser()
    ap.add_argument("--ticks", type=int, default=500)
    ap.add_argument("--substeps", type=int, default=None)
    ap.add_argument("--starts", type=int, default=8)
    ap.add_argument("--sweep", type=int, default=1000)
    ap.add_argument("--variant", default="lqg-ss")
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
    cl = build_closed_loop(short, pol, substeps=sub)
    dims = parameter_box(task)
    sw = sweep(cl, dims, base, a.sweep, "random", seed=0, backend="c")
    sweep_max = float(np.nanmax(np.where(np.isnan(sw["cost"]), -np.inf, sw["cost"])))
    vc, _, tv, _ = evaluate(cl, dims, base, vertices(dims), 2)
    print(f"random sweep ({a.sweep} points, C): max {sweep_max:.6g}; all {len(vc)} vertices ({tv:.2f} s): max {np.max(vc):.6g}")
    t0 = time.perf_counter()
    wc = worst_case(
        cl,
        dims,
        base,
        a.starts,
        seed=0,
        seed_points=np.array(sw["points"]),
        use_vertices=False,
        seed_costs=np.array(sw["cost"], float),
    )
    t_wc = time.perf_counter() - t0
    w = wc["worst"]
    print(
        f"worst case, {a.starts} IPOPT starts (no vertex enumeration, jit {wc['jit']}, solver build incl. gcc "
        f"{wc['solver_build_seconds']:.2f} s): {t_wc:.2f} s; cost {w['cost']:.6g} found by {w['found_by']}; "
        f"converged {wc['converged_starts']}/{len(wc['starts'])}"
    )
    for r in wc["starts"]:
        print(f"   start {r['start']:>16}: {r['status']}, {r['iterations']} it, {r['seconds']:.2f} s, cost {r['cost']:.6g}")
    print(f"   >= sweep max: {w['cost'] >= sweep_max}; >= vertex max: {w['cost'] >= np.max(vc)}")
    print("   point:", dict(zip([d.name for d in dims], np.round(w["point"], 4))))
    c = confirm(short, pol, cl, dims, base, w["point"])
    print(
        f"CVODES confirmation: {c['cost_cvodes']:.6g} vs fixed step {c['cost_fixed_step']:.6g} (rel {c['relative_difference']:.3g}), "
        f"confirmed {c['confirmed']}, {c['seconds']:.2f} s"
    )
    print("machine after:", machine())


if __name__ == "__main__":
    main()
