"""ESPL restart candidates, each scored on a probe stream: what `restarts` would choose among.

    nice -n 10 .venv/bin/python bench/espl_candidates.py sho/partial --method espl-d --seed 2 --restarts 2 --lqg

Trains `--restarts` independent candidates with the task's default settings (`--set key=value`
overrides), exactly as `synthesise` does with `restarts` = N (candidate 0 is the plain run), and
prints for each one its validation cost (what `restarts` chooses on), its size, its environment steps
and its mean cost on 1,000 trajectories of stream "probe" of the seed (never the test stream); with
--lqg also LQG's cost on the same trajectories and the ratio; with --expected the expected cost
(bench/espl_expected.py). So one run shows the plain run's figure, the other candidates' figures,
and whether the validation choice picks the better one.
"""

from __future__ import annotations

import json
import sys
import time

import jax
from espl_common import parser, settings

jax.config.update("jax_enable_x64", True)


def main() -> int:
    import numpy as np

    import plants
    from synth import Simulator
    from synth._runfolder import stream_key
    from synth.espl import Trainer, espl_config
    from synth.espl._run import _candidate

    ap = parser()
    ap.add_argument("--restarts", type=int, default=2)
    ap.add_argument("--first", type=int, default=0, help="first candidate to train (to split a probe into parts)")
    ap.add_argument("--lqg", action="store_true")
    ap.add_argument("--expected", action="store_true")
    ap.add_argument("--save", default=None, help="folder for each candidate's policy-R.json")
    args = ap.parse_args()
    over = settings(args.set)
    task = plants.get_task(args.task)
    cfg = espl_config(task, method=args.method, **over)
    sim = Simulator(task)
    scen = sim.scenarios(stream_key(args.seed, "probe"), 1000)
    lqg = None
    if args.lqg:
        from validation import lqg as lqg_policy

        lqg = float(np.mean(np.asarray(sim.simulate(lqg_policy(task, "lqg"), scen).cost, float)))
        print("LQG", json.dumps({"seed": args.seed, "probe_lqg_cost": lqg}), flush=True)
    for r in range(args.first, args.restarts):
        t0 = time.perf_counter()
        trainer = Trainer(task, cfg, args.seed, restart=r)
        policy, rec = _candidate(trainer, None, False, None)
        steps = rec["train_env_steps"] + rec["finetune_env_steps"] + rec["validation_env_steps"]
        row = {"seed": args.seed, "restart": r, "validation_cost": rec["validation_cost"],
               "network_validation_cost": rec["network_validation_cost"], "env_steps_without_pilot": steps,
               "pilot_env_steps": trainer.pilot_env_steps, "complexity": policy.complexity(),
               "probe_cost": float(np.mean(np.asarray(sim.simulate(policy, scen).cost, float)))}
        if lqg is not None:
            row["probe_ratio"] = row["probe_cost"] / lqg
        if args.expected:
            from espl_expected import expected_cost

            row["expected_cost"], row["expected_se"] = expected_cost(sim, policy)
        if args.save:
            from pathlib import Path

            Path(args.save).mkdir(parents=True, exist_ok=True)
            policy.save(Path(args.save) / f"policy-{r}.json")
        row["seconds"] = round(time.perf_counter() - t0, 1)
        print("CANDIDATE", json.dumps(row, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
