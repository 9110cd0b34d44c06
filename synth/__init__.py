"""Synthesis: the policy format, the closed-loop simulator, and the learning methods.

`SymbolicPolicy` and `denormalise` (a policy learnt on `plants.normalise(task)`, for `task`) are
importable without JAX; the simulator names (`Simulator`, `Controller`,
`Scenarios`, `Rollout`, `compile_policy`) import JAX on first use.
"""

from ._policy import INTEGRATORS, SCHEMA_VERSION, PolicyError, PolicyReference, SymbolicPolicy
from ._scaling import denormalise

_LAZY = {
    "Simulator": "._simulate",
    "Controller": "._controller",
    "Scenarios": "._simulate",
    "Rollout": "._simulate",
    "compile_policy": "._compile",
    "check_compatible": "._compile",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'synth' has no attribute {name!r}")


__all__ = ["INTEGRATORS", "SCHEMA_VERSION", "PolicyError", "PolicyReference", "SymbolicPolicy", "denormalise", *_LAZY]
