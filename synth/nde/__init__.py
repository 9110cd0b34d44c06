"""NDE: the paper's black-box baseline, a neural latent ODE `dz/dt = f(z, y, u, r)` read out by
`u = g(z, r)` (small MLPs), its parameters optimised by CMA-ES through the closed-loop simulator.

`nde_config(task, budget, **overrides)` gives the settings (budgets: GP's, in evaluations);
`run_nde` is the CLI runner (`symctl synth TASK --method nde`); the result is a `NetworkPolicy`
(`network.json` + `network.npz`), which the simulator and validation run like any policy and
code generation refuses.
"""

from ._config import BUDGETS, NDEConfig, NDEConfigError, nde_config
from ._network import Architecture, ArchitectureError
from ._policy import NetworkPolicy, NetworkPolicyError, controller_for, is_network_folder
from ._run import evolve, finish, run_nde
from ._train import Evolution, Trainer

__all__ = [
    "Architecture", "ArchitectureError", "BUDGETS", "Evolution", "NDEConfig", "NDEConfigError", "NetworkPolicy", "NetworkPolicyError",
    "Trainer", "controller_for", "evolve", "finish", "is_network_folder", "nde_config", "run_nde",
]
