"""ESPL probe: train one configuration (no extraction) and print the validation cost as it goes.

    nice -n 10 .venv/bin/python bench/espl_probe.py pendulum/swingup --seed 0 --set iterations=300 lr=0.01
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)


def main() -> int:
    import plants
    from synth.espl import Trainer, espl_config
    from synth.espl._run import train

    ap = argparse.ArgumentParser()
    ap.add_argument("task")
    ap.add_argument("--method", default="espl-s")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", nargs="*", default=[])
    ap.add_argument("--extract", action="store_true")
    args = ap.parse_args()
    over = {}
    for kv in args.set:
        k, v = kv.split("=", 1)
        try:
            over[k] = ast.literal_eval(v)
        except (ValueError, SyntaxError):
            over[k] = v
    task = plants.get_task(args.task)
    cfg = espl_config(task, method=args.method, **over)
    t0 = time.perf_counter()
    trainer = None if args.extract else Trainer(task, cfg, args.seed)

    def progress(row):
        print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)

    if args.extract:  # the whole pipeline: train, extract, tune, score on the seed's test stream
        from synth.espl._run import synthesise

        policy, rec = synthesise(task, cfg, args.seed, progress=progress)
        print("SYNTH", json.dumps(rec, default=str), f"{time.perf_counter() - t0:.1f}s", flush=True)
        print(policy.g)
        return 0
    params, rec = train(trainer, None, False, progress)
    print("TRAIN", json.dumps(rec), f"{time.perf_counter() - t0:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
