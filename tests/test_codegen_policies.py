"""Hand-written policies for the codegen tests (no learning method needed; this module holds no tests)."""

from __future__ import annotations

import numpy as np
import sympy as sp

from plants import symbol
from synth import SymbolicPolicy


def _syms(names: str):
    return [symbol(n) for n in names.split()]


def dynamic(integrator: str) -> SymbolicPolicy:
    """A 2-latent dynamic policy using sin, exp, tanh, sqrt, log and abs, with one target."""
    y0, y1, r, z0, z1, u = _syms("y_x y_v r z0 z1 u")
    f = (
        -1.3 * z0 + sp.sin(y0 - r) + 0.25 * sp.tanh(z1) * u,
        -0.7 * z1 + sp.exp(-sp.Abs(y1)) - 0.3 * sp.sqrt(1 + z0**2) + 0.05 * sp.log(1 + y0**2),
    )
    g = (2.0 * sp.tanh(z0 - 0.5 * z1) + 0.1 * r - sp.pi / 10,)
    return SymbolicPolicy(
        observations=("y_x", "y_v"),
        targets=("r",),
        latent=("z0", "z1"),
        controls=("u",),
        f=f,
        g=g,
        dt=0.02,
        integrator=integrator,
        input_limits=((-1.5, 1.5),),
        latent_init=(0.1, -0.2),
        provenance={"task": "test/hand", "method": f"hand-{integrator}"},
    )


def static_no_target() -> SymbolicPolicy:
    """A static policy without targets (NZ = 0, NR = 0)."""
    y0, y1 = _syms("y_x y_v")
    g = (-1.2 * y0 - 0.8 * y1 + 0.1 * sp.sin(y0) * sp.exp(-(y1**2)), sp.Max(y0, -0.5))
    return SymbolicPolicy(
        observations=("y_x", "y_v"),
        targets=(),
        latent=(),
        controls=("u0", "u1"),
        g=g,
        f=(),
        dt=0.05,
        input_limits=((-2.0, 2.0), (-1.0, float("inf"))),
        provenance={"task": "test/static"},
    )


def dynamic_no_target() -> SymbolicPolicy:
    """A dynamic policy without targets (NR = 0), explicit Euler."""
    y0, z0, u = _syms("y_x z0 u")
    return SymbolicPolicy(
        observations=("y_x",),
        targets=(),
        latent=("z0",),
        controls=("u",),
        f=(-2.0 * z0 + y0 - 0.1 * u,),
        g=(-3.0 * z0,),
        dt=0.01,
        integrator="euler",
    )


def observations(policy: SymbolicPolicy, ticks: int = 1500, segments: int = 1, seed: int = 0):
    """Smooth observations with noise (deterministic), and targets per segment."""
    rng = np.random.default_rng(seed)
    t = np.arange(ticks) * policy.dt
    ys = np.empty((segments, ticks, policy.ny))
    for s in range(segments):
        for j in range(policy.ny):
            ys[s, :, j] = (1.5 / (j + 1)) * np.sin((0.7 + 0.3 * j) * t + s) * np.exp(-0.05 * t) + 0.05 * rng.standard_normal(
                ticks
            )
    r = rng.uniform(-1, 1, size=(segments, policy.nr))
    return ys, r
