"""A GP configuration's context: the task, simulator, training data and the compiled population
program, cached per configuration (`context`) so a run, and a resumed run, trace it once; and the
training cost of a population through it (`_assess`, `_assess_flat`)."""

from __future__ import annotations

import json
import math
import time

import jax
import jax.numpy as jnp
import numpy as np

from synth._cost import finite_mean
from synth._parallel import KeptCache

from ._config import GPConfig, Layout, make_layout
from ._interpret import make_controller, prepare
from ._polish import TUNERS_KEPT
from ._select import duplicates, finite_cost, priority, tournament
from ._trees import Tokens
from ._variation import Breeder, from_arrays, to_arrays


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
        self._calls: dict[int, list] = {}  # rows of a compiled program -> its calls' wall s (`batch_rows`)
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

    def evaluate(self, code, const, scen, calls: int = 1) -> np.ndarray:
        """Costs (K, N) of K individuals (K <= population) on the scenarios `scen` (N, ...), with
        N the training batch size; `calls`: how many such calls of K the caller is making. The
        batch is padded to the rows of a compiled program (`batch_rows`) with copies of the first
        individual, whose costs are dropped: every row is costed on its own, so the costs do not
        depend on the padding or the device count."""
        R = self.batch_rows(code.shape[0], calls)
        t0 = time.perf_counter()
        cost = self.evaluate_rows(code, const, scen, R)
        self._timed(R, time.perf_counter() - t0)
        return cost

    def batch_rows(self, K: int, calls: int = 1) -> int:
        """Rows of the program that costs K individuals in each of `calls` calls: the population's
        (`padded_rows`), or for a few individuals (validation's candidates, the tuned ones
        confirmed) a small program of the next power of two times the device count, once the
        population program's measured run time over those calls saves more than its measured
        compile time would cost (at once for tasks whose costing is slow, never where compiling
        dominates)."""
        small = self.small_rows(K)
        if 4 * small > self.padded_rows:  # saves under three quarters of the work: not worth a program
            return self.padded_rows
        if small in self._calls:
            return small
        first, run = self._calls.get(self.padded_rows, (None, None))
        worth = run is not None and calls * run * (1 - small / self.padded_rows) > first - run
        return small if worth else self.padded_rows

    def small_rows(self, K: int) -> int:
        """Rows of the small program for K individuals: the next power of two times the device count."""
        d = len(self.devices)
        return d * 2 ** math.ceil(math.log2(max(1, -(-K // d))))

    def _timed(self, R: int, seconds: float) -> None:
        """Record a call's wall time: [the first call's (compiling the program), the latest later call's]."""
        if R in self._calls:
            self._calls[R][1] = seconds
        else:
            self._calls[R] = [seconds, None]

    def evaluate_rows(self, code, const, scen, R: int) -> np.ndarray:
        """`evaluate` through the program of R rows (R >= K, a multiple of the device count)."""
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


def _assess_flat(ctx: Context, code, const):
    costs = ctx.evaluate(jnp.asarray(code), jnp.asarray(const), ctx.train)
    return finite_mean(costs, axis=1), int((~np.all(np.isfinite(costs), axis=1)).sum())
