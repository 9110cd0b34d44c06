"""Steady-state LQG with integral action on the set-point outputs (variant `lqg-i`).

The LQG of `validation.lqg` holds the target through the operating point `u_op(r)` it computed at
the nominal parameters. Where the plant's parameters vary from unit to unit (a load, a supply
voltage, a gain), that input no longer holds the target and the output settles off it: on an
averaged boost converter whose load is drawn in 15-30 ohm, the nominal steady-state LQG ends
within 0.3 V of the set point on 68 % of the trajectories. The remedy every control engineer
reaches for is an integrator of the output error, and this module adds it to the LQG design:

* **Which outputs.** An observation is integrated when its set point is known whatever the
  parameters: it measures only states the task holds at a reference (`target_state`, or the
  states its quadratic cost weights), and neither its expression nor those references involve a
  varying parameter. A measured current whose value depends on the load is not integrated; the
  output voltage is. At most one output per input (more integrators than inputs cannot all be
  driven to zero); the most heavily weighted ones are kept.
* **The design.** Each integrator `q+ = q + dt (y_s - y_s,op(r))` joins the plant's discrete
  model, and `control.dlqr` designs the state feedback of the augmented model with the task's
  cost on the states and the output's own cost weight divided by `Ti^2` on its integral, `Ti` a
  quarter of the horizon (an offset decays well within one trajectory). The observer is the
  steady-state Kalman predictor of `lqg-ss`, unchanged; the integrator reads the measured output.
* **Anti-windup.** Where the inputs are limited, each integrator also tracks the clipped control
  (back-calculation, tracking time `Ti`): `q+ += (dt / Ti) Kq^+ (g(xhat, q, r) - u)`, zero while
  the control is inside its limits, so the linear design is untouched there. Without it, on a
  held-out gravity-drained tank (examples/tank.toml) the pump's limits wound the integrator up
  and 16 % of 300 trajectories ended off the level's band (float32 simulation); with it none did,
  and no task measured worse (boost converter, cstr/varying, the oven example).
* **The controller.** `u = u_op(r) - Kx (xhat - x_op(r)) - Kq q`, latent state `(xhat, q)`,
  integrators starting at zero. It is linear in its inputs (the clipped control `u` among them),
  so GP-D can start from it like from `lqg-ss`.

Raises `LQGError` when no output qualifies or the augmented model cannot be stabilised (a plant
with a zero at DC from its inputs to those outputs).
"""

from __future__ import annotations

import dataclasses

import control
import numpy as np
import sympy as sp

from plants import Task, symbol, target_state_expressions
from synth import SymbolicPolicy

from ._lqg_parts import LQGError, affine_in_r, matrix


def setpoint_outputs(task: Task, d) -> list[int]:
    """Indices, in order, of the observations whose set point does not depend on a varying
    parameter: at most one per input, the most heavily weighted where more qualify."""
    pl = task.plant
    refs = target_state_expressions(task)
    held = {pl.x[i] for i, e in enumerate(refs) if e is not None}
    varying = {symbol(n) for n in task.varying_parameters}
    Q = tick_weight(task, d)
    weights = []
    for i, obs in enumerate(task.observations):
        expr = sp.sympify(obs.expr)
        states = expr.free_symbols & set(pl.x)
        if not states or not states <= held or expr.free_symbols & varying:
            continue
        if any(sp.sympify(refs[pl.x.index(s)]).free_symbols & varying for s in states):
            continue
        w = _output_weight(d.C[i], Q)
        if w > 0:
            weights.append((w, i))
    weights.sort(key=lambda wi: -wi[0])
    return sorted(i for _, i in weights[: pl.nu])


def tick_weight(task: Task, d) -> np.ndarray:
    """The stage cost's weight on the states over one tick, to leading order (`Q dt` for a
    continuous plant): `d.Qd` without the cross terms the exact discretisation adds, which would
    make an unweighted velocity look weighted through its coupling to a weighted position."""
    return d.Q * d.dt if task.plant.time == "continuous" else d.Q


