"""The input that holds a plant at rest at a reference state (`input_reference = "equilibrium"`).

The unknowns are the inputs and the states the cost leaves free (e.g. the current of a motor whose
speed is the reference); the equations are dx/dt = 0 (continuous) or x+ = x (discrete) with the
other states at their reference.

* Exact where the dynamics are affine in the unknowns, `F = F0 + J w`: `w = -pinv(J) F0`, an
  expression of the targets and parameters (`equilibrium_input`).
* Otherwise numerical (`solve_equilibrium_input`): IPOPT through CasADi, at given values of the
  targets and parameters, with the inputs inside their limits. Of several equilibria it returns the
  one whose input is nearest `u = 0` (clipped into the limits); when there is none within the
  limits it raises `NoEquilibrium` with the smallest residual it found and where.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import sympy as sp

from ._model import ModelError, Plant
from ._translate import lower


class NotAffine(ModelError):
    """The dynamics are not affine in the inputs and free states: no closed-form equilibrium input."""


class NoEquilibrium(ModelError):
    """No input within the limits holds the plant at rest at the reference."""


def equilibrium_system(plant: Plant, x_ref: Sequence, free: Sequence[int] = ()) -> tuple[sp.Matrix, list[sp.Symbol]]:
    """The residual `F(w)` that is zero at rest, and its unknowns `w` (inputs, then the free states)."""
    x = list(x_ref)
    unknowns = list(plant.u) + [plant.x[i] for i in free]
    subs = {s: v for i, (s, v) in enumerate(zip(plant.x, x)) if i not in free}
    F = sp.Matrix(plant.dynamics).subs(subs)
    if plant.time == "discrete":
        F = F - sp.Matrix([plant.x[i] if i in free else x[i] for i in range(plant.nx)])
    return F, unknowns


def equilibrium_input(plant: Plant, x_ref, free: Sequence[int] = ()) -> list[sp.Expr]:
    """The input holding the plant at rest at `x_ref`, symbolically, in the least-squares sense.

    States listed in `free` are not held at their reference: they are solved for together with the
    inputs. Needs dynamics affine in the unknowns, `F = F0 + J w`, giving `w = -pinv(J) F0`; raises
    `NotAffine` otherwise (`solve_equilibrium_input` solves that case numerically).
    """
    F, unknowns = equilibrium_system(plant, x_ref, free)
    J = F.jacobian(sp.Matrix(unknowns))
    if any(s in J.free_symbols for s in unknowns):
        raise NotAffine(
            f"plant {plant.name!r}: dynamics are not affine in the inputs and free states; give input_reference explicitly"
        )
    F0 = F.subs({w: 0 for w in unknowns})
    w = -J.pinv() * F0
    return [sp.simplify(e) for e in w[: plant.nu]]


def _ipopt(w, objective, g, lbx, ubx, lbg, ubg):
    import casadi as ca

    options = {
        "print_time": False,
        "ipopt.print_level": 0,
        "ipopt.sb": "yes",
        "ipopt.tol": 1e-12,
        "ipopt.max_iter": 300,
        "ipopt.bound_relax_factor": 0.0,
    }
    solver = ca.nlpsol("equilibrium", "ipopt", {"x": w, "f": objective, "g": g}, options)
    return lambda w0: np.asarray(solver(x0=w0, lbx=lbx, ubx=ubx, lbg=lbg, ubg=ubg)["x"], float).ravel()


def _starts(limits: np.ndarray, centre: np.ndarray, x_guess: np.ndarray) -> list[np.ndarray]:
    """The centre, then for each input a low and a high start inside its limits (others at the centre)."""
    starts = [centre]
    for i, (lo, hi) in enumerate(limits):
        span = hi - lo if np.isfinite(hi - lo) else 2.0 * max(1.0, abs(centre[i]))
        for frac in (0.1, 0.9):
            u = centre.copy()
            u[i] = (
                lo + frac * span
                if np.isfinite(lo)
                else (hi - (1 - frac) * span if np.isfinite(hi) else centre[i] + (frac - 0.5) * span)
            )
            starts.append(u)
    return [np.concatenate([u, x_guess]) for u in starts]


def solve_equilibrium_input(
    plant: Plant,
    x_ref: Sequence,
    free: Sequence[int],
    values: Mapping[sp.Symbol, float],
    limits: Sequence[tuple[float, float]],
    x_guess: Sequence[float] | None = None,
) -> np.ndarray:
    """The input holding the plant at rest at `x_ref`, numerically, with `values` for the targets and
    parameters and the inputs within `limits`; the equilibrium nearest `u = 0` (clipped into the
    limits) when there are several. `x_guess` starts the free states (default 0).

    Raises `NoEquilibrium` (one line: the residual, the input where it is smallest, the limits) when
    no input within the limits makes the residual vanish, and `ModelError` when a symbol has no value.
    """
    import casadi as ca

    subs = {s: float(v) for s, v in values.items()}
    x_num = [sp.sympify(e).subs(subs) for e in x_ref]
    F, unknowns = equilibrium_system(plant, x_num, free)
    F = F.subs(subs)
    missing = sorted(str(s) for s in F.free_symbols - set(unknowns))
    if missing:
        raise ModelError(f"plant {plant.name!r}: the equilibrium needs values for {', '.join(missing)}")
    F = sp.Matrix([e for e in F if e != 0])  # rows that hold at the reference whatever w is (e.g. dx/dt = v, v held at 0)
    nu, nw, m = plant.nu, len(unknowns), len(F)
    lim = np.array(limits, float).reshape(nu, 2)
    centre = np.clip(0.0, lim[:, 0], lim[:, 1])
    w = ca.SX.sym("w", nw)
    residual = ca.vertcat(*lower(list(F), [unknowns], "casadi")(w))
    evaluate = ca.Function("residual", [w], [residual])
    lbx = np.concatenate([lim[:, 0], np.full(nw - nu, -np.inf)])
    ubx = np.concatenate([lim[:, 1], np.full(nw - nu, np.inf)])
    x0 = np.zeros(nw - nu) if x_guess is None else np.asarray(x_guess, float)[list(free)]
    starts = _starts(lim, centre, x0)

    def size(wv: np.ndarray) -> float:
        r = np.asarray(evaluate(wv), float).ravel()
        return float(np.max(np.abs(r))) if r.size and np.all(np.isfinite(r)) else np.inf

    held = {plant.states[i]: float(e) for i, e in enumerate(x_num) if i not in free}
    tol = 1e-9 * max([1.0] + [abs(v) for v in held.values()])
    # Bounded least squares finds equilibria (and, when there is none, how close it gets); where the
    # equations do not outnumber the unknowns, the equilibrium nearest the centre is solved for directly.
    least = _ipopt(w, 0.5 * ca.sumsqr(residual), ca.SX(0, 1), lbx, ubx, np.zeros(0), np.zeros(0))
    tried = [np.clip(least(w0), lbx, ubx) for w0 in starts]
    if m <= nw:
        nearest = _ipopt(w, 0.5 * ca.sumsqr(w[:nu] - centre), residual, lbx, ubx, np.zeros(m), np.zeros(m))
        tried += [np.clip(nearest(w0), lbx, ubx) for w0 in starts]
    found = [wv for wv in tried if size(wv) <= tol]
    if found:
        best = min(found, key=lambda wv: (float(np.sum((wv[:nu] - centre) ** 2)), tuple(wv[:nu])))
        return best[:nu]
    closest = min(tried, key=size)
    what = "|x+ - x|" if plant.time == "discrete" else "|dx/dt|"
    bounds = ", ".join(f"{u} in [{lo:g}, {hi:g}]" for u, (lo, hi) in zip(plant.inputs, lim))
    at = ", ".join(f"{u} = {v:.6g}" for u, v in zip(plant.inputs, closest[:nu]))
    where = ", ".join(f"{name} = {v:.6g}" for name, v in held.items()) or "any state"
    raise NoEquilibrium(
        f"no input within the limits ({bounds}) holds the plant at rest at {where}: the smallest residual "
        f"{what} is {size(closest):.3g}, at {at}; widen task.input_limits, move the reference, or give input_reference "
        f"as one expression per input"
    )
