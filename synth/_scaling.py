"""A policy learnt in normalised units, rewritten for the original task (`plants.normalise`)."""

from __future__ import annotations

import dataclasses
import math

import sympy as sp

from plants import Scaling

from ._controller import AbstractNetworkPolicy
from ._policy import PolicyError, SymbolicPolicy


def denormalise(policy: SymbolicPolicy, scaling: Scaling) -> SymbolicPolicy:
    """`policy`, designed on `plants.normalise(task)`, as the same controller for `task` itself.

    The scaling is folded into the expressions by substitution, so the result computes exactly what
    the normalised policy computed, up to float round-off:
    `f(z, y, u, r) = f'(z, (y - y0)/sy, (u - u0)/su, (r - r0)/sr)`, `g = u0 + su * g'(...)`, the input
    limits `u0 + su * limit'`. The latent states, their initial values and the integrator are
    unchanged (the latent space is the policy's own). Provenance gains `"scaling"`
    (`Scaling.to_dict()`); an identity scaling returns `policy` as it is. A network policy
    (`AbstractNetworkPolicy`) folds the scaling into its own input and output maps.
    """
    if isinstance(policy, AbstractNetworkPolicy):
        return policy.denormalise(scaling)
    for kind, have, want in (
        ("observations", policy.observations, scaling.observations),
        ("targets", policy.targets, scaling.targets),
        ("inputs", policy.controls, scaling.inputs),
    ):
        if tuple(have) != tuple(want):
            raise PolicyError(
                f"the scaling's {kind} {list(want)} are not the policy's {list(have)}; "
                f"denormalise with the scaling returned by plants.normalise for the task the policy was designed on"
            )
    if scaling.is_identity:
        return policy
    inner = (
        scaling.normalised_in_original("observations")
        | scaling.normalised_in_original("targets")
        | scaling.normalised_in_original("inputs")
    )
    f = tuple(e.xreplace(inner) for e in policy.f)
    g = []
    for e, u0, su in zip(policy.g, scaling.u0, scaling.su):
        e = e.xreplace(inner)
        if su != 1.0:
            e = sp.Float(su) * e
        if u0 != 0.0:
            e = sp.Float(u0) + e
        g.append(e)
    limits = tuple(
        (_clean(u0, su * lo), _clean(u0, su * hi)) for (lo, hi), u0, su in zip(policy.input_limits, scaling.u0, scaling.su)
    )
    return dataclasses.replace(
        policy,
        f=f,
        g=tuple(g),
        input_limits=limits,
        provenance={**policy.provenance, "scaling": scaling.to_dict()},
    )


def _clean(a: float, b: float) -> float:
    """`a + b` rounded to 15 significant digits of the larger term: a limit that went to normalised
    units and back is the decimal number it was written as again (a pump's 0 V came back as
    4.4e-16 from 3.4 + 10 * -0.34 before; inf stays inf)."""
    v = a + b
    if not math.isfinite(v):
        return v
    size = max(abs(a), abs(b))
    if abs(v) <= 1e-14 * size:
        return 0.0
    return float(f"{v:.15g}")


__all__ = ["denormalise"]
