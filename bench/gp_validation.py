"""Seconds to cost a few candidates on the held-out validation trajectories: through the population
program (every call padded to the population's rows) and through the small program `Context.batch_rows`
chooses once the population program's run time outweighs a compile (`synth/gp/_context.py`).

    flock /tmp/symctl-bench.lock .venv/bin/python bench/gp_validation.py [--task cstr/varying] [--population 200] [--candidates 8]

A fresh context of the task's paper budget with the given population; its population program is
compiled and run twice on the training batch (as generations 0 and 1 do), then `validation_costs`
costs K random individuals on the validation trajectories (256: 8 batches of 32) each way. Prints
JSON: the population program's compile and run seconds, both validations' seconds (the small one
including its compile), the rows `batch_rows` would choose after the two training calls, and
whether the two validations' costs agree bit for bit.
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="cstr/varying")
    ap.add_argument("--population", type=int, default=200)
    ap.add_argument("--candidates", type=int, default=8)
    args = ap.parse_args()

    import jax
    import numpy as np

    import plants
    from synth.gp import gp_config
    from synth.gp._context import context
    from synth.gp._runner import validation_costs

    cfg = gp_config(plants.get_task(args.task), "paper", method="gp-d", seed_policy="none", population=args.population)
    ctx = context(cfg)
    pop_code, pop_const = ctx.random_population(np.random.default_rng(0), ctx.padded_rows)
    for _ in range(2):
        ctx.evaluate(pop_code, pop_const, ctx.train)
    first, run = ctx._calls[ctx.padded_rows]
    code, const = pop_code[: args.candidates], pop_const[: args.candidates]

    calls = -(-cfg.validation_trajectories // cfg.train_trajectories)
    chosen = ctx.batch_rows(args.candidates, calls)  # what a run's validation would use here
    small = ctx.small_rows(args.candidates)
    ctx.batch_rows = lambda K, calls=1: ctx.padded_rows  # the population program only
    t0 = time.perf_counter()
    before = validation_costs(ctx, code, const, per_trajectory=True)
    t_before = time.perf_counter() - t0
    ctx.batch_rows = lambda K, calls=1: small  # the small program, compiled in the first call
    t0 = time.perf_counter()
    after = validation_costs(ctx, code, const, per_trajectory=True)
    t_after = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "task": args.task,
                "population": args.population,
                "candidates": args.candidates,
                "validation_trajectories": cfg.validation_trajectories,
                "train_trajectories": cfg.train_trajectories,
                "population_program_compile_s": round(first - run, 2),
                "population_program_run_s": round(run, 2),
                "small_program_rows": small,
                "rows_batch_rows_chooses": chosen,
                "validation_population_program_s": round(t_before, 2),
                "validation_small_program_s_with_compile": round(t_after, 2),
                "same_costs": bool(np.array_equal(before, after, equal_nan=True)),
                "devices": len(jax.devices()),
            }
        )
    )


if __name__ == "__main__":
    main()
