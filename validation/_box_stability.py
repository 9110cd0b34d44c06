"""Robust stability over the parameter box: the spectral radius of the closed loop linearised at
the equilibrium of every vertex of the box (above `MAX_VERTICES` vertices a seeded subset, said in
the result) and of extra points such as the worst case found. The certificate's robust-stability
row and the candidate screen both use it."""

from __future__ import annotations

import time

import numpy as np

from plants import Task
from synth import SymbolicPolicy

from ._linearize import LoopLinearizer
from ._sweep import Dim, vertex_subset

MAX_VERTICES = 256  # vertices linearised (and simulated by the screen); beyond: a seeded subset, reported


def parameter_matrix(task: Task, dims: list[Dim], values: np.ndarray) -> np.ndarray:
    """Full parameter vectors (n, np): the nominal parameters with the box's dimensions set from
    `values` (n, d)."""
    names = [q.name for q in task.plant.parameters]
    values = np.asarray(values, float).reshape(-1, len(dims))
    P = np.repeat(np.asarray(task.nominal_parameters, float)[None, :], values.shape[0], axis=0)
    for i, dim in enumerate(dims):
        P[:, names.index(dim.name)] = values[:, i]
    return P


def box_stability(
    task: Task,
    policy: SymbolicPolicy,
    dims: list[Dim],
    x_guess,
    *,
    extra=(),
    max_vertices: int = MAX_VERTICES,
    seed: int = 0,
    linearizer: LoopLinearizer | None = None,
    fallback=None,
) -> dict:
    """Spectral radius of the linearised closed loop at the equilibrium of each vertex of the box
    `dims` (at most `max_vertices`: a seeded subset beyond) and of each `extra` point (a pair
    `(label, values)` in the box's dimensions, e.g. the worst case found).

    The equilibrium at a point is the one the noise-free loop settles to from `x_guess`; when it
    diverges, Newton from `fallback` (the nominal `(x, z)` equilibrium) looks for the equilibrium it
    left, so an unstable one is reported with its radius. A point with no equilibrium counts as not
    stable (radius inf)."""
    t0 = time.perf_counter()
    lz = linearizer or LoopLinearizer(task, policy)
    verts, total = vertex_subset(dims, max_vertices, seed)
    labels = ["vertex"] * len(verts)
    pts = [verts]
    for label, values in extra:
        values = np.asarray(values, float).reshape(1, len(dims))
        same = np.flatnonzero(np.all(verts == values, axis=1)) if len(verts) else []
        if len(same):  # already checked as a vertex
            labels[int(same[0])] = f"vertex, the {label}"
            continue
        labels.append(label)
        pts.append(values)
    values = np.vstack(pts) if dims else np.zeros((0, 0))
    P = parameter_matrix(task, dims, values) if dims else np.zeros((0, task.plant.np_))
    radii, rows = [], []
    for label, v, p in zip(labels, values, P):
        s = lz.spectral_radius(x_guess, p, fallback=fallback)
        radii.append(s["radius"])
        rows.append(
            {
                "label": label,
                "point": {d.name: float(x) for d, x in zip(dims, v)},
                "radius": s["radius"],
                "how": s["how"],
                **({"reason": s["reason"]} if "reason" in s else {}),
            }
        )
    radii = np.asarray(radii, float)
    worst = rows[int(np.argmax(radii))] if rows else None
    bad = [r for r in rows if not r["radius"] < 1.0]
    return {
        "vertices_total": int(total) if dims else 0,
        "vertices_checked": int(len(verts)) if dims else 0,
        "sampled": bool(dims) and len(verts) < total,
        "max_vertices": int(max_vertices),
        "seed": int(seed),
        "checked": len(rows),
        "radius_max": float(radii.max()) if rows else None,
        "worst": worst,
        "not_stable_count": len(bad),
        "no_equilibrium_count": sum(r["how"] == "none" for r in rows),
        "not_stable": sorted(bad, key=lambda r: -r["radius"])[:10],
        "extra": [r for r in rows if r["label"] != "vertex"],
        "extra_labels": [label for label, _ in extra],
        "seconds": time.perf_counter() - t0,
    }


__all__ = ["MAX_VERTICES", "box_stability", "parameter_matrix"]