def _output_weight(c: np.ndarray, Q: np.ndarray) -> float:
    """The cost's weight on the output `y = c x` per unit of `y`, squared: `c Q c' / (c c')^2`,
    the same whatever units `y` is measured in (`y = vC / 10` weighs 100 times more per unit)."""
    cc = float(c @ c)
    return float(c @ Q @ c) / cc**2 if cc > 0 else 0.0


def integral_design(task: Task, d) -> tuple[list[int], np.ndarray, np.ndarray, float]:
    """`(outputs, Kx, Kq, Ti)`: the integrated observations and the gains of the augmented LQR."""
    outputs = setpoint_outputs(task, d)
    if not outputs:
        raise LQGError(
            f"task {task.name!r}: no observation has a set point independent of the varying parameters "
            "(one that measures only states held at a target), so there is nothing to integrate"
        )
    n, k, dt = d.Ad.shape[0], len(outputs), d.dt
    Cs = d.C[outputs]
    Ti = task.horizon / 4
    Aa = np.block([[d.Ad, np.zeros((n, k))], [dt * Cs, np.eye(k)]])
    Ba = np.vstack([d.Bd, np.zeros((k, d.Bd.shape[1]))])
    Q = tick_weight(task, d)
    Qq = np.diag([_output_weight(c, Q) / Ti**2 for c in Cs])
    Qa = np.block([[d.Qd, np.zeros((n, k))], [np.zeros((k, n)), Qq]])
    Na = np.vstack([d.Nd, np.zeros((k, d.Nd.shape[1]))])
    try:
        K, _, _ = control.dlqr(Aa, Ba, Qa, d.Rd, Na)
    except Exception as err:  # python-control raises several kinds for unstabilisable pairs
        names = ", ".join(task.observations[i].name for i in outputs)
        raise LQGError(
            f"task {task.name!r}: integral action on {names} cannot be stabilised: {' '.join(str(err).split())}"
        ) from None
    K = np.asarray(K, float).reshape(Ba.shape[1], n + k)
    return outputs, K[:, :n], K[:, n:], Ti


def integral_policy(task: Task, d, base: SymbolicPolicy) -> SymbolicPolicy:
    """The `lqg-i` controller of design `d` as a `SymbolicPolicy`, built on `base`, the `lqg-ss`
    policy of the same design (`validation.lqg.policy_from_design`)."""
    outputs, Kx, Kq, Ti = integral_design(task, d)
    names = tuple(f"xint{j}" for j in range(len(outputs)))
    y = [symbol(o.name) for o in task.observations]
    r = sp.Matrix(list(task.r)) if task.nr else sp.zeros(0, 1)
    q = sp.Matrix([symbol(s) for s in names])
    xhat = sp.Matrix(list(base.z))
    ys_op = affine_in_r(d.y_op[outputs], d.C[outputs] @ d.dx_dr, r, d.r0)
    fq = [q[j] + sp.Float(d.dt) * (y[i] - ys_op[j]) for j, i in enumerate(outputs)]
    g = -matrix(Kx) * xhat - matrix(Kq) * q + affine_in_r(d.u_op + Kx @ d.x_op, d.du_dr + Kx @ d.dx_dr, r, d.r0)
    limited = any(np.isfinite(lo) or np.isfinite(hi) for lo, hi in task.input_limits)
    if limited:  # back-calculation: the integrators track the clipped control with time constant Ti
        u = sp.Matrix(list(task.plant.u))
        back = matrix(np.linalg.pinv(Kq) * (d.dt / Ti)) * (g - u)
        fq = [e + back[j] for j, e in enumerate(fq)]
    provenance = dict(base.provenance) | {
        "method": "lqg-i",
        "K": np.hstack([Kx, Kq]).tolist(),
        "integral": {"outputs": [task.observations[i].name for i in outputs], "Ti": Ti},
    }
    return dataclasses.replace(
        base,
        latent=base.latent + names,
        f=tuple(base.f) + tuple(fq),
        g=tuple(g),
        latent_init=tuple(base.latent_init) + (0.0,) * len(names),
        provenance=provenance,
    )


__all__ = ["integral_design", "integral_policy", "setpoint_outputs"]
