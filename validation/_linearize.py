"""The closed loop linearised at its equilibrium: the policy's tick map (exact Jacobians through
CasADi) around the plant discretised with a zero-order hold (`expm` of the plant's exact Jacobians)
at the control period. `validation._margins` breaks this loop at the plant input for the margins;
the screen and the box checks use its spectral radius."""

from __future__ import annotations

import math

import casadi as ca
import numpy as np
from scipy.optimize import least_squares

from plants import Task, to_casadi
from synth import SymbolicPolicy

from ._closedloop import build_closed_loop, controller_step


class NoEquilibrium(RuntimeError):
    """The closed loop has no equilibrium near the operating point; the margins do not apply."""


def expm(M: np.ndarray) -> np.ndarray:
    """The matrix exponential by scaling and squaring of its Taylor series (numpy only).

    Used for the zero-order hold instead of `scipy.linalg.expm`, whose LAPACK calls go through
    scipy's own threaded OpenBLAS: on a loaded 2-core machine each call of a 4x4 took 6-16 ms
    (20 us with one BLAS thread), which the vertex checks pay hundreds of times. Scaled to a
    1-norm <= 1/4, 16 terms leave a remainder below 1e-22."""
    M = np.asarray(M, float)
    n = M.shape[0]
    norm = float(np.max(np.sum(np.abs(M), axis=0))) if n else 0.0
    s = max(0, math.ceil(math.log2(norm / 0.25))) if norm > 0.25 and math.isfinite(norm) else 0
    X = M / 2.0**s
    E = np.eye(n)
    term = np.eye(n)
    for k in range(1, 17):
        term = term @ X / k
        E = E + term
    for _ in range(s):
        E = E @ E
    return E


