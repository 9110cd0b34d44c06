"""`Plant` and `Task`: the one symbolic source every backend is derived from."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np
import sympy as sp


class UserInputError(ValueError):
    """Base of every error caused by what a user gave symctl (a file, a name, an option).

    The message is one line that names the input, the value and what would be valid; the CLI prints
    it and exits with status 2. Each package subclasses it for its own errors.
    """


class ModelError(UserInputError):
    """A plant or task definition is inconsistent. The message names the item and the fix."""


def symbol(name: str) -> sp.Symbol:
    """The sympy symbol symctl uses for a state, input, parameter, observation or target."""
    return sp.Symbol(name, real=True)


@dataclasses.dataclass(frozen=True)
class Parameter:
    """A physical parameter: nominal value, optional range `(low, high)` and unit."""

    name: str
    nominal: float
    range: tuple[float, float] | None = None
    unit: str = ""
    description: str = ""

    def __post_init__(self):
        if not math.isfinite(self.nominal):
            raise ModelError(f"parameter {self.name!r}: nominal value {self.nominal} is not finite")
        if self.range is not None:
            lo, hi = self.range
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise ModelError(f"parameter {self.name!r}: range {list(self.range)} is not finite")
            if lo > hi:
                raise ModelError(f"parameter {self.name!r}: range low {lo} > high {hi}; write [low, high]")


@dataclasses.dataclass(frozen=True)
class Plant:
    """A controlled system, defined once with sympy expressions.

    `dynamics[i]` is `dx_i/dt = F_i(x, u, p)` for a continuous-time plant, or the next value
    `x_i+ = F_i(x, u, p)` for a discrete-time plant (a step map, advanced once per control tick).
    `diffusion[i]` scales the process noise on state `i` (a diagonal Wiener diffusion for
    continuous time, an additive Gaussian per tick for discrete time); the task sets the level.
    """

    name: str
    states: tuple[str, ...]
    inputs: tuple[str, ...]
    parameters: tuple[Parameter, ...]
    dynamics: tuple[sp.Expr, ...]
    diffusion: tuple[sp.Expr, ...]
    time: str = "continuous"
    units: Mapping[str, str] = dataclasses.field(default_factory=dict)
    description: str = ""

    def __post_init__(self):
        if self.time not in ("continuous", "discrete"):
            raise ModelError(f"plant {self.name!r}: time {self.time!r} must be 'continuous' or 'discrete'")
        names = list(self.states) + list(self.inputs) + [p.name for p in self.parameters]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ModelError(f"plant {self.name!r}: names used twice: {', '.join(sorted(dup))}")
        for what, exprs in (("dynamics", self.dynamics), ("diffusion", self.diffusion)):
            if len(exprs) != len(self.states):
                raise ModelError(
                    f"plant {self.name!r}: {len(exprs)} {what} expressions for {len(self.states)} states "
                    f"({', '.join(self.states)}); give one per state"
                )
        allowed = set(self.x) | set(self.u) | set(self.p)
        for i, e in enumerate(self.dynamics):
            extra = e.free_symbols - allowed
            if extra:
                raise ModelError(
                    f"plant {self.name!r}: dynamics of {self.states[i]!r} use unknown symbols "
                    f"{', '.join(sorted(s.name for s in extra))}"
                )

    @property
    def x(self) -> tuple[sp.Symbol, ...]:
        return tuple(symbol(n) for n in self.states)

    @property
    def u(self) -> tuple[sp.Symbol, ...]:
        return tuple(symbol(n) for n in self.inputs)

    @property
    def p(self) -> tuple[sp.Symbol, ...]:
        return tuple(symbol(q.name) for q in self.parameters)

    @property
    def nominal(self) -> np.ndarray:
        return np.array([q.nominal for q in self.parameters], dtype=float)

    @property
    def nx(self) -> int:
        return len(self.states)

    @property
    def nu(self) -> int:
        return len(self.inputs)

    @property
    def np_(self) -> int:
        return len(self.parameters)

    def parameter(self, name: str) -> Parameter:
        for q in self.parameters:
            if q.name == name:
                return q
        raise KeyError(f"plant {self.name!r} has no parameter {name!r}")


@dataclasses.dataclass(frozen=True)
class Distribution:
    """A scalar distribution: `fixed` (a), `uniform` (low a, high b) or `normal` (mean a, std b)."""

    kind: str
    a: float
    b: float = 0.0

    def __post_init__(self):
        if self.kind not in ("fixed", "uniform", "normal"):
            raise ModelError(f"distribution kind {self.kind!r}: valid kinds are fixed, uniform, normal")
        if not (math.isfinite(self.a) and math.isfinite(self.b)):
            raise ModelError(f"{self.kind} distribution ({self.a}, {self.b}) is not finite")
        if self.kind == "uniform" and self.a > self.b:
            raise ModelError(f"uniform distribution low {self.a} > high {self.b}; write [low, high]")
        if self.kind == "normal" and self.b < 0:
            raise ModelError(f"normal distribution standard deviation {self.b} < 0")

    @property
    def mean(self) -> float:
        return (self.a + self.b) / 2 if self.kind == "uniform" else self.a

    @property
    def variance(self) -> float:
        if self.kind == "uniform":
            return (self.b - self.a) ** 2 / 12
        if self.kind == "normal":
            return self.b**2
        return 0.0

    @property
    def support(self) -> tuple[float, float]:
        if self.kind == "uniform":
            return (self.a, self.b)
        if self.kind == "normal":
            return (self.a - 3 * self.b, self.a + 3 * self.b)
        return (self.a, self.a)

    def as_dict(self) -> dict:
        if self.kind == "fixed":
            return {"fixed": self.a}
        return {self.kind: [self.a, self.b]}


@dataclasses.dataclass(frozen=True)
class Observation:
    """One measured output `y = h(x, p) + noise * n`, `n ~ N(0, 1)` drawn afresh every tick."""

    name: str
    expr: sp.Expr
    noise: float = 0.0


@dataclasses.dataclass(frozen=True)
class Cost:
    """The task's cost (lower is better), evaluated on a grid of every `every` control ticks.

    At each grid point `j` (time `j * every * dt`) the stage cost `stage(x, u, r, p)` is added while
    the trajectory is alive; `terminate_when(x, r, p)`, checked at every grid point and at the final
    state, ends it and adds `terminal`. The total is divided by the number of grid points when
    `aggregate` is `mean`. A reward task (`reward=True`) reports its return as `-cost`.
    `quadratic`, when the cost was written as a quadratic form, keeps `(Q, R, x_ref, u_ref)` for
    documentation; LQG reads the Hessian of `stage` so either way of writing the cost works.
    """

    stage: sp.Expr
    every: int = 1
    aggregate: str = "mean"
    terminate_when: sp.Basic | None = None
    terminal: float = 0.0
    reward: bool = False
    quadratic: tuple | None = None

    def __post_init__(self):
        if self.aggregate not in ("mean", "sum"):
            raise ModelError(f"cost aggregate {self.aggregate!r} must be 'mean' or 'sum'")
        if self.every < 1:
            raise ModelError(f"cost grid every {self.every} ticks must be at least 1")


@dataclasses.dataclass(frozen=True)
class Success:
    """When a trajectory counts as a success: `condition` holds at the `final` state, or `ever`."""

    condition: sp.Basic
    when: str = "final"

    def __post_init__(self):
        if self.when not in ("final", "ever"):
            raise ModelError(f"success when {self.when!r} must be 'final' or 'ever'")


@dataclasses.dataclass(frozen=True)
class Task:
    """What a controller is synthesised for: a plant, what is measured, what is wanted, for how long."""

    name: str
    plant: Plant
    observations: tuple[Observation, ...]
    targets: tuple[str, ...]
    target_distribution: tuple[Distribution, ...]
    initial_state: tuple[Distribution, ...]
    parameter_distribution: tuple[Distribution, ...]
    horizon: float
    dt: float
    cost: Cost
    substeps: int = 1
    process_noise: float = 0.0
    input_limits: tuple[tuple[float, float], ...] = ()
    target_state: tuple[sp.Expr | None, ...] = ()
    success: Success | None = None
    lqg: Mapping = dataclasses.field(default_factory=dict)
    description: str = ""
    source: str = ""

    def __post_init__(self):
        pl = self.plant
        if len(self.initial_state) != pl.nx:
            raise ModelError(f"task {self.name!r}: initial-state distributions for {len(self.initial_state)} of {pl.nx} states")
        if len(self.parameter_distribution) != pl.np_:
            raise ModelError(
                f"task {self.name!r}: parameter distributions for {len(self.parameter_distribution)} of {pl.np_} parameters"
            )
        if len(self.target_distribution) != len(self.targets):
            raise ModelError(
                f"task {self.name!r}: {len(self.target_distribution)} target distributions for {len(self.targets)} targets"
            )
        if not self.input_limits:
            object.__setattr__(self, "input_limits", tuple((-math.inf, math.inf) for _ in range(pl.nu)))
        if len(self.input_limits) != pl.nu:
            raise ModelError(f"task {self.name!r}: input limits for {len(self.input_limits)} of {pl.nu} inputs")
        for name, (lo, hi) in zip(pl.inputs, self.input_limits):
            if lo > hi:
                raise ModelError(f"task {self.name!r}: input {name!r} limits low {lo} > high {hi}")
        if not self.target_state:
            object.__setattr__(self, "target_state", tuple(None for _ in range(pl.nx)))
        if not (self.dt > 0 and math.isfinite(self.dt)):
            raise ModelError(f"task {self.name!r}: dt {self.dt} must be a positive number of seconds")
        if not (self.horizon > 0 and math.isfinite(self.horizon)):
            raise ModelError(f"task {self.name!r}: horizon {self.horizon} must be a positive number of seconds")
        n = self.horizon / self.dt
        if abs(n - round(n)) > 1e-6 * max(1.0, n):
            raise ModelError(f"task {self.name!r}: horizon {self.horizon} is not a whole number of periods dt={self.dt}")
        if self.substeps < 1:
            raise ModelError(f"task {self.name!r}: substeps {self.substeps} must be at least 1")
        if pl.time == "discrete" and self.substeps != 1:
            raise ModelError(f"task {self.name!r}: a discrete-time plant steps once per tick; substeps must be 1")
        if not (self.process_noise >= 0 and math.isfinite(self.process_noise)):
            raise ModelError(f"task {self.name!r}: process_noise {self.process_noise} must be a finite number >= 0")

    # Symbols -----------------------------------------------------------------------------------
    @property
    def y(self) -> tuple[sp.Symbol, ...]:
        return tuple(symbol(o.name) for o in self.observations)

    @property
    def r(self) -> tuple[sp.Symbol, ...]:
        return tuple(symbol(n) for n in self.targets)

    # Sizes ---------------------------------------------------------------------------------------
    @property
    def ny(self) -> int:
        return len(self.observations)

    @property
    def nr(self) -> int:
        return len(self.targets)

    @property
    def n_ticks(self) -> int:
        return int(round(self.horizon / self.dt))

    @property
    def observation_noise(self) -> np.ndarray:
        return np.array([o.noise for o in self.observations], dtype=float)

    @property
    def varying_parameters(self) -> tuple[str, ...]:
        return tuple(q.name for q, d in zip(self.plant.parameters, self.parameter_distribution) if d.kind != "fixed")

    @property
    def nominal_parameters(self) -> np.ndarray:
        """The parameter vector used for design: the distribution's mean where it varies."""
        return np.array([d.mean for d in self.parameter_distribution], dtype=float)

    @property
    def nominal_target(self) -> np.ndarray:
        return np.array([d.mean for d in self.target_distribution], dtype=float)

    def replace(self, **changes) -> Task:
        return dataclasses.replace(self, **changes)

    def on_every_tick(self) -> Task:
        """This task with its cost evaluated at every control tick instead of every `cost.every`-th:
        a finer grid for the same cost. A sum's stage cost is divided by `every`, so totals keep
        their scale (a mean stays a mean), and termination is checked at every tick. On the task's
        own grid a controller whose latent state moves faster than the grid can act hard between
        the ticks that are counted and look better than it is; on every tick it cannot."""
        c = self.cost
        if c.every == 1:
            return self
        if c.aggregate == "sum":
            c = dataclasses.replace(c, stage=c.stage / c.every, quadratic=None)
        return self.replace(cost=dataclasses.replace(c, every=1))
