"""Synthesis: the policy format, the closed-loop simulator, and the learning methods.

`SymbolicPolicy` and `denormalise` (a policy learnt on `plants.normalise(task)`, for `task`) are
importable without JAX; the simulator names (`Simulator`, `Controller`,
`Scenarios`, `Rollout`, `compile_policy`) import JAX on first use; `stream_key(seed, stream)` is
the random key of a named stream of draws ("train", "test", ...), the same in every method.
`load_policy(path)` reads a policy file or run folder of either kind: a `SymbolicPolicy`, or a
network policy (`AbstractNetworkPolicy`: the NDE's, `synth.nde`).
"""

from plants._lazy import lazy_attributes

from ._policy import INTEGRATORS, SCHEMA_VERSION, PolicyError, PolicyReference, SymbolicPolicy
from ._scaling import denormalise

_LAZY = {
    "Simulator": "._simulate",
    "Controller": "._controller",
    "Scenarios": "._simulate",
    "Rollout": "._simulate",
    "compile_policy": "._compile",
    "check_compatible": "._compile",
    "stream_key": "._runfolder",
    "AbstractNetworkPolicy": "._controller",
    "load_policy": "._load",
    "is_network_policy": "._load",
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)


__all__ = ["INTEGRATORS", "SCHEMA_VERSION", "PolicyError", "PolicyReference", "SymbolicPolicy", "denormalise", *_LAZY]
