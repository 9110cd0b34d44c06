"""The controller contract of the simulator: three pure functions of a parameter pytree.

Kept apart from the simulator (`_simulate`) so that what builds controllers (`_compile` for a
`SymbolicPolicy`, GP and ESPL for their own) and what runs them both read it from below.
`AbstractNetworkPolicy` is the contract of a policy that is not symbolic (the NDE's network):
it brings its own `Controller` and CasADi tick. Nothing here imports JAX.
"""

from __future__ import annotations

import abc
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


def latent_step(dz: Callable[[Any], Any], z: Any, h: Any, integrator: str) -> Any:
    """`z_{k+1}` from `z_k` by the policy's integrator over one tick of length `h`, the other inputs
    of the latent map held (`dz(z)` is the rate, or for "discrete" the next state itself): the
    discrete map, explicit Euler, or the classical RK4 step. The same arithmetic for numpy, JAX
    and CasADi values, so every implementation of a policy advances it alike."""
    if integrator == "discrete":
        return dz(z)
    if integrator == "euler":
        return z + h * dz(z)
    k1 = dz(z)
    k2 = dz(z + h / 2 * k1)
    k3 = dz(z + h / 2 * k2)
    k4 = dz(z + h * k3)
    return z + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


class PolicySizes:
    """The sizes and kind of a policy, from the names it holds (`observations`, `targets`,
    `controls`, `latent`): shared by `SymbolicPolicy` and the network policies."""

    @property
    def ny(self) -> int:
        return len(self.observations)

    @property
    def nr(self) -> int:
        return len(self.targets)

    @property
    def nu(self) -> int:
        return len(self.controls)

    @property
    def nz(self) -> int:
        return len(self.latent)

    @property
    def kind(self) -> str:
        return "dynamic" if self.latent else "static"


class AbstractNetworkPolicy(PolicySizes, abc.ABC):
    """A policy given by numbers, not expressions (a neural network), under the same sampled-data
    contract as a `SymbolicPolicy` (docs/design.md).

    The simulator runs it through `controller()` (`synth.compile_policy` dispatches here) and
    validation's CasADi closed loop through `casadi_step()`, so its Monte Carlo, sweeps, worst case
    and margins are those of any policy; code generation does not take it (no expressions to print).
    Final subclasses are frozen dataclasses holding these fields: `observations`, `targets`,
    `controls`, `latent` (names), `dt`, `integrator`, `input_limits`, `latent_init` and
    `provenance`, as a `SymbolicPolicy` names them.
    """

    observations: tuple[str, ...]
    targets: tuple[str, ...]
    controls: tuple[str, ...]
    latent: tuple[str, ...]
    dt: float
    integrator: str
    input_limits: tuple[tuple[float, float], ...]
    latent_init: tuple[float, ...]
    provenance: dict[str, Any]

    @abc.abstractmethod
    def controller(self) -> tuple[Controller, Any]:
        """The simulator's `Controller` (one object per architecture, so one compiled simulation)
        and this policy's parameters for it."""

    @abc.abstractmethod
    def casadi_step(self) -> Any:
        """The tick `step(z, y, r) -> (u, z_next)` as a CasADi Function, `u` clipped to the input limits."""

    @abc.abstractmethod
    def digest(self) -> str:
        """SHA-256 of the controller itself (architecture, numbers, names, period, limits)."""

    @abc.abstractmethod
    def complexity(self) -> dict[str, int]:
        """Counts that say how large the controller is (parameters, layers, ...)."""

    @abc.abstractmethod
    def with_provenance(self, **items: Any) -> AbstractNetworkPolicy:
        """The same policy with `items` added to its provenance."""

    @abc.abstractmethod
    def denormalise(self, scaling: Any) -> AbstractNetworkPolicy:
        """This policy, designed on `plants.normalise(task)`, as the same controller for `task`
        (`synth.denormalise` calls it with the `plants.Scaling`)."""

    @abc.abstractmethod
    def save(self, folder: Any, stem: str = "network") -> Any:
        """Write the policy's files into the run folder `folder`, named `<stem>.*`; return the path
        of its main file."""

    @abc.abstractmethod
    def summary(self) -> dict[str, Any]:
        """The policy in a JSON summary (`symctl synth --json`): kind, names, architecture, digest."""


__all__ = ["AbstractNetworkPolicy", "Controller"]
