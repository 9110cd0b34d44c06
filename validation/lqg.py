"""LQG for a task, designed with python-control and returned as a `SymbolicPolicy`.

Design (all at the operating point that holds the task's nominal target, nominal parameters):

* linearise the plant, observation and stage cost exactly (`plants.linearize`);
* discretise for the control period with a zero-order hold (`expm`), and integrate the quadratic
  cost over one period (Van Loan), giving `Qd`, `Rd`, `Nd`; discrete-time plants are used as is;
* `control.dlqr` gives the state-feedback gain `K`;
* process-noise covariance per tick from the diffusion (Van Loan), measurement-noise covariance
  per tick `diag(sigma^2)` (the simulator draws one observation per tick).

The Kalman filter is in **predictor form**: the latent state is the estimate `x̂(k|k-1)` made
before `y_k` is read, and `u_k = u_op(r) - K (x̂(k|k-1) - x_op(r))`. This is the form a symctl
dynamic policy can express (its readout sees the latent state and targets, not `y_k`), and the
one `control.dlqe` returns the gain of (`A P Cᵀ (C P Cᵀ + R)⁻¹`). After reading `y_k` the filter
corrects and predicts: `x̂(k+1|k) = x_op + Ad (x̂(k|k) - x_op) + Bd (u_k - u_op)`.

Two variants of the filter:

* `lqg` (time-varying): the filter starts from the task's initial-state distribution (prior mean
  and covariance) and its covariance is propagated as part of the latent state (the upper triangle
  of `P`), with the Riccati update written out symbolically (measurements processed one at a time,
  exact for the diagonal measurement noise of symctl tasks). The latent map is discrete
  (`integrator = "discrete"`).
* `lqg-ss`: the textbook steady-state filter (constant predictor gain), latent = estimate.

Where parameters vary per trajectory, `lqg-i` adds integral action on the outputs whose set point
the parameters do not move (`validation._integral`), and `lqg-p` is `lqg` whose filter also
estimates the varying parameters, starting from their distribution (`validation._estimating`).

Targets: the operating point is affine in the targets for linear plants, and `x_op(r)`, `u_op(r)`
are written into the policy to first order around the nominal target (exact when affine).
"""

from __future__ import annotations

import dataclasses

import control
import numpy as np
import scipy.linalg
import sympy as sp

from plants import Task, linearize, lower, operating_point, symbol
from synth import SymbolicPolicy

from ._estimating import estimating_design
from ._integral import integral_policy
from ._lqg_parts import LQGError, affine_in_r, equilibrium_slope, matrix, num, van_loan_cost, van_loan_noise, weight

VARIANTS = ("lqg", "lqg-ss", "lqg-i", "lqg-p")


@dataclasses.dataclass(frozen=True)
class LQGDesign:
    """The numbers of an LQG design (discrete time, deviation coordinates around the operating point)."""

    Ad: np.ndarray
    Bd: np.ndarray
    C: np.ndarray
    K: np.ndarray  # u - u_op = -K (x - x_op)
    Q: np.ndarray  # the stage cost's weight on the states the design used (per second for a continuous plant)
    Qd: np.ndarray
    Rd: np.ndarray
    Nd: np.ndarray
    W: np.ndarray  # process-noise covariance per tick
    V: np.ndarray  # measurement-noise covariance per tick
    L: np.ndarray  # steady-state predictor gain
    P_ss: np.ndarray  # steady-state prediction-error covariance (the Riccati solution behind L)
    P0: np.ndarray  # prior covariance of x0
    xhat0: np.ndarray  # prior mean of x0
    x_op: np.ndarray
    u_op: np.ndarray
    y_op: np.ndarray
    dx_dr: np.ndarray  # d x_op / d r
    du_dr: np.ndarray
    r0: np.ndarray
    p: np.ndarray
    dt: float

    @property
    def A_cl_state(self) -> np.ndarray:
        return self.Ad - self.Bd @ self.K

    @property
    def A_cl_estimator(self) -> np.ndarray:
        return self.Ad - self.L @ self.C


