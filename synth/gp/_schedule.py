"""Gain-scheduled observer seeds: the seed policy's observer with a Kalman gain that varies.

The steady-state LQG (GP-D's default seed policy) is an observer plus state feedback with fixed
gains. On the tasks whose initial state is very uncertain the optimal filter gain is large at the
start and small later, so no fixed gain is optimal there: on `sho/partial` the best two-state
linear controller costs about 1.16 x the time-varying LQG on the benchmark's trajectories
(`bench/gp_RESULTS.md`), wherever its tuning starts. A gain that grows with the size of a measured
signal is the classical way to vary it without a clock (gain scheduling), and it needs structure
that random trees and the linear seeds do not have: the innovation `y_k - (C x̂)_k` as one factor,
the plant model as the rest.

So when the seed policy's latent states are estimates of the plant's states (its latent map is
the plant model plus gains on the innovations, as for the LQG designs), `scheduled_seeds` writes
its observer in that form, with the exact model of the plant's linearisation at the nominal
operating point:

    dx̂_i/dt = (A x̂ + B u)_i + a_i(r) + sum_k L_ik (y_k - (C x̂)_k),

and makes one variant per (latent tree, scheduling signal s) and one per signal for all trees at
once, in which the tree's main innovation gain `L` becomes

    G(s) = 2 L - L c / (c + s^2)

with `s` a measurement or a state estimate (`G = L` at `s = 0`, `2 L` for large `|s|`, a shape the
tuning is free to change, including a gain that falls with `|s|`; bounded while `c > 0`, so the
Euler step stays stable however large the signal; `c` starts at 1 + s^2 at the operating point).
In GP's prefix form this is `sub(c1, div(c2, add(c3, mul(s, s))))`, nine nodes, so a scheduled
position estimate `a2 + G(s) (y - a1)` is exactly 15 nodes, the paper's tree budget, and a
scheduled velocity estimate `-a1 + u + G(s) (y - a1)` 17. Where a variant does not fit, the
tree's smaller innovation terms are dropped. Each variant is tuned like the linear seeds and
enters generation 0; selection keeps it only if it is better, so on tasks where scheduling does
not help it is simply outcompeted. The seeds use nothing held out and draw no random numbers.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from plants import linearize, operating_point, symbol

from ._seeds import affine


class _NotObserver(Exception):
    pass


def _coef(v: float) -> sp.Expr:
    """An exact integer where the number is one (the plant model's 0, 1, -1 stay bare terms)."""
    r = round(v)
    return sp.Integer(r) if abs(v - r) <= 1e-9 * max(1.0, abs(v)) else sp.Float(float(v))


def _rates(policy, dt: float):
    """Euler rates of a linear latent map, `dz/dt = Fz z + Fy y + Fu u + Fr r + f0`."""

    def bad(why):
        raise _NotObserver(why)

    J, c = affine(sp.Matrix(policy.f), list(policy.z) + list(policy.y) + list(policy.u) + list(policy.r), "latent map", bad)
    nz, ny, nu = policy.nz, policy.ny, policy.nu
    Fz, Fy, Fu, Fr = J[:, :nz], J[:, nz : nz + ny], J[:, nz + ny : nz + ny + nu], J[:, nz + ny + nu :]
    if policy.integrator == "discrete":  # z[k+1] = ... : the Euler rate is (z[k+1] - z[k]) / dt
        return (Fz - np.eye(nz)) / dt, Fy / dt, Fu / dt, Fr / dt, c / dt
    if policy.integrator == "euler":
        return Fz, Fy, Fu, Fr, c
    bad(policy.integrator)


def observer_gains(ctx, policy):
    """`(A, B, C, L, Fr, f0)` when `policy`'s latent states estimate the plant's states: its latent
    map (as Euler rates) is the plant's linearisation `A x̂ + B u` plus gains `L` on the innovations
    `y - C x̂` (to the accuracy of a discretisation at the task's tick), and a part `Fr r + f0`;
    None otherwise."""
    task, lay = ctx.task, ctx.layout
    pl = task.plant
    if pl.time != "continuous" or policy.nz != pl.nx or lay.nz != pl.nx or policy.nu != pl.nu:
        return None
    if tuple(policy.observations) != lay.names[: lay.ny] or tuple(policy.targets) != lay.names[lay.ny + lay.nz + lay.nu :]:
        return None
    try:
        Fz, Fy, Fu, Fr, f0 = _rates(policy, task.dt)
        x_op, u_op = operating_point(task)
        lin = linearize(task, x_op, u_op)
    except (_NotObserver, ValueError, ArithmeticError, np.linalg.LinAlgError):
        return None
    A, B, C = lin.A, lin.B, lin.C
    # A zero-order-hold design differs from its Euler rates by O(dt |A|^2): allow for that.
    scale = 1.0 + float(np.max(np.abs(A), initial=0.0))
    tol = 0.05 * scale + 2 * task.dt * scale**2
    if not (np.allclose(Fz + Fy @ C, A, atol=tol) and np.allclose(Fu, B, atol=tol)):
        return None
    return A, B, C, Fy, Fr, f0


def _gain(L: float, s: sp.Expr, c: float) -> sp.Expr:
    return sp.Float(2 * L) - sp.Float(L * c) / (sp.Float(c) + s * s)


def scheduled_seeds(ctx, policy) -> list[list[sp.Expr]]:
    """The gain-scheduled variants of `policy`'s observer (module docstring) that fit the trees,
    as expression lists (latent trees, then readouts) in the run's names; [] when `policy` is not
    an observer-based linear controller of the run's plant."""
    found = observer_gains(ctx, policy)
    if found is None:
        return []
    A, B, C, L, Fr, f0 = found
    lay = ctx.layout
    ny, nz, nu = lay.ny, lay.nz, lay.nu
    names = lay.names
    ys = [symbol(n) for n in names[:ny]]
    zs = [symbol(n) for n in names[ny : ny + nz]]
    us = [symbol(n) for n in names[ny + nz : ny + nz + nu]]
    rs = [symbol(n) for n in names[ny + nz + nu :]]
    rename = {symbol(a): b for a, b in zip(policy.latent, zs)}
    readouts = [g.xreplace(rename) for g in policy.g]

    def total(coefs, syms) -> sp.Expr:
        return sp.Add(*[_coef(float(v)) * s for v, s in zip(coefs, syms) if v != 0.0])

    models = [
        total(np.concatenate([A[i], B[i], Fr[i]]), zs + us + rs) + (_coef(float(f0[i])) if f0[i] != 0.0 else 0) for i in range(nz)
    ]
    innovations = [ys[k] - total(C[k], zs) for k in range(ny)]
    scale_L = float(np.max(np.abs(L), initial=0.0))
    main = [int(np.argmax(np.abs(L[i]))) for i in range(nz)]
    active = [i for i in range(nz) if abs(L[i, main[i]]) > 1e-6 * scale_L]
    x_op, _ = operating_point(ctx.task)
    signals, s_op = ys + zs, np.concatenate([C @ x_op, x_op])  # the scheduling candidates and their operating values

    def tree(i: int, s: int | None, keep: int) -> sp.Expr:
        """Latent tree i with its main innovation scheduled on signal s (None: fixed gain), keeping
        only the `keep` largest of its other innovation terms."""
        others = sorted((k for k in range(ny) if k != main[i] and L[i, k] != 0.0), key=lambda k: -abs(L[i, k]))[:keep]
        e = models[i] + sum((sp.Float(float(L[i, k])) * innovations[k] for k in others), sp.Integer(0))
        gain = sp.Float(float(L[i, main[i]])) if s is None else _gain(float(L[i, main[i]]), signals[s], 1.0 + float(s_op[s]) ** 2)
        return e + gain * innovations[main[i]]

    def fits(i: int, e: sp.Expr) -> bool:
        alone = [sp.Integer(0)] * lay.n_trees
        alone[i] = e
        return ctx.encode(alone) is not None

    def fitted(schedule: dict[int, int]):
        """The encodable variant with the trees in `schedule` scheduled (dropping innovation terms
        where needed), or None."""
        exprs = []
        for i in range(nz):
            e = next((e for keep in range(ny - 1, -1, -1) if fits(i, e := tree(i, schedule.get(i), keep))), None)
            if e is None:
                return None
            exprs.append(e)
        exprs += readouts
        return exprs if ctx.encode(exprs) is not None else None

    out, seen = [], set()
    for s in range(ny + nz):
        for schedule in [{i: s} for i in active] + ([{i: s for i in active}] if len(active) > 1 else []):
            exprs = fitted(schedule)
            key = None if exprs is None else tuple(sp.srepr(e) for e in exprs)
            if key is not None and key not in seen:
                seen.add(key)
                out.append(exprs)
    return out
