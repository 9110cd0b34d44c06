"""Monte Carlo comparison on held-out trajectories with common random numbers (JAX simulator).

Every policy runs on the same scenarios (initial states, targets, parameters, noise), drawn from the
"test" stream, so differences between policies are not noise. Reported per policy: mean cost with a
95% t interval, the paired ratio of mean costs to LQG with a 95% delta-method interval (from the
paired per-trajectory costs), cost quantiles, and the success rate (the task's success rule) with a
95% Wilson interval.
"""

from __future__ import annotations

import math
import time

import numpy as np
from scipy import stats

from plants import Task
from synth._cost import mean_ci

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)


def wilson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion."""
    if n == 0:
        return (0.0, 1.0)
    zq = stats.norm.ppf(0.5 + confidence / 2)
    ph = successes / n
    den = 1 + zq**2 / n
    centre = (ph + zq**2 / (2 * n)) / den
    half = zq * math.sqrt(ph * (1 - ph) / n + zq**2 / (4 * n**2)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


def ratio_ci(c: np.ndarray, b: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """Ratio of mean costs `mean(c) / mean(b)` on paired samples, with a delta-method interval."""
    if not (np.all(np.isfinite(c)) and np.all(np.isfinite(b))) or c.size < 2:
        return (math.inf, math.inf, math.inf) if not np.all(np.isfinite(c)) else (math.nan, math.nan, math.nan)
    mb = float(np.mean(b))
    ratio = float(np.mean(c)) / mb
    d = c - ratio * b
    half = float(stats.t.ppf(0.5 + confidence / 2, c.size - 1) * np.std(d, ddof=1) / math.sqrt(c.size) / abs(mb))
    return (ratio, ratio - half, ratio + half)


def cost_statistics(c: np.ndarray, success: np.ndarray) -> dict:
    c = np.asarray(c, float)
    s = np.asarray(success, bool)
    m, lo, hi = mean_ci(c)
    fin = c[np.isfinite(c)]
    k = int(s.sum())
    wl, wh = wilson(k, s.size)
    return {
        "n": int(c.size),
        "mean": m,
        "mean_ci95": [lo, hi],
        "std": float(np.std(fin, ddof=1)) if fin.size > 1 else None,
        "quantiles": {f"q{int(q * 100):02d}": float(np.quantile(c, q)) if c.size else None for q in QUANTILES},
        "max": float(np.max(c)) if c.size else None,
        "finite_fraction": float(np.mean(np.isfinite(c))) if c.size else None,
        "success": {"count": k, "rate": k / s.size if s.size else None, "wilson95": [wl, wh]},
    }


def monte_carlo(task: Task, policies: dict, n: int, key, oracle: bool | None = None, oracle_max: int = 200, engine=None) -> dict:
    """Run every policy in `policies` (name -> `SymbolicPolicy`; must include "lqg") on `n` scenarios
    drawn with `key`; for varying-parameter tasks also the per-trajectory LQG oracle (designed at
    each scenario's parameters and target) on the first `min(n, oracle_max)` scenarios. Returns
    statistics and per-trajectory costs (and, under the private key `_scenarios`, the scenarios
    used).

    With an `engine` (`validation._cluster.Engine`) the trajectories are split into one contiguous
    part per worker: the scenarios are drawn here, once, and each worker simulates its slice, so
    trajectory i meets the same initial state, target, parameters and noise whatever the split, and
    the costs equal the single-process ones (the oracle runs here)."""
    from synth import Simulator

    from ._oracle import oracle_where_possible, run_oracle

    if "lqg" not in policies:
        raise ValueError("monte_carlo needs an 'lqg' entry among the policies")
    sim = Simulator(task)
    scen = sim.scenarios(key, n)
    if engine is None:
        parts = [_simulate_all(sim, policies, scen)]
    else:
        parts = engine.map(simulate_part, [(task, policies, part) for part in scenario_parts(scen, engine.workers)])
    # the parts' trajectories back in order; the seconds of a policy are its slowest part's
    costs = {name: np.concatenate([p[name][0] for p in parts]) for name in policies}
    succ = {name: np.concatenate([p[name][1] for p in parts]) for name in policies}
    timing = {name: max(p[name][2] for p in parts) for name in policies}
    result = {"n": n, "policies": {}, "oracle": None, "seconds": timing}
    if engine is not None:
        result["workers"] = engine.workers
    base = costs["lqg"]
    for name in policies:
        st = cost_statistics(costs[name], succ[name])
        r, lo, hi = ratio_ci(costs[name], base)
        st["ratio_to_lqg"] = {"ratio": r, "ci95": [lo, hi]}
        result["policies"][name] = st
    use_oracle = bool(task.varying_parameters) if oracle is None else oracle
    if use_oracle:
        m = min(n, oracle_max)
        t0 = time.perf_counter()
        p = np.asarray(scen.p)[:m]
        groups = oracle_where_possible(task, p, targets=np.asarray(scen.r)[:m])  # each at its own operating point
        if groups:
            idx, oc, osucc = run_oracle(sim, groups, scen)
            st = cost_statistics(oc, osucc)
            st["designed"] = int(idx.size)
            st["attempted"] = int(m)
            st["ratio_of_policies"] = {}
            for name in policies:
                r, lo, hi = ratio_ci(costs[name][idx], oc)
                st["ratio_of_policies"][name] = {"ratio": r, "ci95": [lo, hi]}
            costs["oracle"] = np.full(n, np.nan)
            costs["oracle"][idx] = oc
            result["oracle"] = st
        else:
            result["oracle"] = {
                "designed": 0,
                "attempted": int(m),
                "reason": "no LQG design exists for any drawn parameter set and target",
            }
        timing["oracle"] = time.perf_counter() - t0
    result["costs"] = {k: v.tolist() for k, v in costs.items()}
    result["success_flags"] = {k: v.astype(int).tolist() for k, v in succ.items()}
    result["_scenarios"] = scen
    return result


def scenario_parts(scen, parts: int) -> list[dict]:
    """`scen` cut into `parts` contiguous slices (as even as can be), each as host arrays a worker
    receives: x0, r, p and the raw data of the noise keys."""
    import jax.random as jr

    n = len(scen)
    bounds = np.linspace(0, n, max(1, min(parts, n)) + 1).round().astype(int)
    impl = str(jr.key_impl(scen.key))
    out = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        part = scen.take(slice(int(a), int(b)))
        out.append(
            {
                "x0": np.asarray(part.x0),
                "r": np.asarray(part.r),
                "p": np.asarray(part.p),
                "key": np.asarray(jr.key_data(part.key)),
                "impl": impl,
            }
        )
    return out


def simulate_part(item: tuple) -> dict:
    """A worker's share of a split Monte Carlo: every policy of `item = (task, policies, part)` on the
    scenarios of `part` (`scenario_parts`); costs, success flags and seconds per policy."""
    from ._cluster import pin_jax

    task, policies, part = item
    pin_jax(x64=part["x0"].dtype == np.float64)
    import jax.numpy as jnp
    import jax.random as jr

    from synth import Simulator
    from synth._simulate import Scenarios

    scen = Scenarios(
        x0=jnp.asarray(part["x0"]),
        r=jnp.asarray(part["r"]),
        p=jnp.asarray(part["p"]),
        key=jr.wrap_key_data(jnp.asarray(part["key"]), impl=part["impl"]),
    )
    return _simulate_all(Simulator(task), policies, scen)


def _simulate_all(sim, policies: dict, scen) -> dict:
    """Every policy on the scenarios `scen`: name -> (costs, success flags, seconds)."""
    out = {}
    for name, pol in policies.items():
        t0 = time.perf_counter()
        ro = sim.simulate(pol, scen)
        out[name] = (np.asarray(ro.cost, float), np.asarray(ro.success, bool), time.perf_counter() - t0)
    return out
