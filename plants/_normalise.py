"""A task rewritten in the normalised units of a `Scaling` (`plants._scaling`), exactly equivalent,
and the task a learning method trains on (`training_task`): normalised and, for robust training,
with its ranged parameters drawn over their box (`over_box`)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import sympy as sp

from ._model import Cost, Distribution, ModelError, Observation, Plant, Success, Task
from ._scaling import KINDS, Scaling, _exact, choose_scaling


def normalise(task: Task, scaling: Scaling | None = None) -> tuple[Task, Scaling]:
    """`task` in normalised units, exactly equivalent, and the `Scaling` that relates the two.

    Offsets sit at the nominal operating point: targets at their nominal value; observations at
    their value at the equilibrium that holds the nominal target (where the task defines a target
    state), else at the centre of their range over the initial states; inputs at that equilibrium's
    input, else at the cost's input reference, else 0. Scales are powers of ten of the signals'
    typical sizes: half the input limits (for an unbounded input, how far the equilibrium input moves
    over the targets); half the target interval or the standard deviation; for observations the
    largest distance from the offset over the initial states and the operating points, or three
    standard deviations of the noise if that is larger. Zero sizes give scale 1.

    The normalised task keeps the name, source, states, parameters and horizon; its inputs,
    observations and targets keep their names but are measured in the new units: the plant's
    dynamics see `u0 + su*u`, observations are `(h - y0)/sy` with noise `sigma/sy`, the target
    distributions, cost, termination, success, target state and LQG input weights are rewritten
    for `r = r0 + sr*r` and `u = u0 + su*u`, and the input limits become `(limit - u0)/su`.
    `scaling` overrides the choice. When the scaling is the identity the task is returned as is.
    """
    if scaling is None:
        scaling = choose_scaling(task)
    _check_matches(task, scaling)
    if scaling.is_identity:
        return task, scaling
    return _rewrite(task, scaling), scaling


def _rewrite(task: Task, scaling: Scaling) -> Task:
    """`task` with its signals in the units of `scaling` (entries the scaling leaves alone are kept
    as they are, so an identity scaling gives an equal task)."""
    r_map = scaling.original_in_normalised("targets")
    u_map = scaling.original_in_normalised("inputs")
    ru_map = r_map | u_map

    def sub(e, mapping):
        return None if e is None else sp.sympify(e).xreplace(mapping) if mapping else e

    pl = task.plant
    units = dict(pl.units)
    for n, o, s in zip(scaling.inputs, scaling.u0, scaling.su):
        if o != 0.0 or s != 1.0:
            units[n] = _unit(units.get(n, ""), o, s)
    plant = Plant(
        name=pl.name,
        states=pl.states,
        inputs=pl.inputs,
        parameters=pl.parameters,
        dynamics=tuple(sub(e, u_map) for e in pl.dynamics),
        diffusion=tuple(sub(e, u_map) for e in pl.diffusion),
        time=pl.time,
        units=units,
        description=pl.description,
    )
    observations = []
    for o, y0, sy in zip(task.observations, scaling.y0, scaling.sy):
        expr = sub(o.expr, r_map)
        if y0 != 0.0 or sy != 1.0:
            observations.append(Observation(o.name, (expr - _exact(y0)) / _exact(sy), o.noise / sy))
        else:
            observations.append(Observation(o.name, expr, o.noise))
    targets = tuple(_affine(d, r0, sr) for d, r0, sr in zip(task.target_distribution, scaling.r0, scaling.sr))
    c = task.cost
    quadratic = c.quadratic
    if quadratic is not None:
        Q, R, xref, uref = quadratic
        if any(s != 1.0 for s in scaling.su):
            S = sp.diag(*[_exact(s) for s in scaling.su])
            R = S * R * S
        uref = tuple(
            (sub(e, r_map) - _exact(o)) / _exact(s) if (o != 0.0 or s != 1.0) else sub(e, r_map)
            for e, o, s in zip(uref, scaling.u0, scaling.su)
        )
        quadratic = (Q, R, tuple(sub(e, r_map) for e in xref), uref)
    cost = Cost(
        stage=sub(c.stage, ru_map),
        every=c.every,
        aggregate=c.aggregate,
        terminate_when=sub(c.terminate_when, ru_map),
        terminal=c.terminal,
        reward=c.reward,
        quadratic=quadratic,
    )
    success = None if task.success is None else Success(sub(task.success.condition, ru_map), task.success.when)
    limits = tuple(((lo - o) / s, (hi - o) / s) for (lo, hi), o, s in zip(task.input_limits, scaling.u0, scaling.su))
    normalised = task.replace(
        plant=plant,
        observations=tuple(observations),
        target_distribution=targets,
        cost=cost,
        input_limits=limits,
        target_state=tuple(sub(e, r_map) for e in task.target_state),
        success=success,
        lqg=_lqg_weights(task.lqg, scaling.su),
    )
    return normalised


def _check_matches(task: Task, scaling: Scaling) -> None:
    want = (tuple(o.name for o in task.observations), task.targets, task.plant.inputs)
    have = (scaling.observations, scaling.targets, scaling.inputs)
    for kind, w, h in zip(KINDS, want, have):
        if w != h:
            raise ModelError(f"scaling of {kind} {list(h)} does not fit task {task.name!r}, whose {kind} are {list(w)}")


def _affine(d: Distribution, offset: float, scale: float) -> Distribution:
    """The distribution of `(v - offset) / scale` for `v ~ d`."""
    if offset == 0.0 and scale == 1.0:
        return d
    if d.kind == "normal":
        return Distribution("normal", (d.a - offset) / scale, d.b / scale)
    if d.kind == "uniform":
        return Distribution("uniform", (d.a - offset) / scale, (d.b - offset) / scale)
    return Distribution("fixed", (d.a - offset) / scale)


def _lqg_weights(lqg: Mapping, su: tuple[float, ...]) -> Mapping:
    """`[task.lqg]` with its input weight `R` for `u = u0 + su*u'` (`su R su`); `Q` (states) as is."""
    if "R" not in lqg or all(s == 1.0 for s in su):
        return lqg
    R = np.asarray(lqg["R"], float)
    s = np.asarray(su, float)
    scaled = s**2 * R if R.ndim == 1 else (s[:, None] * R.reshape(len(s), len(s)) * s[None, :])
    return {**lqg, "R": scaled.tolist()}


def _unit(unit: str, offset: float, scale: float) -> str:
    """The unit of a normalised input, for display: "10 V from 1.4 V" (`u = 1.4 V + u' * 10 V`)."""
    scaled = f"{scale:g} {unit}".strip()
    return f"{scaled} from {offset:g} {unit}".strip() if offset != 0.0 else scaled


# Robust training -----------------------------------------------------------------------------
def over_box(task: Task) -> Task:
    """`task` with every parameter that declares a range drawn uniformly over that range in every
    trajectory (the box robustness analysis sweeps); parameters without a range keep their
    distribution. The task itself when nothing changes.

    Note that `Task.nominal_parameters` (the design point of LQG) is the mean of each parameter's
    distribution, so a range that is not centred on the nominal value moves it.
    """
    dists = tuple(
        Distribution("uniform", *q.range) if q.range is not None else d
        for q, d in zip(task.plant.parameters, task.parameter_distribution)
    )
    if dists == task.parameter_distribution:
        return task
    return task.replace(parameter_distribution=dists)


def training_task(task: Task, normalised: bool = True, robust: bool = False) -> tuple[Task, Scaling]:
    """The task a learning method trains on, made from `task`: in normalised units (`normalise`)
    and, with `robust`, with its ranged parameters drawn over their box (`over_box`); and the
    scaling that brings a policy learnt on it back to `task`'s units (`synth.denormalise`)."""
    learn, scaling = normalise(task) if normalised else (task, Scaling.identity(task))
    return (over_box(learn) if robust else learn), scaling


__all__ = ["normalise", "over_box", "training_task"]
