"""A GP run as `state = init(config, key)`, `state = step(state)`.

The state holds the islands' trees `(I, n, T, L)`, their training costs and complexities, a
Pareto archive (the best individual seen for every complexity), the PRNG key, the generation
and the history. `step` is: migration -> ranking (NSGA-II or penalty; genotype and behaviour
duplicates punished) -> tournaments, crossover/mutation, elites, random immigrants (host, numpy,
seeded from the generation's key) -> sympy simplification of a few -> evaluation of the whole
population by one compiled program (sharded over devices when there are several) -> constant
tuning of the best few every `const_every` generations (random search through the same compiled
program) -> gradient tuning of the best two every `tune_every` generations (each compiled as a
small program of its own shape, see `_polish`) -> archive. The population program lives in a
context cached per configuration, so it is not re-traced between generations.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from ._config import GPConfig
from ._context import Context, _assess, _assess_flat, complexity, context


@dataclasses.dataclass(frozen=True)
class GPState:
    """Everything a run needs to continue: `arrays` (numpy/JAX arrays) and the history."""

    config: GPConfig
    arrays: dict[str, Any]
    history: tuple[dict[str, Any], ...] = ()

    @property
    def generation(self) -> int:
        return int(self.arrays["generation"])


def init(config: GPConfig, key=None) -> GPState:
    """Generation 0: ramped half-and-half islands with the fitted `seed_policy` and `linear_seeds`
    tuned linear individuals (see `_seeds`), evaluated; `key` defaults to the run's seed."""
    from synth._runfolder import stream_key

    ctx = context(config)
    t0 = time.perf_counter()
    key = stream_key(config.seed, "gp") if key is None else key
    key = key if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else jr.wrap_key_data(key)
    key, k_init = jr.split(key)
    I, n, T, L = ctx.shape
    rng = _rng(k_init)
    code, const = ctx.random_population(rng, I * n)
    code, const = code.reshape(I, n, T, L), const.reshape(I, n, T, L)
    seeds, given = _seeds(ctx, rng)
    for k, (s_code, s_const) in enumerate(seeds[: I * n]):  # seed k to island k mod I, in the last slots
        code[k % I, n - 1 - k // I], const[k % I, n - 1 - k // I] = s_code, s_const
    cost, bad = _assess(ctx, code, const)
    if given:
        given["seed_cost"] = np.asarray(cost[0, n - 1])
    arrays = {
        "code": code,
        "const": const,
        "cost": cost,
        "complexity": np.asarray(complexity(code)),
        **ctx.empty_archive(),
        "key": np.asarray(jr.key_data(key)),
        "generation": np.asarray(0),
        **given,
    }
    arrays = _update_archive(ctx, arrays)
    return GPState(config, arrays, (_record(arrays, 0, time.perf_counter() - t0, bad),))


def _seeds(ctx: Context, rng: np.random.Generator) -> tuple[list, dict]:
    """The seeds of generation 0 as arrays `(code, const)`, in order: the fitted `seed_policy`
    (tuned), its gain-scheduled observer forms (`_schedule`) and the `linear_seeds`, each tuned
    (`_seeds.tuned_seeds`, all at once); and the seed policy's arrays for the archive (or {})."""
    from synth import SymbolicPolicy
    from synth._runfolder import stream_key

    from ._schedule import scheduled_seeds
    from ._seeds import fitted_seed, linear_starts, seed_steps, stack_seeds, tuned_seeds

    config = ctx.config
    fitted, first, scheduled, linear = None, [], [], []
    steps = seed_steps(config, ctx.task)
    if config.seed_policy:
        policy = SymbolicPolicy.load(config.seed_policy)
        fitted = fitted_seed(ctx, policy, f"seed policy {config.seed_policy!r}")
        if config.seed_policy_steps:  # thoroughly, on trajectories of its own (see `_seeds`)
            own = ctx.sim.scenarios(stream_key(config.seed, "seed-policy"), config.seed_policy_trajectories, dtype=ctx.dtype)
            first = [(fitted, config.seed_policy_steps, own)]
        elif config.seed_steps:
            first = [(fitted, None, None)]
        if config.scheduled_seeds and config.seed_steps:
            forms = (ctx.encode(exprs) for exprs in scheduled_seeds(ctx, policy))
            scheduled = [(a, steps, None) for a in forms if a is not None]
    if config.linear_seeds and config.seed_steps:
        linear = [(a, steps, None) for a in linear_starts(ctx, rng, config.linear_seeds)]
    tuned = tuned_seeds(ctx, first + scheduled + linear)
    seeds, given = [], {}
    if fitted is not None:
        got = tuned[0] if first else None
        s_code, s_const = got[:2] if got is not None else fitted
        seeds.append((s_code, s_const))
        given = {"seed_code": s_code, "seed_const": s_const}
    rest = stack_seeds(ctx, tuned[len(first) : len(first) + len(scheduled)])
    seeds += list(zip(*rest[:2]))
    seeds += list(zip(*stack_seeds(ctx, tuned[len(first) + len(scheduled) :])[:2]))
    return seeds, given


def _update_archive(ctx: Context, a: dict) -> dict:
    I, n, T, L = a["code"].shape
    ac, ak, acost = ctx.archive(
        a["archive_code"],
        a["archive_const"],
        a["archive_cost"],
        a["code"].reshape(I * n, T, L),
        a["const"].reshape(I * n, T, L),
        a["cost"].reshape(-1),
        a["complexity"].reshape(-1),
    )
    return {**a, "archive_code": np.asarray(ac), "archive_const": np.asarray(ak), "archive_cost": np.asarray(acost, np.float64)}


def _record(a: dict, gen: int, seconds: float, bad: int) -> dict:
    cost = a["cost"].reshape(-1)
    best = int(np.argmin(np.where(np.isfinite(cost), cost, np.inf)))
    fin = cost[np.isfinite(cost)]
    return {
        "generation": gen,
        "best_cost": float(cost[best]),
        "median_cost": float(np.median(fin)) if fin.size else float("inf"),
        "complexity": int(a["complexity"].reshape(-1)[best]),
        "seconds": round(seconds, 3),
        "non_finite": bad,
    }


def step(state: GPState) -> GPState:
    """One generation."""
    from ._simplify import simplify_slots

    cfg = state.config
    ctx = context(cfg)
    t0 = time.perf_counter()
    a = state.arrays
    gen = int(a["generation"]) + 1
    key, k_breed, k_simp, k_const = jr.split(jr.wrap_key_data(jnp.asarray(a["key"])), 4)
    code, const = ctx.breed(_rng(k_breed), a["code"], a["const"], a["cost"], a["complexity"], gen)
    simplify_slots(ctx, code, const, _rng(k_simp))
    cost, bad = _assess(ctx, code, const)
    if cfg.const_search and cfg.const_top > 0 and gen % cfg.const_every == 0:
        _const_search(ctx, _rng(k_const), code, const, cost)
    if cfg.tune_every > 0 and cfg.tune_top > 0 and cfg.tune_steps > 0 and gen % cfg.tune_every == 0:
        _tune_best(ctx, code, const, cost)
    a = {
        **a,
        "code": code,
        "const": const,
        "cost": cost,
        "complexity": np.asarray(complexity(code)),
        "key": np.asarray(jr.key_data(key)),
        "generation": np.asarray(gen),
    }
    a = _update_archive(ctx, a)
    return GPState(cfg, a, (*state.history, _record(a, gen, time.perf_counter() - t0, bad)))


def _const_search(ctx: Context, rng: np.random.Generator, code, const, cost) -> None:
    """Tune the constants of the `const_top` best individuals by random perturbation: one extra
    evaluation of the population-sized program (no new compilation); in place."""
    cfg = ctx.config
    I, n, T, L = code.shape
    fc, fk, flat = code.reshape(I * n, T, L), const.reshape(I * n, T, L), cost.reshape(-1)
    finite = np.where(np.isfinite(flat), flat, np.inf)
    top = [
        int(j)
        for j in np.argsort(finite, kind="stable")[: cfg.const_top]
        if np.isfinite(finite[j]) and (fc[j] == ctx.tok.const_code).any()
    ]
    if not top:
        return
    per = ctx.rows // len(top)
    rows_c = np.repeat(fc[top], per, 0)
    rows_k = np.repeat(fk[top], per, 0).astype(np.float64)
    is_c = rows_c == ctx.tok.const_code
    scale = cfg.const_search_sd * np.maximum(1.0, np.abs(rows_k)) * rng.uniform(0.05, 1.0, (len(rows_k), 1, 1))
    rows_k = np.where(is_c, rows_k + scale * rng.standard_normal(rows_k.shape), rows_k).astype(fk.dtype)
    new_cost, _ = _assess_flat(ctx, rows_c, rows_k)
    for m, j in enumerate(top):
        block = new_cost[m * per : (m + 1) * per]
        b = int(np.argmin(np.where(np.isfinite(block), block, np.inf)))
        if block[b] < flat[j]:
            fk[j] = rows_k[m * per + b]
            flat[j] = block[b]


def _tune_best(ctx: Context, code, const, cost) -> None:
    """Memetic step: Adam through the simulator on the coefficients of the `tune_top` best
    individuals (each compiled as a small program of its own shape, see `_polish`; one per core at
    a time, `synth._parallel`); a tuned
    individual that still fits the tree budget replaces the original if the population program
    confirms a lower training cost. In place."""
    from synth._parallel import map_jobs

    from ._polish import tune_constants
    from ._trees import policy_of

    cfg = ctx.config
    I, n, T, L = code.shape
    fc, fk, flat = code.reshape(I * n, T, L), const.reshape(I * n, T, L), cost.reshape(-1)
    order = np.argsort(np.where(np.isfinite(flat), flat, np.inf), kind="stable")
    top, seen = [], set()
    for j in order:
        if not np.isfinite(flat[j]) or len(top) >= cfg.tune_top:
            break
        if round(float(flat[j]), 6) not in seen:
            seen.add(round(float(flat[j]), 6))
            top.append(int(j))
    rows, new_code, new_const = [], [], []
    tunings = map_jobs(lambda j: tune_constants(ctx, policy_of(ctx, fc[j], fk[j]), cfg.tune_steps, cfg.polish_lr), top)
    for j, (tuned, train) in zip(top, tunings):
        if not np.isfinite(train) or train >= flat[j]:
            continue
        arrays = ctx.encode((*tuned.f, *tuned.g))
        if arrays is None:
            continue
        rows.append(j)
        new_code.append(arrays[0])
        new_const.append(arrays[1])
    if not rows:
        return
    confirmed, _ = _assess_flat(ctx, np.stack(new_code), np.stack(new_const))
    for m, j in enumerate(rows):
        if confirmed[m] < flat[j]:
            fc[j], fk[j], flat[j] = new_code[m], new_const[m], confirmed[m]


def _rng(key) -> np.random.Generator:
    return np.random.default_rng(np.asarray(jr.key_data(key), np.uint32).tolist())
