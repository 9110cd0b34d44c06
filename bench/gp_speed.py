"""Seconds per GP generation, compilation time and peak memory, measured on an evolved population.

Continues a finished (or interrupted) GP run from its checkpoint for a few generations in a copy of
its folder, so the figures are those of a population as it is mid-run (evolved, not random) and do
not include generation 0 (which also tunes the seed policies):

    flock /tmp/symctl-bench.lock .venv/bin/python bench/gp_speed.py RUN_FOLDER [--generations 6]

Prints JSON: the compilation of the population program plus its first evaluation of the whole
population, the same evaluation again (compiled), the seconds of each continued generation
(breeding, simplification, evaluation, and every `const_every`/`tune_every` generations the
constant search and gradient tuning), their median over the generations without in-loop tuning,
the process's peak RSS and the device count (set `XLA_FLAGS=--xla_force_host_platform_device_count=2`
to split the population over two host devices).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path, help="a GP run folder with checkpoint/")
    ap.add_argument("--generations", type=int, default=6, help="generations to continue (default 6)")
    args = ap.parse_args()

    import dataclasses

    import jax
    import numpy as np

    from synth.gp import context, evolve, load_checkpoint

    state, _ = load_checkpoint(args.run)
    start = state.generation
    config = dataclasses.replace(state.config, generations=start + args.generations)
    ctx = context(config)
    a = state.arrays
    T, L = a["code"].shape[-2:]
    code, const = a["code"].reshape(-1, T, L), a["const"].reshape(-1, T, L)
    t0 = time.perf_counter()
    ctx.evaluate(code, const, ctx.train)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    ctx.evaluate(code, const, ctx.train)
    again = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(args.run / "checkpoint", Path(tmp) / "checkpoint")
        done = evolve(config, Path(tmp), resume=True)
    rows = done.history[-args.generations :]
    tuned = {
        r["generation"]
        for r in rows
        if r["generation"] % config.const_every == 0 or (config.tune_every and r["generation"] % config.tune_every == 0)
    }
    plain = [r["seconds"] for r in rows if r["generation"] not in tuned]
    print(
        json.dumps(
            {
                "run": str(args.run),
                "task": config.task,
                "population": config.population,
                "max_nodes": config.max_nodes,
                "devices": len(jax.devices()),
                "from_generation": start,
                "compile_and_first_evaluation_s": round(first, 2),
                "evaluation_s": round(again, 2),
                "generation_seconds": {r["generation"]: r["seconds"] for r in rows},
                "median_generation_s_without_tuning": float(np.median(plain)) if plain else None,
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