class LoopLinearizer:
    """Equilibria and linearisations of one policy on one task at any parameters and targets.

    The CasADi Functions (noise-free closed loop, equilibrium residual, plant and controller
    Jacobians) take the parameters and targets as inputs, so they are built once and evaluated at
    every vertex of a parameter box for the price of a simulation and a few Newton steps each.
    """

    def __init__(self, task: Task, policy: SymbolicPolicy, settle_ticks: int | None = None):
        pl = task.plant
        self.task, self.policy = task, policy
        self.settle_ticks = int(settle_ticks or max(task.n_ticks, 500))
        self._cl = None
        fns = to_casadi(task)
        step = controller_step(policy)
        xs, zs, us = ca.SX.sym("x", pl.nx), ca.SX.sym("z", policy.nz), ca.SX.sym("u", pl.nu)
        ps, rs, ys = ca.SX.sym("p", pl.np_), ca.SX.sym("r", task.nr), ca.SX.sym("y", task.ny)
        y = fns["observe"](xs, ps)
        u, z_next = step(zs, y, rs)
        f = fns["dynamics"](xs, u, ps)
        res = ca.vertcat(f if pl.time == "continuous" else f - xs, z_next - zs)
        w = ca.vertcat(xs, zs)
        self._residual = ca.Function("residual", [w, ps, rs], [res, ca.jacobian(res, w), u])
        fu = fns["dynamics"](xs, us, ps)
        self._plant = ca.Function("plant_jac", [xs, us, ps], [ca.jacobian(fu, xs), ca.jacobian(fu, us), ca.jacobian(y, xs), y])
        a, zn = step(zs, ys, rs)
        # the tick's own command is fed back inside it, so d z_next/dz already holds Fz + Fu Gz
        self._ctrl = ca.Function(
            "ctrl_jac", [zs, ys, rs], [ca.jacobian(a, zs), ca.jacobian(a, ys), ca.jacobian(zn, zs), ca.jacobian(zn, ys)]
        )

    def _defaults(self, p, r):
        t = self.task
        return (
            t.nominal_parameters if p is None else np.asarray(p, float),
            t.nominal_target if r is None else np.asarray(r, float),
        )

    def settle(self, x_guess, p=None, r=None) -> tuple[np.ndarray, np.ndarray]:
        """The state `(x, z)` after `settle_ticks` noise-free ticks from `x_guess`."""
        p, r = self._defaults(p, r)
        if self._cl is None:
            self._cl = build_closed_loop(self.task, self.policy, ticks=self.settle_ticks)
        out = self._cl.run(x_guess, r, p)
        return out["x"][-1], out["z"][-1]

    def newton(self, x0, z0, p=None, r=None):
        """Newton on exact Jacobians from `(x0, z0)` (least squares when Newton stalls):
        `(x*, z*, u*)`, or NoEquilibrium."""
        p, r = self._defaults(p, r)
        nx = self.task.plant.nx
        w = np.concatenate([x0, z0]).astype(float)
        with np.errstate(all="ignore"):
            for _ in range(30):  # plain Newton converges in a few steps from a settled state
                res, jac, _ = (np.asarray(m, float) for m in self._residual(w, p, r))
                res = res.ravel()
                scale = max(1.0, float(np.max(np.abs(w)))) if w.size else 1.0
                if not np.all(np.isfinite(res)) or float(np.max(np.abs(res), initial=0.0)) <= 1e-12 * scale:
                    break
                try:
                    w = w - np.linalg.solve(jac.reshape(w.size, w.size), res)
                except np.linalg.LinAlgError:
                    break
            resid = float(np.max(np.abs(np.asarray(self._residual(w, p, r)[0])), initial=0.0))
            if not resid <= 1e-9 * max(1.0, float(np.max(np.abs(w), initial=0.0))):
                sol = least_squares(
                    lambda v: np.asarray(self._residual(v, p, r)[0]).ravel(),
                    np.concatenate([x0, z0]),
                    jac=lambda v: np.asarray(self._residual(v, p, r)[1]),
                    xtol=1e-15,
                    ftol=1e-15,
                    gtol=1e-15,
                )
                w = sol.x
        resid = float(np.max(np.abs(np.asarray(self._residual(w, p, r)[0])), initial=0.0))
        scale = max(1.0, float(np.max(np.abs(w), initial=0.0)))
        if not resid <= 1e-7 * scale:
            raise NoEquilibrium(f"no closed-loop equilibrium near the settled state (residual {resid:.3g})")
        ue = np.asarray(self._residual(w, p, r)[2]).ravel()
        return w[:nx], w[nx:], ue

    def equilibrium(self, x_guess, p=None, r=None):
        """The noise-free closed-loop equilibrium reached from `x_guess` (see `equilibrium`)."""
        x0, z0 = self.settle(x_guess, p, r)
        if not (np.all(np.isfinite(x0)) and np.all(np.isfinite(z0))):
            raise NoEquilibrium("the noise-free closed loop diverges from the operating point")
        xe, ze, ue = self.newton(x0, z0, p, r)
        # A loop at rest needs a small Newton correction; a loop still running away does not settle,
        # and Newton from where it got to can land on a far, meaningless root (a levitated ball's
        # gap at 1e19 m): that is no equilibrium reached from the operating point.
        w0, w = np.concatenate([x0, z0]), np.concatenate([xe, ze])
        if float(np.max(np.abs(w - w0), initial=0.0)) > 0.5 * max(1.0, float(np.max(np.abs(w0), initial=0.0))):
            raise NoEquilibrium("the noise-free closed loop does not settle from the operating point")
        return xe, ze, ue

    def linearize(self, xe, ze, ue, p=None, r=None) -> dict:
        """The loop's matrices at `(xe, ze, ue)` (see `linearize_loop`)."""
        p, r = self._defaults(p, r)
        pl, task = self.task.plant, self.task
        nx, nu, ny, nz = pl.nx, pl.nu, task.ny, self.policy.nz
        A, B, Cp, ye = (np.asarray(m, float) for m in self._plant(xe, ue, p))
        A, B, Cp = A.reshape(nx, nx), B.reshape(nx, nu), Cp.reshape(ny, nx)
        dt = task.dt
        if pl.time == "continuous":
            M = np.zeros((nx + nu, nx + nu))
            M[:nx, :nx], M[:nx, nx:] = A, B
            E = expm(M * dt)
            Ad, Bd = E[:nx, :nx], E[:nx, nx:]
        else:
            Ad, Bd = A, B
        Gz, Gy, Ak, Bk = (np.asarray(m, float) for m in self._ctrl(ze, ye.ravel(), r))
        return {
            "Ad": Ad,
            "Bd": Bd,
            "Cp": Cp,
            "Ak": Ak.reshape(nz, nz),
            "Bk": Bk.reshape(nz, ny),
            "Ck": Gz.reshape(nu, nz),
            "Dk": Gy.reshape(nu, ny),
            "dt": dt,
        }

    def spectral_radius(self, x_guess, p=None, r=None, fallback=None) -> dict:
        """Largest |eigenvalue| of the linearised discrete closed loop at the equilibrium reached from
        `x_guess` with parameters `p`. When the noise-free loop diverges (or settles nowhere), Newton
        from `fallback` (an `(x, z)` pair, e.g. the nominal equilibrium) looks for the equilibrium it
        left: an unstable one then gets its spectral radius. Returns `radius` (inf when no
        equilibrium is found), `how` and, if none, `reason`."""
        try:
            xe, ze, ue = self.equilibrium(x_guess, p, r)
            how = "settled"
        except NoEquilibrium as err:
            if fallback is None:
                return {"radius": math.inf, "how": "none", "reason": str(err)}
            try:
                xe, ze, ue = self.newton(*fallback, p, r)
                how = "Newton from the nominal equilibrium"
            except NoEquilibrium as err2:
                return {"radius": math.inf, "how": "none", "reason": f"{err}; {err2}"}
        eig = np.linalg.eigvals(closed_loop_matrix(self.linearize(xe, ze, ue, p, r)))
        rho = float(np.max(np.abs(eig))) if eig.size else 0.0
        return {"radius": rho if math.isfinite(rho) else math.inf, "how": how, "x": xe.tolist(), "z": ze.tolist()}


def equilibrium(task: Task, policy: SymbolicPolicy, x_guess, p=None, r=None, settle_ticks: int | None = None):
    """The noise-free closed-loop equilibrium `(x*, z*, u*)` reached from `x_guess`: a noise-free
    simulation settles it, then Newton (least squares on exact Jacobians) makes it exact."""
    return LoopLinearizer(task, policy, settle_ticks).equilibrium(x_guess, p, r)


def linearize_loop(task: Task, policy: SymbolicPolicy, xe, ze, ue, p=None, r=None) -> dict:
    """Plant (ZOH) and controller matrices at the equilibrium: plant `x+ = Ad x + Bd u, y = Cp x`;
    controller `z+ = Ak z + Bk y, u = Ck z + Dk y` (its own command fed back internally)."""
    return LoopLinearizer(task, policy).linearize(xe, ze, ue, p, r)


def closed_loop_matrix(lin: dict) -> np.ndarray:
    """The discrete closed-loop matrix of (x, z)."""
    Ad, Bd, Cp, Ak, Bk, Ck, Dk = (lin[k] for k in ("Ad", "Bd", "Cp", "Ak", "Bk", "Ck", "Dk"))
    top = np.hstack([Ad + Bd @ Dk @ Cp, Bd @ Ck])
    bottom = np.hstack([Bk @ Cp, Ak])
    return np.vstack([top, bottom])
