"""ESPL constant tuning applied to an expression given by hand: can the tuner use a term if the
structure has it?

    nice -n 10 .venv/bin/python bench/espl_tune_form.py pendulum/swingup "-2.3*tanh(3.06*sin_th + ...)" --seed 0 [--set finetune_lr=0.05]

The expression is a static policy over the task's observations (and targets). It is tuned exactly
as an extracted ESPL policy is (`synth.espl._extract.finetune`, the task's default ESPL settings
with the `--set` overrides, tuning stream of the seed), and the expected cost before and after is
reported (8 x 1,024 stratified trajectories of stream "expected", bench/espl_expected.py; never a
test stream).
"""

from __future__ import annotations

import dataclasses
import json
import sys

import jax
from espl_common import parser, settings

jax.config.update("jax_enable_x64", True)


def main() -> int:
    import sympy as sp
    from espl_expected import expected_cost

    import plants
    from synth import SymbolicPolicy
    from synth.espl import Trainer, espl_config
    from synth.espl._extract import finetune, validation_cost

    ap = parser(method=False)
    ap.add_argument("expr", help="the readout u = g(y, r), in the task's observation and target names")
    args = ap.parse_args()
    task = plants.get_task(args.task)
    if task.plant.nu != 1:
        raise SystemExit(f"{args.task}: one control input expected")
    shell = SymbolicPolicy(observations=tuple(o.name for o in task.observations), targets=tuple(task.targets),
                           latent=(), controls=tuple(task.plant.inputs), f=(), g=(sp.S.Zero,), dt=task.dt,
                           input_limits=task.input_limits)
    expr = sp.sympify(args.expr, locals={str(s): s for s in shell.y + shell.r})
    policy = dataclasses.replace(shell, g=(expr,))
    cfg = espl_config(task, method="espl-s", **settings(args.set))
    trainer = Trainer(task, cfg, args.seed)
    before = validation_cost(trainer, policy)
    tuned, after, steps = finetune(trainer, policy, before)
    out = {"validation_before": before, "validation_after": after, "tuning_env_steps": steps,
           "expected_before": expected_cost(trainer.sim, policy)[0], "expected_after": expected_cost(trainer.sim, tuned)[0],
           "tuned": str(tuned.g[0])}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
