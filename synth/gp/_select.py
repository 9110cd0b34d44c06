"""Selection on the host: NSGA-II ranking on (cost, complexity), a complexity penalty,
tournaments and the punishment of duplicates. Lower is better for every objective; non-finite
costs count as the worst."""

from __future__ import annotations

import numpy as np

WORST = 1e30


def finite_cost(cost: np.ndarray) -> np.ndarray:
    cost = np.asarray(cost, float)
    return np.where(np.isfinite(cost), cost, WORST)


def nondominated_rank(f: np.ndarray) -> np.ndarray:
    """Front index (0 = Pareto front) of each row of `f` (n, m)."""
    n = f.shape[0]
    dom = np.all(f[:, None, :] <= f[None, :, :], -1) & np.any(f[:, None, :] < f[None, :, :], -1)  # i dominates j
    rank = np.full(n, -1)
    r = 0
    while (rank < 0).any():
        free = rank < 0
        front = free & ~np.any(dom & free[:, None], 0)
        rank[front] = r
        r += 1
    return rank


def crowding(f: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance within each front (objectives scaled by their population range)."""
    n, m = f.shape
    dist = np.zeros(n)
    for k in range(m):
        order = np.lexsort((f[:, k], rank))
        fs, rs = f[order, k], rank[order]
        span = max(float(f[:, k].max() - f[:, k].min()), 1e-12)
        inner = np.zeros(n, bool)
        inner[1:-1] = (rs[1:-1] == rs[:-2]) & (rs[1:-1] == rs[2:])
        d = np.full(n, np.inf)
        d[1:-1] = np.where(inner[1:-1], (fs[2:] - fs[:-2]) / span, np.inf)
        dist[order] += d
    return dist


def pareto_front(cost: np.ndarray, complexity: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated (finite-cost) points."""
    ok = np.flatnonzero(np.isfinite(cost))
    if ok.size == 0:
        return ok
    f = np.stack([np.asarray(cost, float)[ok], np.asarray(complexity, float)[ok]], 1)
    return ok[nondominated_rank(f) == 0]


def duplicates(code: np.ndarray, const: np.ndarray, cost: np.ndarray | None = None, rel: float = 1e-5) -> np.ndarray:
    """True for every individual identical to an earlier one (code, const (n, T, L)), or, when
    `cost` is given, whose finite cost equals an earlier one's to a relative `rel` (the same
    behaviour on the training trajectories: e.g. the same readout with different unused latent
    dynamics, or a clone whose constants differ in the last digits)."""
    n = code.shape[0]
    seen: set[bytes] = set()
    dup = np.zeros(n, bool)
    for i in range(n):
        if cost is not None and np.isfinite(cost[i]):
            c = float(cost[i])
            q = (np.sign(c), np.round(np.log(abs(c)) / rel)) if rel > 0 and c != 0 else (c, 0.0)
            k = b"cost" + np.asarray(q, np.float64).tobytes()
        else:
            k = code[i].tobytes() + np.where(code[i] >= 0, const[i], 0).tobytes()
        dup[i] = k in seen
        seen.add(k)
    return dup


def priority(cost: np.ndarray, complexity: np.ndarray, mode: str, penalty: float) -> np.ndarray:
    """Tournament priority per individual (0 = best): NSGA-II (front, then crowding) or
    penalised cost."""
    c = finite_cost(cost)
    if mode == "nsga2":
        f = np.stack([c, np.asarray(complexity, float)], 1)
        rank = nondominated_rank(f)
        order = np.lexsort((-crowding(f, rank), rank))
    else:
        order = np.argsort(c + penalty * np.asarray(complexity, float), kind="stable")
    prio = np.empty_like(order)
    prio[order] = np.arange(order.size)
    return prio


def tournament(rng: np.random.Generator, prio: np.ndarray, count: int, size: int) -> np.ndarray:
    """`count` winners of tournaments of `size` random entrants (lowest priority wins)."""
    entrants = rng.integers(0, prio.size, (count, size))
    return entrants[np.arange(count), np.argmin(prio[entrants], 1)]
