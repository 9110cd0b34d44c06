"""Sweeps and the worst-case search over a box, evaluated in CasADi.

A sweep varies some inputs of the closed loop around a base scenario (its initial state, target and
noise are those of one held-out scenario, so every point sees the same noise): plant parameters,
initial states, and the knobs `gain` (actuator gain error), `obs_scale` and `process_scale` (noise
levels); a measurement delay of k ticks is structural and gets one closed loop per value. Points come
from a grid, a Latin hypercube or a scrambled Sobol sequence (`scipy.stats.qmc`).

Two evaluators give the same costs. "vm": the per-tick SX algorithm is replayed on rows of points
(`ClosedLoop.batched`), so each VM instruction does one elementwise operation over a batch; one batch
per thread with `Function.map(batches, "thread", cores)`. "c": CasADi-generated C of the scalar closed
loop (the horizon stays a C loop over the expanded tick), compiled with the system compiler and cached
under the hash of its source (`compile_c`), called on chunks of points. The noise is passed to every
point, never copied per point (`Function.map` over points would repeat it once per point).

The worst-case search over the same box is `validation/_worstcase.py`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import math
import os
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import casadi as ca
import numpy as np
from scipy.stats import qmc

from ._closedloop import KNOBS, NOMINAL_KNOBS, ClosedLoop

DESIGNS = ("lhs", "sobol", "grid", "random")


@dataclasses.dataclass(frozen=True)
class Dim:
    """One swept input: `kind` is "parameter", "x0" or "knob"; `name` the parameter, state or knob."""

    kind: str
    name: str
    low: float
    high: float


@dataclasses.dataclass
class Base:
    """The scenario a sweep varies: initial state, target, parameters, knobs and its noise (NY, NW)."""

    x0: np.ndarray
    r: np.ndarray
    p: np.ndarray
    knobs: np.ndarray
    NY: np.ndarray
    NW: np.ndarray


def parameter_box(task, widen: float = 1.0, names=None) -> list[Dim]:
    """The task's parameter box: each parameter's `range` (or the support of its distribution when it
    varies without a range), widened about its centre by `widen`."""
    dims = []
    for q, d in zip(task.plant.parameters, task.parameter_distribution):
        if names is not None and q.name not in names:
            continue
        lo_hi = q.range if q.range is not None else (d.support if d.kind != "fixed" else None)
        if lo_hi is None or lo_hi[0] == lo_hi[1]:
            continue
        c, h = (lo_hi[0] + lo_hi[1]) / 2, (lo_hi[1] - lo_hi[0]) / 2 * widen
        dims.append(Dim("parameter", q.name, c - h, c + h))
    return dims


def sample(dims: list[Dim], n: int, design: str = "lhs", seed: int = 0) -> np.ndarray:
    """`n` points (n, d) in the box (a grid has round(n^(1/d)) levels per dimension)."""
    d = len(dims)
    if design not in DESIGNS:
        raise ValueError(f"sweep design {design!r}: valid designs are {', '.join(DESIGNS)}")
    if d == 0:
        return np.zeros((0, 0))
    if design == "grid":
        m = max(2, int(round(n ** (1 / d))))
        u = np.array(list(itertools.product(*[np.linspace(0, 1, m)] * d)))
    elif design == "lhs":
        u = qmc.LatinHypercube(d=d, seed=seed).random(n)
    elif design == "sobol":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # balance warning for n not a power of two
            u = qmc.Sobol(d=d, scramble=True, seed=seed).random(n)
    else:
        u = np.random.default_rng(seed).random((n, d))
    lo = np.array([x.low for x in dims])
    hi = np.array([x.high for x in dims])
    return lo + u * (hi - lo)


def vertices(dims: list[Dim]) -> np.ndarray:
    return np.array(list(itertools.product(*[(x.low, x.high) for x in dims]))) if dims else np.zeros((1, 0))


def vertex_subset(dims: list[Dim], max_count: int, seed: int = 0) -> tuple[np.ndarray, int]:
    """The box's vertices (n, d) in `vertices` order, or, when there are more than `max_count`, that
    many of them drawn without replacement (seeded, so the same ones every time), in vertex order.
    Returns the points and the total number of vertices."""
    d = len(dims)
    total = 2**d
    if total <= max_count:
        return vertices(dims), total
    rng = np.random.default_rng(seed)
    if d <= 62:
        idx = np.sort(rng.choice(total, size=int(max_count), replace=False))
        bits = (idx[:, None] >> np.arange(d - 1, -1, -1)[None, :]) & 1
    else:  # more corners than an index can count: random bit patterns (repeats are vanishingly unlikely)
        bits = rng.integers(0, 2, size=(int(max_count), d))
    lo = np.array([x.low for x in dims], float)
    hi = np.array([x.high for x in dims], float)
    return np.where(bits == 1, hi, lo), total


def _theta_rows(cl: ClosedLoop, dims: list[Dim], base: Base, theta, width: int | None = None):
    """x0, p, knobs as vertcat of rows: swept ones from `theta` (d, width), the rest from `base`."""
    task = cl.task
    rep = (lambda v: ca.MX(ca.DM(v))) if width is None else (lambda v: ca.MX(ca.DM(np.full((1, width), v))))
    x0, p, kn = ([rep(float(e)) for e in v] for v in (base.x0, base.p, base.knobs))
    states = list(task.plant.states)
    pnames = [q.name for q in task.plant.parameters]
    for i, dim in enumerate(dims):
        if dim.kind == "parameter":
            p[pnames.index(dim.name)] = theta[i, :]
        elif dim.kind == "x0":
            x0[states.index(dim.name)] = theta[i, :]
        elif dim.kind == "knob":
            kn[KNOBS.index(dim.name)] = theta[i, :]
        else:
            raise ValueError(f"sweep dimension kind {dim.kind!r}: use parameter, x0 or knob")
    empty = ca.MX(0, 1 if width is None else width)
    return tuple(ca.vertcat(*v) if v else empty for v in (x0, p, kn))


def point_function(cl: ClosedLoop, dims: list[Dim], base: Base, output: str = "cost") -> ca.Function:
    """`f(theta, NY, NW) -> (cost, success)` with `theta` the swept values (d,), others from `base`.
    `output="objective"` gives the raw accumulated cost (no +inf switch) for the optimiser."""
    theta = ca.MX.sym("theta", len(dims))
    x0, p, kn = _theta_rows(cl, dims, base, theta)
    NY = ca.MX.sym("NY", *base.NY.shape)
    NW = ca.MX.sym("NW", *base.NW.shape)
    r = ca.DM(base.r.reshape(-1, 1)) if base.r.size else ca.DM(0, 1)
    if output == "objective":
        return ca.Function("objective", [theta, NY, NW], [cl.objective_fn(x0, r, p, kn, NY, NW)])
    return ca.Function("point", [theta, NY, NW], cl.cost_fn(x0, r, p, kn, NY, NW), ["theta", "NY", "NW"], ["cost", "success"])


def batch_point_function(cl: ClosedLoop, dims: list[Dim], base: Base, width: int) -> ca.Function:
    """`f(THETA (d, width), NY, NW) -> (cost, success)` (each (1, width)): `point_function` on `width`
    points at once in the CasADi VM (`ClosedLoop.batched`), every point with the base's noise."""
    theta = ca.MX.sym("theta", len(dims), width)
    x0, p, kn = _theta_rows(cl, dims, base, theta, width)
    NY = ca.MX.sym("NY", *base.NY.shape)
    NW = ca.MX.sym("NW", *base.NW.shape)
    r = ca.DM(np.repeat(base.r.reshape(-1, 1), width, axis=1)) if base.r.size else ca.DM(0, width)
    return ca.Function(
        f"points_x{width}", [theta, NY, NW], cl.batched(width)(x0, r, p, kn, NY, NW), ["theta", "NY", "NW"], ["cost", "success"]
    )