def design(task: Task, p=None, r=None) -> LQGDesign:
    """The LQG design for `task` at parameters `p` and target `r` (defaults: nominal)."""
    pl = task.plant
    if pl.nu == 0:
        raise LQGError(f"task {task.name!r}: the plant has no inputs")
    if task.ny == 0:
        raise LQGError(f"task {task.name!r}: nothing is observed")
    p = task.nominal_parameters if p is None else np.asarray(p, float)
    r0 = task.nominal_target if r is None else np.asarray(r, float)
    x_op, u_op = operating_point(task, r0, p)
    lin = linearize(task, x_op, u_op, p, r0)
    Q, R, N = lin.Q, lin.R, lin.N
    if "Q" in task.lqg or "R" in task.lqg:
        Q = weight(task.lqg.get("Q"), pl.nx, Q)
        R = weight(task.lqg.get("R"), pl.nu, R)
        N = np.zeros_like(N)
    Q = (Q + Q.T) / 2
    R = (R + R.T) / 2
    if np.min(np.linalg.eigvalsh(R)) <= 0:
        raise LQGError(
            f"task {task.name!r}: the stage cost has no positive-definite input weight at the operating point "
            f"(R = {R.tolist()}); add [task.lqg] Q = [...] and R = [...] to the task file"
        )
    if not np.any(Q):
        raise LQGError(
            f"task {task.name!r}: the stage cost weights no state at the operating point (its Hessian Q is zero), "
            f"so LQR is undefined; add [task.lqg] Q = [...] and R = [...] to the task file"
        )
    dt = task.dt
    if pl.time == "continuous":
        n, m = lin.A.shape[0], lin.B.shape[1]
        F = np.zeros((n + m, n + m))
        F[:n, :n] = lin.A
        F[:n, n:] = lin.B
        E = scipy.linalg.expm(F * dt)
        Ad, Bd = E[:n, :n], E[:n, n:]
        Wd = van_loan_cost(lin.A, lin.B, np.block([[Q, N], [N.T, R]]), dt)
        Qd, Nd, Rd = Wd[:n, :n], Wd[:n, n:], Wd[n:, n:]
        g = task.process_noise * np.array(lower(pl.diffusion, [pl.p], "numpy")(p), dtype=float).reshape(n)
        W = van_loan_noise(lin.A, np.diag(g**2), dt)
    else:
        Ad, Bd, Qd, Rd, Nd = lin.A, lin.B, Q, R, N
        g = task.process_noise * np.array(lower(pl.diffusion, [pl.p], "numpy")(p), dtype=float).reshape(pl.nx)
        W = np.diag(g**2)
    # A floor of 1e-12 on both covariances keeps the filter defined on noise-free tasks.
    W = W + 1e-12 * np.eye(pl.nx)
    V = np.diag(np.maximum(task.observation_noise**2, 1e-12))
    try:
        K, _, _ = control.dlqr(Ad, Bd, Qd, Rd, Nd)
    except Exception as err:  # python-control raises several kinds for unstabilisable pairs
        raise LQGError(
            f"task {task.name!r}: discrete LQR has no solution at the operating point: {' '.join(str(err).split())}"
        ) from None
    K = np.asarray(K, float).reshape(pl.nu, pl.nx)
    C = lin.C
    try:
        L, P_ss, _ = control.dlqe(Ad, np.eye(pl.nx), C, W, V)
    except Exception as err:
        raise LQGError(
            f"task {task.name!r}: the steady-state Kalman filter has no solution: {' '.join(str(err).split())}"
        ) from None
    L = np.asarray(L, float).reshape(pl.nx, task.ny)
    xhat0 = np.array([d.mean for d in task.initial_state], dtype=float)
    P0 = np.diag([d.variance for d in task.initial_state])
    y_op = np.array(lower([o.expr for o in task.observations], [pl.x, pl.p], "numpy")(x_op, p), dtype=float).reshape(task.ny)
    dx_dr, du_dr = _operating_point_slope(task, r0, p, x_op, u_op)
    return LQGDesign(
        Ad=Ad,
        Bd=Bd,
        C=C,
        K=K,
        Q=Q,
        Qd=Qd,
        Rd=Rd,
        Nd=Nd,
        W=W,
        V=V,
        L=L,
        P_ss=np.asarray(P_ss, float),
        P0=P0,
        xhat0=xhat0,
        x_op=x_op,
        u_op=u_op,
        y_op=y_op,
        dx_dr=dx_dr,
        du_dr=du_dr,
        r0=r0,
        p=p,
        dt=dt,
    )


