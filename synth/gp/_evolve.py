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
import json
import time
from typing import Any

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from synth._cost import finite_mean
from synth._parallel import KeptCache

from ._config import GPConfig, Layout, make_layout
from ._interpret import make_controller, prepare
from ._polish import TUNERS_KEPT
from ._select import duplicates, finite_cost, priority, tournament
from ._trees import Tokens
from ._variation import Breeder, from_arrays, to_arrays


@dataclasses.dataclass(frozen=True)
class GPState:
    """Everything a run needs to continue: `arrays` (numpy/JAX arrays) and the history."""

    config: GPConfig
    arrays: dict[str, Any]
    history: tuple[dict[str, Any], ...] = ()

    @property
    def generation(self) -> int:
        return int(self.arrays["generation"])


class Context:
    """The task, simulator, training data and compiled functions of one configuration."""

    def __init__(self, config: GPConfig):
        import plants
        from synth import Simulator
        from synth._runfolder import stream_key

        self.config = cfg = config
        self.task = task = plants.training_task(plants.get_task(cfg.task), cfg.normalised, cfg.robust)[0]
        # The cost every candidate is trained, tuned and chosen on: the task's, at every control tick
        # by default (on the task's grid an evolved latent state that oscillates between grid points
        # looked better than LQG, and 13 % worse on every tick: bench/gp_RESULTS.md, session 7).
        self.sim = Simulator(task.on_every_tick() if cfg.cost_every_tick else task)
        self.layout: Layout = make_layout(task, cfg.method, cfg.latent)
        self.tok = Tokens(
            tuple(cfg.operators), tuple(float(w) for w in cfg.operators.values()), self.layout.n_in, cfg.max_nodes, cfg.max_depth
        )
        self.dtype = np.dtype(cfg.dtype)
        self.controller = make_controller(self.tok, self.layout, task.dt, cfg.integrator)
        dt_ = self.dtype
        self.hook = lambda x, z: (x.astype(dt_), z.astype(dt_))  # keep the training precision under x64
        self.allowed = jnp.asarray(self.layout.allowed)
        self.train = self.sim.scenarios(stream_key(cfg.seed, "train"), cfg.train_trajectories, dtype=self.dtype)
        self.devices = _devices(cfg.devices)
        self.rows = cfg.population  # evaluation batch: rows of (individual, scenario set)
        # The compiled batch: the rows padded to a multiple of the device count (copies of the first
        # row, whose costs are dropped), so any population shards over any number of devices.
        self.padded_rows = -(-self.rows // len(self.devices)) * len(self.devices)
        self.mesh = jax.sharding.Mesh(np.array(self.devices), ("pop",))
        self._evaluate = jax.jit(self._evaluate_impl)
        self.tuners = KeptCache(TUNERS_KEPT)  # compiled constant tuners, the last few shapes (`_polish`)
        self.breeder = Breeder(self.tok, self.layout.allowed, cfg)
        I, n = cfg.islands, cfg.island_size
        self.p_cross = cfg.island_rates(cfg.crossover_rate)
        self.n_immigrants = np.round(cfg.island_rates(cfg.immigrant_rate) * n).astype(int)
        self.n_simplify = np.round(cfg.island_rates(cfg.simplify_rate) * n).astype(int)
        self.shape = (I, n, self.layout.n_trees, cfg.max_nodes)
        self.elite = min(cfg.elite, n // 2)
        self.migration = min(cfg.migration_size, n // 2)
        self.n_archive = self.layout.n_trees * cfg.max_nodes

    def empty_archive(self) -> dict[str, np.ndarray]:
        """The Pareto archive of a run that has costed nothing: every slot empty at infinite cost."""
        T, L = self.layout.n_trees, self.config.max_nodes
        return {
            "archive_code": np.full((self.n_archive, T, L), -1, np.int32),
            "archive_const": np.zeros((self.n_archive, T, L), self.dtype),
            "archive_cost": np.full(self.n_archive, np.inf),
        }

    # Evaluation ---------------------------------------------------------------------------
    def _evaluate_impl(self, code, const, scen, live):
        """Costs (R, N) of individual r on the N scenarios `scen` (leaves (N, ...), the same for
        every row: each tick's noise is drawn once for all of them). `live`: a run-time True (see
        `make_controller`)."""
        params = jax.vmap(lambda c, k: prepare(self.tok, c, k))(code, const)
        noise = jax.vmap(self.sim.noise_draws)(scen)
        with_live = lambda p: {**p, "live": live}  # noqa: E731  (closed over: not batched)
        one = lambda p, s, n: self.sim.rollout(self.controller, with_live(p), s, hook=self.hook, noise=n).cost  # noqa: E731
        return jax.vmap(lambda p: jax.vmap(lambda s, n: one(p, s, n))(scen, noise))(params)

    def evaluate(self, code, const, scen) -> np.ndarray:
        """Costs (K, N) of K individuals (K <= population) on the scenarios `scen` (N, ...); one
        compiled program for every call with N scenarios (the training batch size). The batch is
        padded to `padded_rows` with copies of the first individual, whose costs are dropped: every
        row is costed on its own, so the costs do not depend on the padding or the device count."""
        R = self.padded_rows
        K = code.shape[0]
        pad = R - K
        code = jnp.concatenate([code, jnp.repeat(code[:1], pad, 0)]) if pad else code
        const = jnp.concatenate([const, jnp.repeat(const[:1], pad, 0)]) if pad else const
        if len(self.devices) > 1:
            code, const = jax.device_put((code, const), jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec("pop")))
            scen = jax.device_put(scen, jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec()))
        cost = self._evaluate(code, const.astype(self.dtype), scen, np.bool_(True))
        return np.asarray(cost)[:K]

    def encode(self, exprs):
        """Tree arrays `(code, const)` (T, L) of one expression per tree (latent trees, then
        readouts), or None if one is not expressible in the alphabet, the node budget or the depth
        limit, or has a non-finite constant."""
        from ._trees import NotEncodable, check_tree, from_sympy

        lay = self.layout
        try:
            trees = [from_sympy(self.tok, lay.names, lay.allowed[t], e, self.dtype) for t, e in enumerate(exprs)]
        except (NotEncodable, RecursionError, TypeError, ValueError):
            return None
        if not all(check_tree(self.tok, c) and np.all(np.isfinite(k)) for c, k in trees):
            return None
        return np.stack([c for c, _ in trees]), np.stack([k for _, k in trees])

    # Breeding (host) -----------------------------------------------------------------------
    def random_population(self, rng, count: int):
        T, L = self.layout.n_trees, self.config.max_nodes
        code = np.full((count, T, L), -1, np.int32)
        const = np.zeros((count, T, L), self.dtype)
        for i in range(count):
            for t, tree in enumerate(self.breeder.individual(rng, i)):
                code[i, t], const[i, t] = to_arrays(self.tok, tree, self.dtype)
        return code, const

    def breed(self, rng, code, const, cost, cplx, gen: int):
        """The next islands: migration, ranking, tournaments, variation, elites, immigrants."""
        cfg = self.config
        I, n, T, L = code.shape
        code, const, cost, cplx = code.copy(), const.copy(), cost.copy(), cplx.copy()
        m = self.migration
        if I > 1 and gen > 0 and gen % cfg.migration_every == 0:
            order = np.argsort(finite_cost(cost), axis=1, kind="stable")
            best = [
                (code[i, order[i, :m]], const[i, order[i, :m]], cost[i, order[i, :m]], cplx[i, order[i, :m]]) for i in range(I)
            ]
            for i in range(I):
                w = order[i, n - m :]
                code[i, w], const[i, w], cost[i, w], cplx[i, w] = best[(i - 1) % I]
        new_code = np.full_like(code, -1)
        new_const = np.zeros_like(const)
        for i in range(I):
            sel_cost = cost[i].copy()
            if cfg.punish_duplicates:
                sel_cost[duplicates(code[i], const[i], cost[i])] = np.inf
            prio = priority(sel_cost, cplx[i], cfg.selection, cfg.complexity_penalty)
            elite = np.argsort(finite_cost(sel_cost), kind="stable")[: self.elite]
            new_code[i, : self.elite], new_const[i, : self.elite] = code[i, elite], const[i, elite]
            k = self.elite
            n_imm = int(self.n_immigrants[i])
            if n_imm:
                new_code[i, k : k + n_imm], new_const[i, k : k + n_imm] = self.random_population(rng, n_imm)
                k += n_imm
            parents = tournament(rng, prio, n - k + 1, cfg.tournament)
            for p in range(0, n - k, 2):
                pa, pb = ([from_arrays(code[i, j, t], const[i, j, t]) for t in range(T)] for j in parents[p : p + 2])
                a, b = self.breeder.offspring(rng, pa, pb, float(self.p_cross[i]))
                for child, slot in ((a, k + p), (b, k + p + 1)):
                    if slot < n:
                        for t in range(T):
                            new_code[i, slot, t], new_const[i, slot, t] = to_arrays(self.tok, child[t], self.dtype)
        return new_code, new_const

    # Archive --------------------------------------------------------------------------------
    def archive(self, a_code, a_const, a_cost, code, const, cost, cplx):
        """Keep, for every complexity, the best individual seen so far."""
        a_code, a_const, a_cost = a_code.copy(), a_const.copy(), a_cost.copy()
        c = finite_cost(cost)
        for i in range(self.n_archive):
            idx = np.flatnonzero(cplx == i + 1)
            if idx.size:
                j = idx[np.argmin(c[idx])]
                if c[j] < a_cost[i] and np.isfinite(cost[j]):
                    a_code[i], a_const[i], a_cost[i] = code[j], const[j], cost[j]
        return a_code, a_const, a_cost


def _devices(count: int) -> list:
    """The first `count` local devices (0: all of them); GPConfigError if there are fewer."""
    from ._config import GPConfigError

    available = jax.devices()
    if count > len(available):
        raise GPConfigError(
            f"GP setting devices = {count} is not valid; JAX sees {len(available)} {available[0].platform} "
            f"device(s): give 0 (all) or 1..{len(available)} (on CPU, XLA_FLAGS=--xla_force_host_platform_device_count={count} "
            "before JAX starts makes that many host devices)"
        )
    return available[:count] if count else available


_CONTEXTS: dict[str, Context] = {}


def context(config: GPConfig) -> Context:
    d = config.to_dict()
    d.pop("generations")
    d.pop("time_budget")
    key = json.dumps(d, sort_keys=True)
    ctx = _CONTEXTS.get(key)
    if ctx is None:
        ctx = _CONTEXTS[key] = Context(config)
    return ctx


def complexity(code) -> np.ndarray:
    return np.sum(np.asarray(code) >= 0, axis=(-1, -2))


def _assess(ctx: Context, code, const):
    """Training cost per individual (inf if any trajectory is non-finite) and the count of such."""
    I, n = code.shape[:2]
    costs = ctx.evaluate(code.reshape(I * n, *code.shape[2:]), const.reshape(I * n, *const.shape[2:]), ctx.train)
    mean = finite_mean(costs, axis=1).astype(np.float64)
    return mean.reshape(I, n), int((~np.all(np.isfinite(costs), axis=1)).sum())


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


def _assess_flat(ctx: Context, code, const):
    costs = ctx.evaluate(jnp.asarray(code), jnp.asarray(const), ctx.train)
    return finite_mean(costs, axis=1), int((~np.all(np.isfinite(costs), axis=1)).sum())
