"""ESPL: densely connected symbolic networks with a probabilistic path selector, trained by
gradient through the closed-loop simulator (ESPL-S static, ESPL-D with a latent ODE).

`espl_config(task, preset, **overrides)` gives the settings (presets "quick", "default", "paper";
`RUN_BUDGETS` says which one a run budget of the CLI runs); `synthesise(task, config, seed)`
returns the exported `SymbolicPolicy` and a record of the run; `run_espl` is the CLI runner.
"""

from ._config import RUN_BUDGETS, ESPLConfig, espl_config
from ._extract import extract, finetune, prune_guards, simplify_policy
from ._network import DEFAULT_LAYOUT, PAPER_LAYOUT, Network, forward, init_params, sample_masks, to_sympy
from ._run import run_espl, synthesise
from ._train import Trainer

__all__ = [
    "DEFAULT_LAYOUT",
    "ESPLConfig",
    "RUN_BUDGETS",
    "Network",
    "PAPER_LAYOUT",
    "Trainer",
    "espl_config",
    "extract",
    "finetune",
    "forward",
    "init_params",
    "prune_guards",
    "run_espl",
    "sample_masks",
    "simplify_policy",
    "synthesise",
    "to_sympy",
]
