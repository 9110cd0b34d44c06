"""GP-S and GP-D: genetic programming of static and dynamic (latent-memory) symbolic policies.

`gp_config(task, budget="quick"|"paper", **overrides)` resolves the settings; a run is
`state = init(config)`, `state = step(state)` (or `evolve(config, out)` with checkpoints), and
`finish(state, out)` validates the Pareto archive and writes the chosen policy; `load_checkpoint(out)`
reads a run's checkpoint, `context(config)` the compiled evaluation of a population (`Context.evaluate`). `run` is the
method the CLI calls (`symctl synth TASK --method gp-s|gp-d`).
"""

from ._checkpoint import load as load_checkpoint
from ._config import BUDGETS, GPConfig, GPConfigError, default_operators, gp_config
from ._context import Context, context
from ._evolve import GPState, init, step
from ._runner import evolve, finish, run, validation_costs

__all__ = [
    "BUDGETS",
    "Context",
    "GPConfig",
    "GPConfigError",
    "GPState",
    "context",
    "default_operators",
    "evolve",
    "finish",
    "gp_config",
    "init",
    "load_checkpoint",
    "run",
    "step",
    "validation_costs",
]
