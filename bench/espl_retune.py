"""ESPL probe of the constant tuning alone: re-extract the best network of a finished run folder and
tune it with other settings, then score the tuned policy on 1,000 trajectories of a probe stream.

    nice -n 10 .venv/bin/python bench/espl_retune.py RUN_FOLDER --set finetune_decay=0.99 finetune_lr=0.01 [--expected]

The training settings must be the run's own (they rebuild the same network); the tuning settings
(`finetune_*`, `TUNING_ONLY`) may differ. The score is on stream "probe" of the run's seed (never the test stream),
so tuning variants can be compared without looking at the held-out figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib
from pathlib import Path

import jax
from espl_common import settings

jax.config.update("jax_enable_x64", True)


# Settings besides finetune_* that act only after training (the tuning batches and the validation set
# the tuning is scored on; the trained network is the checkpoint's either way).
TUNING_ONLY = {"stratified_finetune", "stratified_validation", "eval_batch", "eval_every"}


def probe_cost(trainer, policy, seed: int, stream: str = "probe", n: int = 1000) -> float:
    import numpy as np

    from synth._runfolder import stream_key

    scen = trainer.sim.scenarios(stream_key(seed, stream), n)
    return float(np.mean(np.asarray(trainer.sim.simulate(policy, scen).cost, float)))


def main() -> int:
    import plants
    from synth.espl import Trainer
    from synth.espl._config import ESPLConfig
    from synth.espl._extract import extract, finetune, prune_guards, simplify_policy, validation_cost
    from synth.espl._run import load_checkpoint

    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--set", nargs="*", default=[])
    ap.add_argument("--save", default=None, help="write the tuned policy to this JSON file")
    ap.add_argument("--expected", action="store_true",
                    help="also the expected cost on 8 x 1,024 stratified trajectories (bench/espl_expected.py)")
    args = ap.parse_args()
    run = Path(args.run)
    cfg_file = tomllib.loads((run / "config.toml").read_text())
    over = settings(args.set)
    for k in over:
        if not (k.startswith("finetune_") or k in TUNING_ONLY):
            raise SystemExit(f"--set {k}: only finetune_* and {', '.join(sorted(TUNING_ONLY))} may differ from the run's")
    cfg = ESPLConfig.from_dict({**cfg_file["espl"], **over})
    seed = cfg_file["seed"]
    task = plants.get_task(cfg_file["task"])
    t0 = time.perf_counter()
    trainer = Trainer(task, cfg, seed)
    state = trainer.init()
    _, best, meta = load_checkpoint(run / "checkpoint", state, state["params"])
    policy = simplify_policy(extract(trainer, best))
    cost = validation_cost(trainer, policy)
    policy, cost = prune_guards(trainer, policy, cost)
    before = probe_cost(trainer, policy, seed)
    policy, vcost, steps = finetune(trainer, policy, cost)
    policy = simplify_policy(policy)
    out = {"run": str(run), "set": over, "extracted_validation": cost, "extracted_probe": before,
           "tuned_validation": vcost, "tuned_probe": probe_cost(trainer, policy, seed), "finetune_env_steps": steps,
           "complexity": policy.complexity(), "seconds": round(time.perf_counter() - t0, 1)}
    if args.expected:
        from espl_expected import expected_cost

        out["expected_cost"], out["expected_se"] = expected_cost(trainer.sim, policy)
    print(json.dumps(out), flush=True)
    if args.save:
        policy.save(args.save)
    print(policy.g)
    return 0


if __name__ == "__main__":
    sys.exit(main())
