"""LQG that estimates the varying parameters along with the state (variant `lqg-p`).

Where a task draws parameters per trajectory (a feed concentration, a load, a car's mass and the
road's grade), the nominal LQG holds the target through the input `u_op` it computed at the
nominal parameters, and pays for the difference on every trajectory. `lqg-i` removes the offset
with an integrator whose speed is a design constant. This variant instead makes the parameters'
deviation `dp = p - p_nominal` part of the model and lets the time-varying Kalman filter of `lqg`
estimate it, starting from the task's own distribution of the parameters (mean zero, their
variance): the filter weighs what the measurements say against what the task says `dp` can be.

* **Model.** At the operating point, `dx/dt = A dx + B du + E dp` with `E = df/dp`, and the
  observation `dy = C dx + Cp dp`, discretised with a zero-order hold like the plant. In whitened
  coordinates (`dp = std * eta`, `eta` of unit prior variance).
* **Which combinations.** The filter carries the combinations of `eta` that move the measured
  outputs at steady state under the nominal loop (the offsets `lqg-ss` leaves), at most one per
  output: with more, the loop would have a line of equilibria along which nothing pins the
  estimate. The other combinations keep their prior mean, zero (orthonormal in `eta`, so a
  priori independent of the estimated ones). Provenance gives the map from the filter's
  parameter states to `dp`.
* **Drift.** The estimated combinations may drift by their prior spread over one horizon (a
  random walk): the filter's gain does not vanish, the estimate follows slow change, and the
  filter has a steady state, so the loop has an equilibrium the stability rows can analyse.
* **Control.** The equilibrium moves with the parameters: `x_op(p)`, `u_op(p)` (`operating_point`),
  to first order `x_op + Xp dp`, `u_op + Up dp`. The control is `u = u_op + Up dp^ - K (x^ - x_op -
  Xp dp^)`, `K` the nominal LQR gain: once the estimate is right, the loop's fixed point is the
  task's reference at the trajectory's own parameters.

First order only: a parameter whose effect vanishes at the nominal operating point (a stiffness
when the nominal set point is zero) is invisible to it and left out; where none acts, `LQGError`
says so.
"""

from __future__ import annotations

import dataclasses

import control
import numpy as np
import scipy.linalg

from plants import ModelError, Task, linearize

from ._lqg_parts import LQGError, equilibrium_slope


def _equilibrium_slope(task: Task, d, i: int) -> tuple[np.ndarray, np.ndarray]:
    """`(d x_op / d p_i, d u_op / d p_i)`, on the scale the parameter varies."""
    step = 1e-3 * task.parameter_distribution[i].variance ** 0.5
    dp = np.zeros_like(d.p)
    dp[i] = step
    try:
        sx, su = equilibrium_slope(task, d.r0, d.p, np.zeros_like(d.r0), dp)
    except ModelError as err:
        raise LQGError(f"task {task.name!r}: the equilibrium does not follow {task.plant.parameters[i].name}: {err}") from None
    return sx / step, su / step


def _steady_offsets(d, Ad, Ed, Bd, Cp) -> np.ndarray:
    """The measured outputs' steady-state offsets per unit of each (whitened) parameter under the
    nominal steady-state LQG: `x+ = Ad x + Bd u + Ed eta`, `xh+ = Ad xh + Bd u + L (C x + Cp eta - C xh)`,
    `u = -K xh`, solved for the fixed point; `y - y_op = C x + Cp eta`."""
    n = Ad.shape[0]
    top = np.hstack([Ad - np.eye(n), -Bd @ d.K])
    bottom = np.hstack([d.L @ d.C, Ad - Bd @ d.K - d.L @ d.C - np.eye(n)])
    rhs = -np.vstack([Ed, d.L @ Cp])
    x = np.linalg.solve(np.vstack([top, bottom]), rhs)[:n]
    return d.C @ x + Cp


