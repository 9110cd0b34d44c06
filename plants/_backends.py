"""Backends derived from the one symbolic plant: JAX, CasADi, numpy, and exact linearisation."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import sympy as sp

from ._equilibrium import equilibrium_input  # noqa: F401  (re-exported by plants)
from ._model import ModelError, Task, symbol
from ._translate import lower


@dataclasses.dataclass(frozen=True)
class PlantFunctions:
    """The plant's functions in one backend, signatures in the `(t, x, u, p)` convention.

    `dynamics(t, x, u, p)` is dx/dt (continuous) or x+ (discrete); `diffusion(p)` the per-state
    noise gain; `observe(x, p)` the noise-free observation; `stage_cost(x, u, r, p)`;
    `terminate(x, r, p)` the termination rule (or None); `success(x, r, p)` (or None).
    """

    dynamics: Callable[..., Any]
    diffusion: Callable[..., Any]
    observe: Callable[..., Any]
    stage_cost: Callable[..., Any]
    terminate: Callable[..., Any] | None
    success: Callable[..., Any] | None


def _functions(task: Task, backend: str, stack: Callable[[list], Any]) -> PlantFunctions:
    pl = task.plant
    x, u, p, r = pl.x, pl.u, pl.p, task.r
    dyn = lower(pl.dynamics, [x, u, p], backend)
    dif = lower(pl.diffusion, [p], backend)
    obs = lower([o.expr for o in task.observations], [x, p], backend)
    cost = lower([task.cost.stage], [x, u, r, p], backend)
    term = lower([task.cost.terminate_when], [x, r, p], backend) if task.cost.terminate_when is not None else None
    succ = lower([task.success.condition], [x, r, p], backend) if task.success is not None else None
    return PlantFunctions(
        dynamics=lambda t, xv, uv, pv: stack(dyn(xv, uv, pv)),
        diffusion=lambda pv: stack(dif(pv)),
        observe=lambda xv, pv: stack(obs(xv, pv)),
        stage_cost=lambda xv, uv, rv, pv: cost(xv, uv, rv, pv)[0],
        terminate=(lambda xv, rv, pv: term(xv, rv, pv)[0]) if term else None,
        success=(lambda xv, rv, pv: succ(xv, rv, pv)[0]) if succ else None,
    )


def to_jax(task: Task) -> PlantFunctions:
    """JAX functions of the task's plant (jit-, vmap- and grad-able). Vectors are last-axis."""
    import jax.numpy as jnp

    def stack(items):
        items = [jnp.asarray(i) for i in items]
        shape = jnp.broadcast_shapes(*[i.shape for i in items]) if items else ()
        return jnp.stack([jnp.broadcast_to(i, shape) for i in items], axis=-1)

    return _functions(task, "jax", stack)


def to_numpy(task: Task) -> PlantFunctions:
    """numpy functions of the task's plant: the reference the other backends are tested against."""

    def stack(items):
        items = [np.asarray(i, dtype=float) for i in items]
        shape = np.broadcast_shapes(*[i.shape for i in items]) if items else ()
        return np.stack([np.broadcast_to(i, shape) for i in items], axis=-1)

    return _functions(task, "numpy", stack)


def to_casadi(task: Task) -> dict[str, Any]:
    """CasADi SX Functions of the task's plant: `dynamics(x,u,p)`, `diffusion(p)`, `observe(x,p)`,
    `stage_cost(x,u,r,p)`, and when defined `terminate(x,r,p)`, `success(x,r,p)`."""
    import casadi as ca

    pl = task.plant
    xs = ca.SX.sym("x", pl.nx)
    us = ca.SX.sym("u", pl.nu)
    ps = ca.SX.sym("p", pl.np_)
    rs = ca.SX.sym("r", task.nr)
    fns = _functions(task, "casadi", lambda items: ca.vertcat(*items) if items else ca.SX(0, 1))
    out = {
        "dynamics": ca.Function("dynamics", [xs, us, ps], [fns.dynamics(0, xs, us, ps)], ["x", "u", "p"], ["f"]),
        "diffusion": ca.Function("diffusion", [ps], [fns.diffusion(ps)], ["p"], ["g"]),
        "observe": ca.Function("observe", [xs, ps], [fns.observe(xs, ps)], ["x", "p"], ["y"]),
        "stage_cost": ca.Function("stage_cost", [xs, us, rs, ps], [fns.stage_cost(xs, us, rs, ps)], ["x", "u", "r", "p"], ["l"]),
    }
    if fns.terminate is not None:
        out["terminate"] = ca.Function("terminate", [xs, rs, ps], [fns.terminate(xs, rs, ps)])
    if fns.success is not None:
        out["success"] = ca.Function("success", [xs, rs, ps], [fns.success(xs, rs, ps)])
    return out