def _operating_point_slope(task, r0, p, x_op, u_op):
    nr = task.nr
    dx = np.zeros((task.plant.nx, nr))
    du = np.zeros((task.plant.nu, nr))
    for j in range(nr):
        step = 1e-3 * max(1.0, abs(r0[j]))
        dr = np.zeros(nr)
        dr[j] = step
        sx, su = equilibrium_slope(task, r0, p, dr, np.zeros_like(p))
        dx[:, j], du[:, j] = sx / step, su / step
    # Central differences are exact for affine operating points up to rounding: drop the rounding.
    dx[np.abs(dx) < 1e-10] = 0.0
    du[np.abs(du) < 1e-10] = 0.0
    return dx, du


def _latent_names(n: int, with_covariance: bool) -> tuple[list[str], list[tuple[int, int]]]:
    names = [f"xhat{i}" for i in range(n)]
    pairs = []
    if with_covariance:
        for i in range(n):
            for j in range(i, n):
                names.append(f"P{i}_{j}")
                pairs.append((i, j))
    return names, pairs


def policy_from_design(
    task: Task,
    d: LQGDesign,
    variant: str = "lqg",
    k_scale: np.ndarray | None = None,
    l_scale: np.ndarray | None = None,
) -> SymbolicPolicy:
    """The LQG controller of design `d` as a `SymbolicPolicy` for `task`.

    `k_scale` (nu, nx) and `l_scale` (nx, ny) multiply the state-feedback gain and the Kalman gain
    (the whole time-varying gain sequence for `lqg`) elementwise: used to show that the design is
    optimal, since every such perturbation must cost more. When given, the factors appear in the
    expressions even where they are 1, so all perturbed policies share one structure.
    """
    if variant not in VARIANTS:
        raise LQGError(f"unknown LQG variant {variant!r}; valid: {', '.join(VARIANTS)}")
    if variant == "lqg-i":
        if k_scale is not None or l_scale is not None:
            raise LQGError("k_scale and l_scale apply to lqg and lqg-ss, not lqg-i")
        return integral_policy(task, d, policy_from_design(task, d, "lqg-ss"))
    if variant == "lqg-p":
        if k_scale is not None or l_scale is not None:
            raise LQGError("k_scale and l_scale apply to lqg and lqg-ss, not lqg-p")
        augmented, estimated, directions = estimating_design(task, d)
        policy = policy_from_design(task, augmented, "lqg")
        provenance = dict(policy.provenance) | {
            "method": "lqg-p",
            "estimated_parameters": list(estimated),
            "parameter_directions": directions.tolist(),
        }
        return dataclasses.replace(policy, provenance=provenance)
    pl = task.plant
    n, ny = d.Ad.shape[0], task.ny
    y = sp.Matrix([symbol(o.name) for o in task.observations])
    r = sp.Matrix(list(task.r)) if task.nr else sp.zeros(0, 1)
    u = sp.Matrix(list(pl.u))
    names, pairs = _latent_names(n, variant == "lqg")
    z = [symbol(s) for s in names]
    xhat = sp.Matrix(z[:n])
    I = np.eye(n)
    Ad, Bd, C = matrix(d.Ad), matrix(d.Bd), matrix(d.C)
    K_num = d.K if k_scale is None else d.K * np.asarray(k_scale, float).reshape(d.K.shape)
    K = matrix(K_num)
    scale_l = None if l_scale is None else matrix(np.asarray(l_scale, float).reshape(n, ny))
    # Readout u = u_op(r) - K (xhat - x_op(r)) = -K xhat + (u_op + K x_op)(r).
    g = -K * xhat + affine_in_r(d.u_op + K_num @ d.x_op, d.du_dr + K_num @ d.dx_dr, r, d.r0)
    # Prediction x_op + Ad (xf - x_op) + Bd (u - u_op) = Ad xf + Bd u + ((I - Ad) x_op - Bd u_op)(r).
    drift = affine_in_r((I - d.Ad) @ d.x_op - d.Bd @ d.u_op, (I - d.Ad) @ d.dx_dr - d.Bd @ d.du_dr, r, d.r0)
    # Predicted observation y_op + C (x - x_op) = C x + (y_op - C x_op)(r).
    y_off = affine_in_r(d.y_op - d.C @ d.x_op, np.zeros((ny, d.r0.size)), r, d.r0)

    if variant == "lqg-ss":
        innov = y - (C * xhat + y_off)
        L = matrix(d.L) if scale_l is None else matrix(d.L).multiply_elementwise(scale_l)
        xnext = Ad * xhat + Bd * u + drift + L * innov
        f = list(xnext)
        init = list(d.xhat0)
    else:
        P = sp.zeros(n, n)
        for s, (i, j) in zip(z[n:], pairs):
            P[i, j] = s
            P[j, i] = s
        xf = xhat
        for i in range(ny):  # measurement updates, one scalar observation at a time
            c = C[i, :]
            S = (c * P * c.T)[0, 0] + num(d.V[i, i])
            m = P * c.T / S
            pred = (c * xf)[0, 0] + y_off[i]
            gain = m if scale_l is None else m.multiply_elementwise(scale_l[:, i])
            xf = xf + gain * (y[i] - pred)
            P = P - m * (c * P)
        xnext = Ad * xf + Bd * u + drift
        Pnext = Ad * P * Ad.T + matrix(d.W)
        f = list(xnext) + [Pnext[i, j] for i, j in pairs]
        init = list(d.xhat0) + [d.P0[i, j] for i, j in pairs]

    limits = task.input_limits
    return SymbolicPolicy(
        observations=tuple(o.name for o in task.observations),
        targets=task.targets,
        latent=tuple(names),
        controls=pl.inputs,
        f=tuple(f),
        g=tuple(g),
        dt=task.dt,
        integrator="discrete",
        input_limits=limits,
        latent_init=tuple(float(v) for v in init),
        provenance={
            "task": task.name,
            "method": variant,
            "filter": "time-varying Kalman, predictor form" if variant == "lqg" else "steady-state Kalman, predictor form",
            "K": d.K.tolist(),
            "L_steady_state": d.L.tolist(),
            "operating_point": {"x": d.x_op.tolist(), "u": d.u_op.tolist(), "r": d.r0.tolist()},
            "parameters": d.p.tolist(),
        },
    )


