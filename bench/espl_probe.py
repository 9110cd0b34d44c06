"""ESPL probe: train one configuration (no extraction) and print the validation cost as it goes.

    nice -n 10 .venv/bin/python bench/espl_probe.py pendulum/swingup --seed 0 --set iterations=300 lr=0.01

With --extract the whole pipeline runs (train, extract, tune) and the exported policy is scored; with
--probe as well, on 1,000 trajectories of stream "probe" of the seed instead of its test stream (so
settings can be compared without looking at the held-out figure), and --out keeps the run folder
(checkpoint for bench/espl_retune.py, policy.json for bench/espl_cross.py). --expected adds the
expected cost, estimated on 8 x 1,024 stratified trajectories of stream "expected"
(bench/espl_expected.py).
"""

from __future__ import annotations

import json
import sys
import time

import jax
from espl_common import parser, settings

jax.config.update("jax_enable_x64", True)


def main() -> int:
    import plants
    from synth import Simulator
    from synth.espl import Trainer, espl_config
    from synth.espl._run import train

    ap = parser()
    ap.add_argument("--extract", action="store_true")
    ap.add_argument("--probe", action="store_true",
                    help="with --extract: score on 1,000 trajectories of stream 'probe' and leave the test figure out")
    ap.add_argument("--expected", action="store_true",
                    help="with --extract: also the expected cost on 8 x 1,024 stratified trajectories (bench/espl_expected.py)")
    ap.add_argument("--out", default=None, help="with --extract: run folder for the checkpoint (for bench/espl_retune.py)")
    args = ap.parse_args()
    over = settings(args.set)
    task = plants.get_task(args.task)
    cfg = espl_config(task, method=args.method, **over)
    t0 = time.perf_counter()
    trainer = None if args.extract else Trainer(task, cfg, args.seed)

    def progress(row):
        print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)

    if args.extract:  # the whole pipeline: train, extract, tune, score on the seed's test stream
        from pathlib import Path

        from synth.espl._run import synthesise

        out = Path(args.out) if args.out else None
        if out is not None:
            from synth._runfolder import write_config

            out.mkdir(parents=True, exist_ok=True)
            write_config(out, {"task": task.name, "task_file": task.source, "method": args.method, "seed": args.seed,
                               "espl": cfg.as_dict()})
        policy, rec = synthesise(task, cfg, args.seed, out=out, progress=progress)
        if args.probe:
            import numpy as np

            from synth._runfolder import stream_key

            for k in ("test_cost", "test_return", "test_non_finite"):
                rec.pop(k, None)
            sim = Simulator(task)
            scen = sim.scenarios(stream_key(args.seed, "probe"), 1000)
            rec["probe_cost"] = float(np.mean(np.asarray(sim.simulate(policy, scen).cost, float)))
            if out is not None:
                policy.save(out / "policy.json")
        if args.expected:
            from espl_expected import expected_cost

            rec["expected_cost"], rec["expected_se"] = expected_cost(Simulator(task), policy)
        print("SYNTH", json.dumps(rec, default=str), f"{time.perf_counter() - t0:.1f}s", flush=True)
        print(policy.g)
        return 0
    params, rec = train(trainer, None, False, progress)
    print("TRAIN", json.dumps(rec), f"{time.perf_counter() - t0:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
