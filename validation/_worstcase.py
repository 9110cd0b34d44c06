"""The worst case over a box: the closed loop's cost maximised in CasADi, then checked with CVODES.

The search runs IPOPT (L-BFGS) from several starts (the best sweep point, the best vertex and
random points); with few dimensions every vertex is evaluated too. The reported worst case is the
largest cost over all evaluated points, so it is never below the sweep's or the vertices' maximum;
`confirm` then re-simulates it with CVODES as an independent check. Points are evaluated by
`validation/_sweep.py`.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import time

import casadi as ca
import numpy as np

from ._closedloop import ClosedLoop, build_closed_loop
from ._integration import relative_difference
from ._sweep import Base, Dim, evaluate, point_function, vertices


def worst_case(
    cl: ClosedLoop,
    dims: list[Dim],
    base: Base,
    starts: int = 8,
    seed: int = 0,
    seed_points: np.ndarray | None = None,
    use_vertices: bool | None = None,
    max_vertices: int = 64,
    cores: int = 2,
    max_iter: int = 30,
    seed_costs: np.ndarray | None = None,
    jit: bool | None = None,
) -> dict:
    """Maximise the cost over the box: IPOPT multi-start (normalised box), vertices, seed points.

    `seed_points` (with their `seed_costs` when already evaluated, e.g. by a sweep on the same base)
    start one IPOPT run from the worst of them and count as candidates. `jit` (default: when a C
    compiler is present) compiles IPOPT's functions (objective, gradient) from CasADi-generated C."""
    d = len(dims)
    lo = np.array([x.low for x in dims])
    hi = np.array([x.high for x in dims])
    t0 = time.perf_counter()
    obj = point_function(cl, dims, base, output="objective")
    s = ca.MX.sym("s", d)
    J = obj(ca.DM(lo) + s * ca.DM(hi - lo), base.NY, base.NW)
    opts = {
        "ipopt.hessian_approximation": "limited-memory",
        "ipopt.max_iter": max_iter,
        "ipopt.tol": 1e-6,
        "ipopt.print_level": 0,
        "print_time": False,
        "ipopt.sb": "yes",
    }
    if jit is None:
        jit = shutil.which("gcc") is not None or shutil.which("cc") is not None
    if jit:
        opts.update({"jit": True, "compiler": "shell", "jit_options": {"flags": ["-O1"], "verbose": False}})
    t_build = time.perf_counter()
    solver = ca.nlpsol("worst_case", "ipopt", {"x": s, "f": -J}, opts)
    t_build = time.perf_counter() - t_build
    rng = np.random.default_rng(seed)
    candidates: list[tuple[str, np.ndarray]] = []
    verts = vertices(dims)
    if use_vertices is None:
        use_vertices = len(verts) <= max_vertices
    vert_cost = np.array([])
    if use_vertices and d:
        vert_cost, _, _, _ = evaluate(cl, dims, base, verts, cores)
    inits = []
    if seed_points is not None and len(seed_points):
        if seed_costs is None:
            seed_cost, _, _, _ = evaluate(cl, dims, base, np.asarray(seed_points), cores)
        else:
            seed_cost = np.asarray(seed_costs, float)
        sc = np.where(np.isnan(seed_cost), np.inf, seed_cost)
        sc = np.where(np.isfinite(sc), sc, np.nanmax(np.where(np.isfinite(sc), sc, -np.inf), initial=0) * 10 + 1)
        inits.append(("best sweep point", (np.asarray(seed_points)[int(np.argmax(sc))] - lo) / (hi - lo)))
    if vert_cost.size:
        inits.append(
            ("best vertex", (verts[int(np.argmax(np.where(np.isfinite(vert_cost), vert_cost, np.inf)))] - lo) / (hi - lo))
        )
    while len(inits) < starts:
        inits.append(("random", rng.random(d)))
    runs = []
    for label, s0 in inits[:starts]:
        t1 = time.perf_counter()
        sol = solver(x0=np.clip(s0, 0, 1), lbx=0, ubx=1)
        st = solver.stats()
        sx = np.clip(np.asarray(sol["x"]).ravel(), 0, 1)
        runs.append(
            {
                "start": label,
                "status": st["return_status"],
                "iterations": int(st["iter_count"]),
                "seconds": time.perf_counter() - t1,
                "point": (lo + sx * (hi - lo)).tolist(),
            }
        )
        candidates.append((f"ipopt from {label}", lo + sx * (hi - lo)))
    pts = np.array([c[1] for c in candidates]).reshape(len(candidates), d)
    cost, succ, _, _ = evaluate(cl, dims, base, pts, cores)
    for run, c in zip(runs, cost):
        run["cost"] = float(c)
    all_pts = [pts]
    all_cost = [cost]
    labels = [c[0] for c in candidates]
    if vert_cost.size:
        all_pts.append(verts)
        all_cost.append(vert_cost)
        labels += ["vertex"] * len(verts)
    if seed_points is not None and len(seed_points):
        all_pts.append(np.asarray(seed_points))
        all_cost.append(seed_cost)
        labels += ["sweep point"] * len(seed_cost)
    P = np.vstack(all_pts)
    C = np.concatenate(all_cost)
    key = np.where(np.isnan(C), np.inf, C)
    i = int(np.argmax(key))
    converged = sum(r["status"] in ("Solve_Succeeded", "Solved_To_Acceptable_Level") for r in runs)
    return {
        "dims": [dataclasses.asdict(x) for x in dims],
        "starts": runs,
        "converged_starts": converged,
        "vertices": {
            "evaluated": bool(vert_cost.size),
            "count": int(len(verts)),
            "max_cost": float(np.max(np.where(np.isnan(vert_cost), np.inf, vert_cost))) if vert_cost.size else None,
        },
        "worst": {"point": P[i].tolist(), "cost": float(C[i]), "found_by": labels[i]},
        "jit": bool(jit),
        "solver_build_seconds": t_build,
        "seconds": time.perf_counter() - t0,
    }


def confirm(task, policy, cl: ClosedLoop, dims: list[Dim], base: Base, point, rtol: float = 0.05, tol: float = 1e-9) -> dict:
    """Re-simulate the worst case with CVODES between ticks (an independent, adaptive integrator)."""
    t0 = time.perf_counter()
    f_fixed = point_function(cl, dims, base)
    c_fixed = float(f_fixed(np.asarray(point, float), base.NY, base.NW)[0])
    cv = build_closed_loop(task, policy, ticks=cl.ticks, delay=cl.delay, integrator="cvodes", tol=tol)
    try:
        c_cv = float(point_function(cv, dims, base)(np.asarray(point, float), base.NY, base.NW)[0])
        error = None
    except RuntimeError as err:  # cvodes gives up on a diverging trajectory
        c_cv, error = math.inf, str(err).splitlines()[0][:200]
    rel = relative_difference(c_cv, c_fixed)
    return {
        "cost_fixed_step": c_fixed,
        "cost_cvodes": c_cv,
        "relative_difference": rel,
        "rtol": rtol,
        "confirmed": bool(rel <= rtol),
        "cvodes_tolerance": tol,
        "error": error,
        "seconds": time.perf_counter() - t0,
    }


__all__ = ["confirm", "worst_case"]
