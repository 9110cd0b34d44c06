"""The controller contract of the simulator: three pure functions of a parameter pytree.

Kept apart from the simulator (`_simulate`) so that what builds controllers (`_compile` for a
`SymbolicPolicy`, GP and ESPL for their own) and what runs them both read it from below.
Nothing here imports JAX.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True, eq=False)
class Controller:
    """A discrete controller as three pure functions of a parameter pytree (arrays are JAX arrays).

    `init(params) -> z0`; `act(params, z, y, r) -> u` (before saturation); `advance(params, z, y, u, r)
    -> z_next`. `nz` is the latent size (0 for static controllers). Compiled simulations are cached per
    `Controller` object, so build it once and vary only `params`.
    """

    nz: int
    init: Callable[[Any], Any]
    act: Callable[[Any, Any, Any, Any], Any]
    advance: Callable[[Any, Any, Any, Any, Any], Any]
    name: str = "controller"


__all__ = ["Controller"]