@dataclasses.dataclass(frozen=True)
class Linearization:
    """Exact Jacobians at an operating point.

    Continuous time: dx/dt ≈ A dx + B du; discrete: x+ ≈ x_op + A dx + B du. `C` maps dx to dy.
    `Q`, `R`, `N` are the Hessian blocks of the stage cost (the weights of its quadratic part).
    `E` and `Cp` are the dynamics' and the observation's Jacobians in the parameters asked for
    (`linearize(..., parameters=...)`; no columns otherwise).
    """

    A: np.ndarray
    B: np.ndarray
    C: np.ndarray
    D: np.ndarray
    Q: np.ndarray
    R: np.ndarray
    N: np.ndarray
    x_op: np.ndarray
    u_op: np.ndarray
    p: np.ndarray
    r: np.ndarray
    time: str
    E: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 0)))
    Cp: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 0)))


def _differentiable(e: sp.Basic) -> sp.Basic:
    """Rewrite `Mod(a, b)` as `a - b*floor(a/b)` so that sympy can differentiate it."""
    return e.replace(sp.Mod, lambda a, b: a - b * sp.floor(a / b))


def _drop_step_derivatives(e: sp.Basic) -> sp.Basic:
    """floor, ceiling and sign are piecewise constant: their derivatives are zero almost everywhere."""
    steps = (sp.floor, sp.ceiling, sp.sign)

    def is_step_derivative(node):
        if isinstance(node, sp.Subs):
            node = node.expr
        return isinstance(node, sp.Derivative) and isinstance(node.expr, steps)

    e = e.replace(is_step_derivative, lambda node: sp.Integer(0))
    return e.replace(lambda node: isinstance(node, sp.Subs) and node.expr.is_Number, lambda node: node.expr)


def _jacobian(exprs, syms) -> sp.Matrix:
    if not syms:
        return sp.zeros(len(exprs), 0)
    M = sp.Matrix([_differentiable(sp.sympify(e)) for e in exprs]).jacobian(sp.Matrix(syms))
    return M.applyfunc(_drop_step_derivatives)


def _hessian(e, a_syms, b_syms) -> sp.Matrix:
    if not a_syms or not b_syms:
        return sp.zeros(len(a_syms), len(b_syms))
    e = _differentiable(sp.sympify(e))
    M = sp.Matrix([[sp.diff(e, a, b) for b in b_syms] for a in a_syms])
    return M.applyfunc(_drop_step_derivatives)