def chunk_function(fn: ca.Function, times: int) -> ca.Function:
    """`f(THETA (d, times * w), NY, NW) -> (cost, success)`: `times` explicit calls of `fn` (which
    takes THETA of w columns), each on its own columns, all sharing one copy of the noise
    (`Function.map` would copy the noise once per call)."""
    d, w = fn.size_in(0)
    theta = ca.MX.sym("theta", d, times * w)
    NY = ca.MX.sym("NY", *fn.size_in(1))
    NW = ca.MX.sym("NW", *fn.size_in(2))
    outs = [fn(theta[:, k * w : (k + 1) * w], NY, NW) for k in range(times)]
    return ca.Function(
        f"points_x{times * w}",
        [theta, NY, NW],
        [ca.horzcat(*[o[0] for o in outs]), ca.horzcat(*[o[1] for o in outs])],
        ["theta", "NY", "NW"],
        ["cost", "success"],
    )


def c_cache_dir() -> Path | None:
    """Where compiled sweep libraries are kept (`synth`'s `cache_dir("casadi")`); None when the
    environment sets SYMCTL_COMPILE_CACHE=0."""
    from synth._runfolder import cache_dir

    return cache_dir("casadi")


def compile_c(
    fn: ca.Function, workdir: Path | None = None, flags=("-O2",), cache: Path | None | bool = True
) -> tuple[ca.Function, dict]:
    """Generate C for `fn` (non-expanded: mapaccum stays a loop), compile it with cc and load it back.

    With `cache` (True: `c_cache_dir()`, or a folder), the shared library is kept under the hash of
    the generated source, the compiler and the flags, and reused when the same C is asked for again."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise FileNotFoundError("no C compiler (gcc or cc) on PATH")
    workdir = Path(workdir or tempfile.mkdtemp(prefix="symctl-sweep-"))
    t0 = time.perf_counter()
    name = f"{fn.name()}_gen"
    cg = ca.CodeGenerator(f"{name}.c", {"with_header": False})
    cg.add(fn)
    cg.generate(str(workdir) + "/")
    src = workdir / f"{name}.c"
    t1 = time.perf_counter()
    cache_dir = c_cache_dir() if cache is True else (Path(cache) if cache else None)
    key = hashlib.sha256(
        b"\0".join([src.read_bytes(), cc.encode(), " ".join(flags).encode(), ca.__version__.encode()])
    ).hexdigest()[:24]
    lib = (cache_dir / f"{name}-{key}.so") if cache_dir else workdir / f"{name}.so"
    hit = lib.exists()
    if not hit:
        lib.parent.mkdir(parents=True, exist_ok=True)
        tmp = lib.with_suffix(f".{os.getpid()}.tmp")
        subprocess.run([cc, *flags, "-shared", "-fPIC", "-o", str(tmp), str(src), "-lm"], check=True, capture_output=True)
        os.replace(tmp, lib)
        if cache_dir:
            _prune(cache_dir)
    t2 = time.perf_counter()
    return ca.external(fn.name(), str(lib)), {
        "generate_s": t1 - t0,
        "compile_s": t2 - t1,
        "compiler": cc,
        "flags": list(flags),
        "c_bytes": src.stat().st_size,
        "cache_hit": hit,
        "library": str(lib),
    }


def _prune(folder: Path, keep: int = 200) -> None:
    """Keep the `keep` most recently written libraries of the cache folder."""
    libs = sorted(folder.glob("*.so"), key=lambda f: f.stat().st_mtime, reverse=True)
    for old in libs[keep:]:
        old.unlink(missing_ok=True)


BATCH_WIDTH_MAX = 1024  # points per VM batch (longer rows gain nothing and cost memory)
C_CHUNK = 25  # points per call of the compiled chunk function (more calls, more C to compile)


def _split(n: int, cores: int, cap: int) -> tuple[int, int]:
    """(batches, width): at least `cores` batches when there are enough points, each at most `cap` wide."""
    batches = max(min(cores, n), math.ceil(n / cap))
    return batches, math.ceil(n / batches)


def evaluate(
    cl: ClosedLoop,
    dims: list[Dim],
    base: Base,
    points: np.ndarray,
    cores: int = 2,
    backend: str = "vm",
    cache: Path | None | bool = True,
) -> tuple[np.ndarray, np.ndarray, float, dict]:
    """The cost and success of every row of `points` (n, d): (costs, successes, seconds, info).

    backend "vm": batches of points replayed on rows in the CasADi VM (`batch_point_function`), one
    batch per thread (`Function.map(batches, "thread", cores)`); "c": CasADi-generated C of the scalar
    closed loop, compiled (see `compile_c`) as a function of a chunk of points, called chunk after
    chunk in one batch per thread.
    The seconds include building and compiling."""
    points = np.asarray(points, float).reshape(len(points), len(dims))
    n = points.shape[0]
    t0 = time.perf_counter()
    info: dict = {"backend": backend}
    if n == 0:
        return np.zeros(0), np.zeros(0, bool), 0.0, info
    if backend == "vm" and cl.integrator == "fixed":
        batches, width = _split(n, cores, BATCH_WIDTH_MAX)
        fn = batch_point_function(cl, dims, base, width)
    elif backend == "c":
        chunk = min(C_CHUNK, math.ceil(n / max(1, cores)))
        ext, cinfo = compile_c(chunk_function(point_function(cl, dims, base), chunk), cache=cache)
        info.update(cinfo)
        # one batch per thread, each a VM loop of calls to the compiled chunk (the noise passed, not copied)
        batches, per = _split(math.ceil(n / chunk), cores, math.inf)
        fn = chunk_function(ext, per)
        width = per * chunk
        info["chunk"] = chunk
    elif backend == "vm":  # an MX closed loop (cvodes): the scalar Function mapped point by point
        batches, width = n, 1
        fn = point_function(cl, dims, base)
    else:
        raise ValueError(f"sweep backend {backend!r}: use 'vm' or 'c'")
    info.update({"batches": batches, "width": width, "threads": int(cores)})
    pad = batches * width - n
    theta = np.vstack([points, np.repeat(points[-1:], pad, axis=0)]) if pad else points
    fm = fn.map(batches, "thread", int(cores)) if batches > 1 else fn
    cost, succ = fm(ca.DM(theta.T), ca.DM(base.NY), ca.DM(base.NW))  # batch b: columns b*width...
    cost = np.asarray(cost).ravel()[:n]
    succ = np.asarray(succ).ravel()[:n] > 0.5
    return cost, succ, time.perf_counter() - t0, info


def sweep(
    cl: ClosedLoop,
    dims: list[Dim],
    base: Base,
    n: int,
    design: str = "lhs",
    seed: int = 0,
    cores: int = 2,
    backend: str = "vm",
    cache: Path | None | bool = True,
    engine=None,
) -> dict:
    """Evaluate `n` points of the box `dims` (backend "vm" or "c"). With an `engine`
    (`validation._cluster.Engine`) the points are split into one contiguous part per worker, each
    evaluated there on one core; every point is costed on its own, so the costs equal one process's."""
    pts = sample(dims, n, design, seed)
    if engine is None:
        cost, succ, secs, info = evaluate(cl, dims, base, pts, cores, backend, cache)
    else:
        t0 = time.perf_counter()
        parts = [q for q in np.array_split(pts, max(1, min(engine.workers, len(pts)))) if len(q)]
        got = engine.map(_evaluate_part, [(cl, dims, base, q, backend, cache) for q in parts])
        cost = np.concatenate([g[0] for g in got]) if got else np.zeros(0)
        succ = np.concatenate([g[1] for g in got]) if got else np.zeros(0, bool)
        secs, info = time.perf_counter() - t0, {"backend": backend, "workers": engine.workers, "parts": len(parts)}
    info.update({"seconds": secs, "trajectories_per_s": pts.shape[0] / secs if secs > 0 else None})
    return {
        "dims": [dataclasses.asdict(d) for d in dims],
        "design": design,
        "seed": seed,
        "n": int(pts.shape[0]),
        "points": pts.tolist(),
        "cost": cost.tolist(),
        "success": succ.astype(int).tolist(),
        "timing": info,
    }


def _evaluate_part(item: tuple) -> tuple[np.ndarray, np.ndarray]:
    """A worker's share of a split sweep: the costs and successes of its points, on one core."""
    from ._cluster import pin_jax

    pin_jax()
    cl, dims, base, points, backend, cache = item
    cost, succ, _, _ = evaluate(cl, dims, base, points, 1, backend, cache)
    return cost, succ


__all__ = [
    "DESIGNS",
    "Base",
    "Dim",
    "NOMINAL_KNOBS",
    "batch_point_function",
    "c_cache_dir",
    "chunk_function",
    "compile_c",
    "evaluate",
    "parameter_box",
    "point_function",
    "sample",
    "sweep",
    "vertex_subset",
    "vertices",
]