def lqg(task: Task, variant: str = "lqg", p=None, r=None) -> SymbolicPolicy:
    """Design LQG for `task` and return it as a `SymbolicPolicy` (`variant`: "lqg", "lqg-ss", or
    "lqg-i", the steady-state one with integral action, `validation._integral`, or "lqg-p", `lqg`
    estimating the varying parameters too, `validation._estimating`)."""
    return policy_from_design(task, design(task, p, r), variant)


def closed_loop_matrix(task: Task, policy: SymbolicPolicy, d: LQGDesign) -> np.ndarray:
    """The discrete closed loop of the linearised plant with the policy's (linearised) latent map,
    in deviation coordinates (x, xhat): used to check the separation principle on the policy itself."""
    pl = task.plant
    n = pl.nx
    if policy.integrator != "discrete":
        raise LQGError("closed_loop_matrix expects a discrete-latent policy")
    zs = policy.z[:n]
    at = dict(zip(policy.z, policy.latent_init)) | dict(zip(policy.y, d.y_op)) | dict(zip(policy.r, d.r0))
    at |= dict(zip(policy.z[:n], d.x_op)) | dict(zip(policy.u, d.u_op))
    if len(policy.z) > n:  # covariance part: freeze at the steady state
        P_ss = d.P_ss
        _, pairs = _latent_names(n, True)
        at |= {s: P_ss[i, j] for s, (i, j) in zip(policy.z[n:], pairs)}

    def jac(exprs, syms):
        M = sp.Matrix(exprs).jacobian(sp.Matrix(syms))
        return np.array(M.subs(at).evalf(), dtype=float)

    Fz = jac(policy.f[:n], zs)
    Fy = jac(policy.f[:n], policy.y)
    Fu = jac(policy.f[:n], policy.u)
    Gz = jac(policy.g, zs)
    # u = Gz xhat; xhat+ = Fz xhat + Fy y + Fu u; x+ = Ad x + Bd u; y = C x
    top = np.hstack([d.Ad, d.Bd @ Gz])
    bottom = np.hstack([Fy @ d.C, Fz + Fu @ Gz])
    return np.vstack([top, bottom])


__all__ = [
    "LQGDesign",
    "LQGError",
    "VARIANTS",
    "closed_loop_matrix",
    "design",
    "lqg",
    "policy_from_design",
]
