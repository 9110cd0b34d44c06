"""Parts of the LQG designs that `validation.lqg` (lqg, lqg-ss), `validation._integral` (lqg-i) and
`validation._estimating` (lqg-p) share: the error type, Van Loan's integrals of the cost and the
process noise over one zero-order-hold period, the operating point's slope, weights from the task
file, and numbers written as expressions."""

from __future__ import annotations

import numpy as np
import scipy.linalg
import sympy as sp

from plants import UserInputError, operating_point


class LQGError(UserInputError):
    """LQG cannot be designed for this task; the message says why and what to set."""


def equilibrium_slope(task, r, p, dr, dp) -> tuple[np.ndarray, np.ndarray]:
    """`(x_op, u_op)` differentiated along the step `(dr, dp)` in targets and parameters, by central
    differences: the change per step, not per unit."""
    xp, up = operating_point(task, r + dr, p + dp)
    xm, um = operating_point(task, r - dr, p - dp)
    return (xp - xm) / 2, (up - um) / 2


def van_loan_cost(A, B, W, dt):
    """Integrate the quadratic weight W on (x, u) over one ZOH period: returns the (n+m) block."""
    n, m = B.shape
    F = np.zeros((n + m, n + m))
    F[:n, :n] = A
    F[:n, n:] = B
    M = np.zeros((2 * (n + m), 2 * (n + m)))
    M[: n + m, : n + m] = -F.T
    M[: n + m, n + m :] = W
    M[n + m :, n + m :] = F
    E = scipy.linalg.expm(M * dt)
    E22 = E[n + m :, n + m :]
    E12 = E[: n + m, n + m :]
    Wd = E22.T @ E12
    return (Wd + Wd.T) / 2


def van_loan_noise(A, GGt, dt):
    """The covariance over one period of the state noise of intensity `GGt` (white, continuous)."""
    n = A.shape[0]
    M = np.zeros((2 * n, 2 * n))
    M[:n, :n] = -A
    M[:n, n:] = GGt
    M[n:, n:] = A.T
    E = scipy.linalg.expm(M * dt)
    Phi_T = E[n:, n:]
    Wd = Phi_T.T @ E[:n, n:]
    return (Wd + Wd.T) / 2


def weight(value, n, default):
    if value is None:
        return default
    a = np.asarray(value, float)
    return np.diag(a) if a.ndim == 1 else a.reshape(n, n)


def num(v: float) -> sp.Expr:
    return sp.Float(float(v))


def matrix(a: np.ndarray) -> sp.Matrix:
    a = np.atleast_2d(a)
    return sp.Matrix(a.shape[0], a.shape[1], [num(v) for v in a.ravel()])


def affine_in_r(value0: np.ndarray, slope: np.ndarray, r: sp.Matrix, r0: np.ndarray) -> sp.Matrix:
    """`value0 + slope (r - r0)` as expressions `a + b r`, computed numerically first.

    Offsets that vanish in theory (an equilibrium maps to itself) come out as rounding noise of the
    difference `value0 - slope r0` (the slope is a central difference, good to about 1e3 eps: up to
    1.4e-12 of the terms' size over sho/varying's test set, designed at each target). Entries below
    1e-9 of their own row's size are dropped, far under float32's resolution of the terms they
    join, so designs at different parameters and targets share one structure.
    """
    value0 = np.asarray(value0, float).reshape(-1)
    slope = np.asarray(slope, float).reshape(value0.size, -1)
    a = value0 - (slope @ r0 if r0.size else 0.0)
    size = np.maximum(np.abs(value0), np.abs(slope) @ np.abs(r0) if r0.size else 0.0)  # per row: the terms that cancel
    size = np.maximum(size, np.max(np.abs(slope), axis=1, initial=0.0))
    cut = np.maximum(1e-9 * size, 1e-12)  # (and, as before, anything under 1e-12)
    a = np.where(np.abs(a) < cut, 0.0, a)
    b = np.where(np.abs(slope) < cut[:, None], 0.0, slope)
    out = []
    for i in range(value0.size):
        e = num(a[i]) if a[i] != 0.0 else sp.Integer(0)
        for j in range(r.shape[0]):
            if b[i, j] != 0.0:
                e = e + num(b[i, j]) * r[j]
        out.append(e)
    return sp.Matrix(out)
