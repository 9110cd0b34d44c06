"""Normalised units for learning: the `Scaling` and how it is chosen for a task.

`normalise(task)` (`plants._normalise`) returns an exactly equivalent task in which observations, targets and inputs are
measured from the nominal operating point in units of their typical size:

    y = y0 + sy * y',    r = r0 + sr * r',    u = u0 + su * u'

(original = offset + scale * normalised). The plant's states and parameters keep their units:
the controller never sees them. Scales are powers of ten and offsets round numbers (multiples of
a hundredth of the scale), so the normalised task reads as the original with the decimal point
moved, and a task already in O(1) units (the SHO) is left exactly as it is. `synth.denormalise`
folds a `Scaling` back into a policy learnt on the normalised task.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import sympy as sp

from ._backends import operating_point, target_state_expressions
from ._model import Distribution, ModelError, Task, symbol
from ._translate import lower

KINDS = ("observations", "targets", "inputs")
_GRID_POINTS = 20_000  # at most this many initial states are evaluated to find an observation's range
_OFFSET_STEP = 0.01  # offsets are rounded to this fraction of their scale


@dataclasses.dataclass(frozen=True)
class Scaling:
    """An affine change of units between a task and its normalised twin, per named signal:
    `original = offset + scale * normalised`, for observations (`y0`, `sy`), targets (`r0`, `sr`)
    and plant inputs (`u0`, `su`). Scales are positive; all values are finite floats."""

    observations: tuple[str, ...]
    y0: tuple[float, ...]
    sy: tuple[float, ...]
    targets: tuple[str, ...]
    r0: tuple[float, ...]
    sr: tuple[float, ...]
    inputs: tuple[str, ...]
    u0: tuple[float, ...]
    su: tuple[float, ...]

    def __post_init__(self):
        for kind in KINDS:
            names, offsets, scales = self._fields(kind)
            object.__setattr__(self, kind, tuple(str(n) for n in names))
            if not len(names) == len(offsets) == len(scales):
                raise ModelError(
                    f"scaling of {kind}: {len(names)} names, {len(offsets)} offsets and {len(scales)} scales; give one of each per name"
                )
            for n, o, s in zip(names, offsets, scales):
                if not (math.isfinite(o) and math.isfinite(s) and s > 0):
                    raise ModelError(f"scaling of {kind[:-1]} {n!r}: offset {o} and scale {s} must be finite, the scale > 0")
        for attr in ("y0", "sy", "r0", "sr", "u0", "su"):
            object.__setattr__(self, attr, tuple(float(v) + 0.0 for v in getattr(self, attr)))  # + 0.0: no -0.0

    def inverse(self) -> Scaling:
        """The scaling the other way round: `normalised = -offset/scale + (1/scale) * original`."""

        def inv(offsets, scales):
            return tuple(-o / s for o, s in zip(offsets, scales)), tuple(1.0 / s for s in scales)

        return Scaling(
            self.observations, *inv(self.y0, self.sy), self.targets, *inv(self.r0, self.sr), self.inputs, *inv(self.u0, self.su)
        )

    def _fields(self, kind: str) -> tuple[tuple, tuple, tuple]:
        if kind == "observations":
            return self.observations, self.y0, self.sy
        if kind == "targets":
            return self.targets, self.r0, self.sr
        if kind == "inputs":
            return self.inputs, self.u0, self.su
        raise ValueError(f"unknown kind {kind!r}; valid: {', '.join(KINDS)}")

    @classmethod
    def identity(cls, task: Task) -> Scaling:
        """The scaling that changes nothing, for `task`'s signals."""
        ny, nr, nu = task.ny, task.nr, task.plant.nu
        return cls(
            tuple(o.name for o in task.observations),
            (0.0,) * ny,
            (1.0,) * ny,
            task.targets,
            (0.0,) * nr,
            (1.0,) * nr,
            task.plant.inputs,
            (0.0,) * nu,
            (1.0,) * nu,
        )

    @property
    def is_identity(self) -> bool:
        return all(o == 0.0 for o in self.y0 + self.r0 + self.u0) and all(s == 1.0 for s in self.sy + self.sr + self.su)

    # Numbers ---------------------------------------------------------------------------------
    def to_original(self, kind: str, values: Any) -> Any:
        """`offset + scale * values` for the signals of `kind` (numpy or JAX arrays, the component
        axis last, any leading batch axes)."""
        offsets, scales = self._arrays(kind, values)
        return offsets + scales * values

    def to_normalised(self, kind: str, values: Any) -> Any:
        """`(values - offset) / scale` for the signals of `kind` (as `to_original`)."""
        offsets, scales = self._arrays(kind, values)
        return (values - offsets) / scales

    def _arrays(self, kind: str, values: Any) -> tuple[np.ndarray, np.ndarray]:
        names, offsets, scales = self._fields(kind)
        if np.shape(values)[-1:] != (len(names),):
            raise ValueError(
                f"{kind} values of shape {np.shape(values)}: the last axis must have one entry per name ({', '.join(names) or 'none'})"
            )
        shape = (1,) * (np.ndim(values) - 1) + (len(names),)  # explicit ranks: no implicit promotion
        return np.reshape(offsets, shape), np.reshape(scales, shape)

    # Expressions -----------------------------------------------------------------------------
    def original_in_normalised(self, kind: str) -> dict[sp.Symbol, sp.Expr]:
        """`{s: offset + scale * s}`, exact (rational) numbers; identities left out. Substituting it
        into an expression of original signals gives the same expression of normalised ones."""
        names, offsets, scales = self._fields(kind)
        out = {}
        for n, o, s in zip(names, offsets, scales):
            if o != 0.0 or s != 1.0:
                sym = symbol(n)
                out[sym] = _exact(o) + _exact(s) * sym
        return out

    def normalised_in_original(self, kind: str) -> dict[sp.Symbol, sp.Expr]:
        """`{s: (s - offset) / scale}` written with float constants (`c * s - d`, as a learnt
        policy's constants are written); identities left out."""
        names, offsets, scales = self._fields(kind)
        out = {}
        for n, o, s in zip(names, offsets, scales):
            if o != 0.0 or s != 1.0:
                sym = symbol(n)
                e = sym - sp.Float(o) if o != 0.0 else sym
                out[sym] = sp.Float(1.0 / s) * e if s != 1.0 else e
        return out

    # Record ----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: per kind, `{name: {"offset": o, "scale": s}}`."""
        return {kind: {n: {"offset": o, "scale": s} for n, o, s in zip(*self._fields(kind))} for kind in KINDS}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Scaling:
        def part(kind):
            items = d.get(kind, {})
            return (
                tuple(items),
                tuple(float(v["offset"]) for v in items.values()),
                tuple(float(v["scale"]) for v in items.values()),
            )

        (yn, y0, sy), (rn, r0, sr), (un, u0, su) = (part(k) for k in KINDS)
        return cls(yn, y0, sy, rn, r0, sr, un, u0, su)

    def __str__(self) -> str:
        lines = []
        for kind in KINDS:
            for n, o, s in zip(*self._fields(kind)):
                if o != 0.0 or s != 1.0:
                    lines.append(f"{n} = {o:g} + {s:g} * {n}'")
        return "\n".join(lines) if lines else "identity"


