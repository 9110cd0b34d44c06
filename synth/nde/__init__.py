"""NDE: the paper's black-box baseline, a neural latent ODE `dz/dt = f(z, y, u, r)` read out by
`u = g(z, r)` (small MLPs), its parameters optimised by CMA-ES through the closed-loop simulator.

`nde_config(task, budget, **overrides)` gives the settings (budgets: GP's, in evaluations);
`run_nde` is the CLI runner (`symctl synth TASK --method nde`); the result is a `NetworkPolicy`
(`network.json` + `network.npz`), which the simulator and validation run like any policy and
code generation refuses. The settings and the policy load without JAX; the training names
(`run_nde`, `Trainer`, `Evolution`, `evolve`, `finish`) import it on first use.
"""

from plants._lazy import lazy_attributes

from ._config import BUDGETS, NDEConfig, NDEConfigError, nde_config
from ._network import Architecture, ArchitectureError
from ._policy import NetworkPolicy, NetworkPolicyError, controller_for

_LAZY = {
    "run_nde": "._run",
    "evolve": "._run",
    "finish": "._run",
    "Trainer": "._train",
    "Evolution": "._train",
}

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)

__all__ = [
    "Architecture",
    "ArchitectureError",
    "BUDGETS",
    "NDEConfig",
    "NDEConfigError",
    "NetworkPolicy",
    "NetworkPolicyError",
    "controller_for",
    "nde_config",
    *_LAZY,
]
