"""LQG that estimates the varying parameters along with the state (variant `lqg-p`).

Where a task draws parameters per trajectory (a feed concentration, a load, a car's mass and the
road's grade), the nominal LQG holds the target through the input `u_op` it computed at the
nominal parameters, and pays for the difference on every trajectory. `lqg-i` removes the offset
with an integrator whose speed is a design constant. This variant instead treats the deviation
`dp = p - p_nominal` of every varying parameter as a constant state of the model and lets the
time-varying Kalman filter of `lqg` estimate it, starting from the task's own distribution of the
parameter (mean zero, its variance): the filter weighs what the measurements say about `dp`
against what the task says it can be, with nothing to tune.

* **Model.** At the operating point, `dx/dt = A dx + B du + E dp` with `E = df/dp`, and the
  observation `dy = C dx + Cp dp`; `dp` is constant (no process noise: a parameter does not drift
  within a trajectory). The augmented model is discretised with a zero-order hold like the plant's.
* **Control.** The equilibrium moves with the parameters: `x_op(p)`, `u_op(p)` (`operating_point`),
  to first order `x_op + Xp dp`, `u_op + Up dp`. The control is `u = u_op + Up dp^ - K (x^ - x_op -
  Xp dp^)`, `K` the nominal LQR gain: once the estimate is right, the loop's fixed point is the
  task's reference at the trajectory's own parameters.
* **The filter** is `lqg`'s (predictor form, covariance carried in the latent state), on the
  augmented model. Parameters the measurements cannot tell apart keep their prior between them.

First order only: a parameter whose effect vanishes at the nominal operating point (a stiffness
when the nominal set point is zero) is invisible to it, and such parameters are left out; where
none acts, `LQGError` says so.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.linalg
import sympy as sp

from plants import ModelError, Task, lower, operating_point

from ._lqg_parts import LQGError


def _jacobian_at(task: Task, d, exprs, syms) -> np.ndarray:
    pl = task.plant
    M = sp.Matrix(exprs).jacobian(sp.Matrix(syms))
    if M.shape[0] * M.shape[1] == 0:
        return np.zeros(M.shape)
    out = lower(list(M), [pl.x, pl.u, pl.p, task.r], "numpy")(d.x_op, d.u_op, d.p, d.r0)
    return np.array([float(v) for v in out], dtype=float).reshape(M.shape)


def _equilibrium_slope(task: Task, d, i: int) -> tuple[np.ndarray, np.ndarray]:
    """`(d x_op / d p_i, d u_op / d p_i)` by central differences, on the scale the parameter varies."""
    step = 1e-3 * task.parameter_distribution[i].variance ** 0.5
    up, down = d.p.copy(), d.p.copy()
    up[i] += step
    down[i] -= step
    try:
        xp, uup = operating_point(task, d.r0, up)
        xm, udn = operating_point(task, d.r0, down)
    except ModelError as err:
        raise LQGError(f"task {task.name!r}: the equilibrium does not follow {task.plant.parameters[i].name}: {err}") from None
    return (xp - xm) / (2 * step), (uup - udn) / (2 * step)


def estimating_design(task: Task, d):
    """The design `d` (`validation.lqg.design`) augmented with the varying parameters as constant
    states; returns `(design, names)`, the names of the parameters estimated."""
    pl = task.plant
    n, m = pl.nx, pl.nu
    varying = [i for i, q in enumerate(pl.parameters) if q.name in task.varying_parameters]
    if not varying:
        raise LQGError(f"task {task.name!r}: no parameter varies from trajectory to trajectory, so there is nothing to estimate")
    F = list(pl.dynamics)
    H = [o.expr for o in task.observations]
    A, B = _jacobian_at(task, d, F, pl.x), _jacobian_at(task, d, F, pl.u)
    E_all = _jacobian_at(task, d, F, [pl.p[i] for i in varying])
    Cp_all = _jacobian_at(task, d, H, [pl.p[i] for i in varying])
    keep, Xp, Up = [], [], []
    for j, i in enumerate(varying):
        dx, du = _equilibrium_slope(task, d, i)
        if np.any(np.abs(E_all[:, j]) > 1e-12) or np.any(np.abs(Cp_all[:, j]) > 1e-12):
            keep.append(j)
            Xp.append(dx)
            Up.append(du)
    if not keep:
        names = ", ".join(pl.parameters[i].name for i in varying)
        raise LQGError(
            f"task {task.name!r}: the varying parameters ({names}) have no first-order effect at the operating point, "
            "so a linear filter cannot estimate them"
        )
    idx = [varying[j] for j in keep]
    k = len(idx)
    E, Cp = E_all[:, keep], Cp_all[:, keep]
    Xp, Up = np.array(Xp).T.reshape(n, k), np.array(Up).T.reshape(m, k)
    if pl.time == "continuous":
        Z = np.zeros((n + k + m, n + k + m))
        Z[:n, :n], Z[:n, n : n + k], Z[:n, n + k :] = A, E, B
        M = scipy.linalg.expm(Z * d.dt)
        Ad, Bd = M[: n + k, : n + k], M[: n + k, n + k :]
    else:
        Ad = np.block([[A, E], [np.zeros((k, n)), np.eye(k)]])
        Bd = np.vstack([B, np.zeros((k, m))])
    variance = np.array([task.parameter_distribution[i].variance for i in idx])
    zeros = np.zeros
    augmented = dataclasses.replace(
        d,
        Ad=Ad,
        Bd=Bd,
        C=np.hstack([d.C, Cp]),
        # u - u_op(dp) = -K (x - x_op(dp)): K on the state, -(Up + K Xp) on the parameters.
        K=np.hstack([d.K, -(Up + d.K @ Xp)]),
        Q=scipy.linalg.block_diag(d.Q, zeros((k, k))),
        Qd=scipy.linalg.block_diag(d.Qd, zeros((k, k))),
        Nd=np.vstack([d.Nd, zeros((k, m))]),
        # The 1e-12 floor of design() keeps the covariance update defined; the parameters do not drift.
        W=scipy.linalg.block_diag(d.W, 1e-12 * np.eye(k)),
        # No steady state exists for a filter of constants the measurements may not all reveal:
        # the plant's own steady-state gain and covariance, the parameters' part zero.
        L=np.vstack([d.L, zeros((k, d.L.shape[1]))]),
        P_ss=scipy.linalg.block_diag(d.P_ss, zeros((k, k))),
        P0=scipy.linalg.block_diag(d.P0, np.diag(variance)),
        xhat0=np.concatenate([d.xhat0, zeros(k)]),
        x_op=np.concatenate([d.x_op, zeros(k)]),
        dx_dr=np.vstack([d.dx_dr, zeros((k, d.dx_dr.shape[1]))]),
    )
    return augmented, tuple(pl.parameters[i].name for i in idx)


__all__ = ["estimating_design"]