# Choosing the scaling ------------------------------------------------------------------------
def power_of_ten(size: float) -> float:
    """The power of ten nearest to `size` on a log scale (1 for 0.316..3.16); 1 when `size` is zero
    or not finite (nothing to go by)."""
    if not (math.isfinite(size) and size > 0):
        return 1.0
    return float(f"1e{round(math.log10(size))}")


def _round_offset(value: float, scale: float) -> float:
    """`value` rounded to a multiple of `_OFFSET_STEP * scale` (a decimal number, exactly)."""
    exponent = round(math.log10(scale * _OFFSET_STEP))
    return float(f"{round(value / float(f'1e{exponent}'))}e{exponent}") + 0.0


def _exact(v: float) -> sp.Rational:
    """The decimal number `v` prints as, exactly (0.01 -> 1/100)."""
    return sp.Rational(repr(float(v)))


def _half_width(d: Distribution) -> float:
    """A distribution's typical distance from its mean: half the interval of a uniform, the
    standard deviation of a normal, 0 when fixed."""
    return (d.b - d.a) / 2 if d.kind == "uniform" else d.b if d.kind == "normal" else 0.0


def _state_grid(task: Task) -> np.ndarray:
    """Initial states covering each state's distribution (uniform: its interval; normal: mean +- one
    standard deviation), a product grid of odd size per state (so the mean is on it)."""
    dists = task.initial_state
    varying = [i for i, d in enumerate(dists) if _half_width(d) > 0]
    centre = np.array([d.mean for d in dists], float)
    if not varying:
        return centre[None]
    per = 9
    while per > 3 and per ** len(varying) > _GRID_POINTS:
        per -= 2
    axes = {i: np.linspace(dists[i].mean - _half_width(dists[i]), dists[i].mean + _half_width(dists[i]), per) for i in varying}
    if per ** len(varying) <= _GRID_POINTS:
        points = []
        for combo in itertools.product(*(axes[i] for i in varying)):
            x = centre.copy()
            x[varying] = combo
            points.append(x)
        return np.array(points)
    points = [centre]  # too many states for a product: one state at a time
    for i in varying:
        for v in axes[i]:
            x = centre.copy()
            x[i] = v
            points.append(x)
    return np.array(points)


