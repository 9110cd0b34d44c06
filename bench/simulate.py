"""Closed-loop simulation throughput: sho/noisy, LQG policy, 32 trajectories x T = 30 s at dt = 0.02.

Reports the compile time (first call) and trajectories per second after compilation, in float32
(the dtype training uses) and float64 (the dtype validation uses).

    .venv/bin/python bench/simulate.py [--repeats 5] [--batch 32]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--task", default="sho/noisy")
    args = ap.parse_args()

    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    import plants
    from synth import Simulator, compile_policy, stream_key
    from validation import lqg

    task = plants.get_task(args.task)
    results = {
        "task": task.name,
        "batch": args.batch,
        "ticks": task.n_ticks,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "processor": platform.processor(),
            "jax": jax.__version__,
            "devices": [str(d) for d in jax.devices()],
        },
    }
    for dtype in (jnp.float32, jnp.float64):
        for variant in ("lqg", "lqg-ss"):
            sim = Simulator(task)
            policy = lqg(task, variant)
            controller, params = compile_policy(policy, task)
            params = jax.tree_util.tree_map(lambda a, dt=dtype: a.astype(dt), params)
            scen = sim.scenarios(stream_key(0, "bench"), args.batch, dtype=dtype)
            t0 = time.perf_counter()
            sim.run(controller, params, scen).cost.block_until_ready()
            compile_s = time.perf_counter() - t0
            times = []
            for i in range(args.repeats):
                scen = sim.scenarios(stream_key(i + 1, "bench"), args.batch, dtype=dtype)
                jax.block_until_ready(scen)
                t0 = time.perf_counter()
                sim.run(controller, params, scen).cost.block_until_ready()
                times.append(time.perf_counter() - t0)
            best = min(times)
            key = f"{variant}-{jnp.dtype(dtype).name}"
            results[key] = {
                "compile_and_first_run_s": round(compile_s, 3),
                "run_s_best": round(best, 4),
                "run_s_median": round(sorted(times)[len(times) // 2], 4),
                "trajectories_per_s": round(args.batch / best, 1),
                "ticks_per_s": round(args.batch * task.n_ticks / best),
            }
            print(key, json.dumps(results[key]))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