def linearize(task: Task, x_op, u_op, p=None, r=None, parameters=()) -> Linearization:
    """Exact linearisation of the task's plant, observation and cost at `(x_op, u_op)`; with
    `parameters` (names), also in those parameters (`E`, `Cp`).

    The Jacobians are differentiated symbolically and evaluated numerically (numpy backend).
    """
    pl = task.plant
    p = task.nominal_parameters if p is None else np.asarray(p, float)
    r = task.nominal_target if r is None else np.asarray(r, float)
    x_op = np.asarray(x_op, float)
    u_op = np.asarray(u_op, float)
    groups = [pl.x, pl.u, pl.p, task.r]
    values = [x_op, u_op, p, r]

    def num(M: sp.Matrix) -> np.ndarray:
        if M.shape[0] * M.shape[1] == 0:
            return np.zeros(M.shape)
        out = lower(list(M), groups, "numpy")(*values)
        return np.array([float(v) for v in out], dtype=float).reshape(M.shape)

    F = list(pl.dynamics)
    H = [o.expr for o in task.observations]
    stage = task.cost.stage
    return Linearization(
        A=num(_jacobian(F, pl.x)),
        B=num(_jacobian(F, pl.u)),
        C=num(_jacobian(H, pl.x)),
        D=np.zeros((task.ny, pl.nu)),
        Q=num(_hessian(stage, pl.x, pl.x)),
        R=num(_hessian(stage, pl.u, pl.u)),
        N=num(_hessian(stage, pl.x, pl.u)),
        E=num(_jacobian(F, [symbol(n) for n in parameters])),
        Cp=num(_jacobian(H, [symbol(n) for n in parameters])),
        x_op=x_op,
        u_op=u_op,
        p=p,
        r=r,
        time=pl.time,
    )


def operating_point(task: Task, r=None, p=None) -> tuple[np.ndarray, np.ndarray]:
    """The equilibrium `(x_op, u_op)` that holds the task's target state for targets `r`.

    States the task fixes (`target_state`, or those weighted by a quadratic cost's `Q`) are held at
    their reference; the remaining states and the inputs are solved for so that the plant is at
    rest (dx/dt = 0, or x+ = x), by least squares (exact where the plant is square).
    """
    from scipy.optimize import least_squares

    pl = task.plant
    p = task.nominal_parameters if p is None else np.asarray(p, float)
    r = task.nominal_target if r is None else np.asarray(r, float)
    targets = target_state_expressions(task)
    rsubs = dict(zip(task.r, r)) | dict(zip(pl.p, p))
    fixed = {i: float(sp.sympify(e).subs(rsubs)) for i, e in enumerate(targets) if e is not None}
    free = [i for i in range(pl.nx) if i not in fixed]
    f = lower(pl.dynamics, [pl.x, pl.u, pl.p], "numpy")

    def unpack(z):
        x = np.zeros(pl.nx)
        for i, v in fixed.items():
            x[i] = v
        x[free] = z[: len(free)]
        return x, z[len(free) :]

    def residual(z):
        x, u = unpack(z)
        F = np.array(f(x, u, p), dtype=float)
        return F - x if pl.time == "discrete" else F

    x_guess = np.array([d.mean for d in task.initial_state])
    u_guess = np.array([0.0 if not np.isfinite(lo + hi) else (lo + hi) / 2 for lo, hi in task.input_limits])
    z0 = np.concatenate([x_guess[free], u_guess])
    if z0.size == 0:
        return unpack(z0)
    sol = least_squares(residual, z0, xtol=1e-14, ftol=1e-14, gtol=1e-14)
    x, u = unpack(sol.x)
    if np.max(np.abs(residual(sol.x))) > 1e-6 * max(1.0, np.max(np.abs(x))):
        raise ModelError(
            f"task {task.name!r}: no equilibrium holds the target state {targets} "
            f"(residual {np.max(np.abs(residual(sol.x))):.3g}); set task.target_state to a reachable state"
        )
    return x, u


def _unweighted(Q: sp.Matrix, i: int) -> bool:
    """State i does not enter the quadratic cost (its row and column of Q are zero)."""
    return all(sp.sympify(Q[i, j]).is_zero and sp.sympify(Q[j, i]).is_zero for j in range(Q.shape[0]))


def target_state_expressions(task: Task) -> list[sp.Expr | None]:
    """Per state, the expression (of targets and parameters) it should be held at, or None if free."""
    if any(e is not None for e in task.target_state):
        return list(task.target_state)
    if task.cost.quadratic is not None:
        Q, _, xref, _ = task.cost.quadratic
        return [None if _unweighted(Q, i) else xref[i] for i in range(task.plant.nx)]
    return [None] * task.plant.nx