def _target_points(task: Task) -> list[np.ndarray]:
    """The nominal target and, one target at a time, its typical extremes."""
    r0 = task.nominal_target
    points = [r0]
    for j, d in enumerate(task.target_distribution):
        w = _half_width(d)
        for sign in (-1.0, 1.0):
            if w > 0:
                r = r0.copy()
                r[j] += sign * w
                points.append(r)
    return points


def _operating_points(task: Task) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """The equilibria holding the target state at the nominal target and its extremes (nominal
    parameters), or None when the task defines no target state or no equilibrium holds it."""
    if all(e is None for e in target_state_expressions(task)):
        return None
    try:
        return [operating_point(task, r) for r in _target_points(task)]
    except ModelError:
        return None


def choose_scaling(task: Task) -> Scaling:
    """The scaling `normalise` uses for `task` (see the module docstring and `normalise`)."""
    pl = task.plant
    p = task.nominal_parameters
    ops = _operating_points(task)
    observe = lower([o.expr for o in task.observations], [pl.x, pl.p, task.r], "numpy")

    def observations(xs: np.ndarray, r: np.ndarray) -> np.ndarray:
        vals = observe(xs, p, np.broadcast_to(r, (len(xs), task.nr)))
        return np.stack([np.broadcast_to(np.asarray(v, float), (len(xs),)) for v in vals], axis=-1)

    grid = _state_grid(task)
    r0 = task.nominal_target
    y_grid = observations(grid, r0)
    y_grid = np.where(np.isfinite(y_grid), y_grid, np.nan)  # where an observation is undefined, it says nothing
    if ops is not None:
        y_op = observations(np.array([x for x, _ in ops]), r0)
        y_offset = y_op[0]
        y_seen = np.concatenate([y_grid, y_op])
    else:  # no operating point: the centre of each observation's range over the initial states
        with np.errstate(all="ignore"):
            y_offset = (_nan_extreme(np.fmax, y_grid) + _nan_extreme(np.fmin, y_grid)) / 2
        y_seen = y_grid
    y_offset = np.where(np.isfinite(y_offset), y_offset, 0.0)
    # Typical size: the largest distance from the offset over the initial states and the operating
    # points, or three standard deviations of the measurement noise if that is larger.
    y_size = np.fmax(_nan_extreme(np.fmax, np.abs(y_seen - y_offset)), 3 * task.observation_noise)
    sy = [power_of_ten(s) for s in y_size]
    y0 = [_round_offset(o, s) for o, s in zip(y_offset, sy)]

    r_size = [_half_width(d) or abs(d.mean) for d in task.target_distribution]
    sr = [power_of_ten(s) for s in r_size]
    r0_rounded = [_round_offset(o, s) for o, s in zip(r0, sr)]

    if ops is not None:
        u_offset = ops[0][1]
        u_spread = np.max(np.abs(np.array([u for _, u in ops]) - u_offset), axis=0)
    else:
        u_offset = _input_reference(task, r0, p)
        u_spread = np.zeros(pl.nu)
    su, u0 = [], []
    for i, (lo, hi) in enumerate(task.input_limits):
        if math.isfinite(lo) and math.isfinite(hi):
            size = (hi - lo) / 2
        elif math.isfinite(lo) or math.isfinite(hi):
            size = abs((lo if math.isfinite(lo) else hi) - u_offset[i])
        else:  # unbounded: the inputs that hold the targets, else the size of the one that holds the nominal one
            size = u_spread[i] or abs(u_offset[i])
        su.append(power_of_ten(size))
        u0.append(_round_offset(u_offset[i], su[-1]))
    return Scaling(
        tuple(o.name for o in task.observations),
        tuple(y0),
        tuple(sy),
        task.targets,
        tuple(r0_rounded),
        tuple(sr),
        pl.inputs,
        tuple(u0),
        tuple(su),
    )


def _nan_extreme(reduce, values: np.ndarray) -> np.ndarray:
    """Column-wise `np.fmax`/`np.fmin` ignoring nan (nan only where a column has nothing else)."""
    return reduce.reduce(values, axis=0)


def _input_reference(task: Task, r: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The cost's input reference at targets `r`, parameters `p` (zeros when it has none)."""
    if task.cost.quadratic is None:
        return np.zeros(task.plant.nu)
    uref = task.cost.quadratic[3]
    at = dict(zip(task.r, r)) | dict(zip(task.plant.p, p))
    return np.array([float(sp.sympify(e).subs(at)) for e in uref], float)


__all__ = ["KINDS", "Scaling", "choose_scaling", "power_of_ten"]
