"""The robustness analysis the certificate runs, step by step, for users who sweep or search a
parameter box themselves (and for the benchmarks in bench/).

A closed loop (`build_closed_loop`: the task's plant in CasADi, a policy, the noise of a
simulator's scenarios via `noise_from_simulator` and `aggregate_noise`) is evaluated at points of a
box of dimensions (`parameter_box`): `sweep` on a space-filling design, `vertices` of the box,
`evaluate` at given points, `worst_case` by multi-start local search, and `confirm` re-simulates a
point with the JAX simulator. `Base` holds the nominal values the box is centred on;
`NOMINAL_KNOBS` are the nominal noise and gain multipliers.
"""

from ._closedloop import NOMINAL_KNOBS, ClosedLoop, aggregate_noise, build_closed_loop, noise_from_simulator
from ._sweep import Base, Dim, evaluate, parameter_box, sample, sweep, vertices
from ._worstcase import confirm, worst_case

__all__ = [
    "NOMINAL_KNOBS",
    "Base",
    "ClosedLoop",
    "Dim",
    "aggregate_noise",
    "build_closed_loop",
    "confirm",
    "evaluate",
    "noise_from_simulator",
    "parameter_box",
    "sample",
    "sweep",
    "vertices",
    "worst_case",
]