def estimating_design(task: Task, d):
    """The design `d` (`validation.lqg.design`) augmented with the varying parameters' observable
    combinations as states; returns `(design, names, directions)`: the parameters that act at the
    operating point, and the matrix mapping the filter's parameter states to their deviations."""
    pl = task.plant
    n, m = pl.nx, pl.nu
    varying = [i for i, q in enumerate(pl.parameters) if q.name in task.varying_parameters]
    if not varying:
        raise LQGError(f"task {task.name!r}: no parameter varies from trajectory to trajectory, so there is nothing to estimate")
    lin = linearize(task, d.x_op, d.u_op, d.p, d.r0, parameters=[pl.parameters[i].name for i in varying])
    A, B, E_all, Cp_all = lin.A, lin.B, lin.E, lin.Cp
    keep, Xp, Up = [], [], []
    for j, i in enumerate(varying):
        if np.any(np.abs(E_all[:, j]) > 1e-12) or np.any(np.abs(Cp_all[:, j]) > 1e-12):
            dx, du = _equilibrium_slope(task, d, i)  # two equilibrium solves: only for the parameters kept
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
    # Whitened parameters: dp = std * eta, eta ~ (0, I) a priori.
    std = np.sqrt([task.parameter_distribution[i].variance for i in idx])
    E, Cp = E_all[:, keep] * std, Cp_all[:, keep] * std
    Xp, Up = np.array(Xp).T.reshape(n, k) * std, np.array(Up).T.reshape(m, k) * std
    if pl.time == "continuous":
        Z = np.zeros((n + k + m, n + k + m))
        Z[:n, :n], Z[:n, n : n + k], Z[:n, n + k :] = A, E, B
        M = scipy.linalg.expm(Z * d.dt)
        Ad, Ed, Bd = M[:n, :n], M[:n, n : n + k], M[:n, n + k :]
    else:
        Ad, Ed, Bd = A, E, B
    # The combinations of parameters to estimate: those that move the measured outputs at steady
    # state under the nominal loop (lqg-ss: plant, predictor, gain), the offsets the filter must
    # explain; at most one per output, so the loop with the estimator has one equilibrium (more
    # would leave a line of them, along which nothing pins the estimate).
    G = _steady_offsets(d, Ad, Ed, Bd, Cp)
    _, sv, Vt = np.linalg.svd(G)
    q = int(np.sum(sv > 1e-6 * sv[0])) if sv.size and sv[0] > 0 else 0
    if q == 0:
        raise LQGError(
            f"task {task.name!r}: the varying parameters move no measured output at steady state, so the filter cannot "
            "tell them from the nominal values"
        )
    V = Vt[:q].T
    zeros = np.zeros
    # The parameters may drift by their prior spread over one horizon: the filter's gain does not
    # vanish, the estimate follows slow change, and the filter has a steady state.
    drift = (d.dt / task.horizon) * np.eye(q)
    Aa = np.block([[Ad, Ed @ V], [zeros((q, n)), np.eye(q)]])
    Ca = np.hstack([d.C, Cp @ V])
    Wa = scipy.linalg.block_diag(d.W, drift)
    try:
        L, P_ss, _ = control.dlqe(Aa, np.eye(n + q), Ca, Wa, d.V)
    except Exception as err:  # python-control raises several kinds for undetectable pairs
        raise LQGError(
            f"task {task.name!r}: the filter estimating the parameters has no steady state: {' '.join(str(err).split())}"
        ) from None
    augmented = dataclasses.replace(
        d,
        Ad=Aa,
        Bd=np.vstack([Bd, zeros((q, m))]),
        C=Ca,
        # u - u_op(dp) = -K (x - x_op(dp)): K on the state, -(Up + K Xp) on the parameters.
        K=np.hstack([d.K, -(Up + d.K @ Xp) @ V]),
        Q=scipy.linalg.block_diag(d.Q, zeros((q, q))),
        Qd=scipy.linalg.block_diag(d.Qd, zeros((q, q))),
        Nd=np.vstack([d.Nd, zeros((q, m))]),
        W=Wa,
        L=np.asarray(L, float).reshape(n + q, -1),
        P_ss=np.asarray(P_ss, float),
        P0=scipy.linalg.block_diag(d.P0, np.eye(q)),
        xhat0=np.concatenate([d.xhat0, zeros(q)]),
        x_op=np.concatenate([d.x_op, zeros(q)]),
        dx_dr=np.vstack([d.dx_dr, zeros((q, d.dx_dr.shape[1]))]),
    )
    # dp = directions @ theta, theta the filter's parameter states (rows: the parameters)
    return augmented, tuple(pl.parameters[i].name for i in idx), std[:, None] * V


__all__ = ["estimating_design"]
