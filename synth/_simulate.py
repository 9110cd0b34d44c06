"""The closed-loop simulator: the sampled-data contract of docs/design.md in JAX.

At tick k (time k*dt) the controller reads `y_k = h(x_k, p) + sigma * n_k`, sets
`u_k = sat(readout)`, advances its latent state; then the plant is integrated from k*dt to (k+1)*dt
with `u_k` held, in `substeps` fixed steps of diffrax's Euler-Heun scheme (continuous time), or
stepped once by its map (discrete time). All randomness of a trajectory comes from its scenario:
initial state, targets, parameters and one key, from which the noise of tick k is drawn by
`fold_in(key, k)`. The same scenarios therefore give every controller the same noise (common
random numbers), and a rollout is a pure function of (controller parameters, scenario).

Controllers plug in as `Controller`s: three pure functions of a parameter pytree. A
`SymbolicPolicy` becomes one whose parameters are its numeric constants, so every policy of the
same structure reuses one compiled program; GP and ESPL supply their own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import lineax as lx
import numpy as np

from plants import Distribution, Task, to_jax

from ._controller import Controller
from ._parallel import KeptCache

Array = jax.Array

COMPILED_KEPT = 16  # compiled simulations kept per Simulator (the ones used last)


class Scenarios(eqx.Module):
    """Everything random about a batch of trajectories. Leading axis: trajectory."""

    x0: Array  # (N, nx)
    r: Array  # (N, nr)
    p: Array  # (N, np)
    key: Array  # (N,) typed PRNG keys for the per-tick noise

    def __len__(self) -> int:
        return int(self.x0.shape[0])

    def take(self, index) -> Scenarios:
        return jax.tree_util.tree_map(lambda a: a[index], self)


class Rollout(eqx.Module):
    """The outcome of trajectories: `cost` (lower is better; +inf if any value went non-finite
    while the trajectory was alive), `finite`, `success`, `terminated`, and when saved the
    trajectories `x` (ticks+1, nx), `y` (ticks, ny), `z` (ticks+1, nz), `u` (ticks, nu) on times `t`."""

    cost: Array
    finite: Array
    success: Array
    terminated: Array
    t: Array | None = None
    x: Array | None = None
    y: Array | None = None
    z: Array | None = None
    u: Array | None = None


class _Increment(diffrax.AbstractPath):
    """A Brownian increment drawn beforehand, presented to diffrax as a control path."""

    dw: Array
    t0: float = 0.0
    t1: float = 1.0

    def evaluate(self, t0, t1=None, left=True):
        return self.dw


def compute_once(live: Array, value: Array) -> Array:
    """`value`, computed once per tick whatever the number of its users.

    XLA's CPU compiler fuses a chain of elementwise operations into each of the kernels that use
    its result and computes it again in every one of them. A controller's output has many users
    (the cost, the plant step, the finiteness check, the latent map), so a symbolic controller of a
    few hundred operations was evaluated four to five times per tick (GP trees: 2,200 selects per
    tick where the trees have 513; bench/gp_RESULTS.md, session 8). A conditional is a boundary
    fusion does not cross: its operand is computed once, and every user reads the result. `live`
    must be a run-time value that is true (the tick index >= 0), not batched, so that the compiler
    keeps the conditional and `vmap` does not turn it into a select. Values are unchanged, except
    that operations the compiler used to contract across the boundary (multiply-add) may now
    round once more: float32 round-off. On other back ends (GPU) the value is returned as it is: a
    conditional there may cost a device-to-host synchronisation per tick."""
    if jax.default_backend() != "cpu":
        return value
    return jax.lax.cond(live, lambda v: v, jnp.zeros_like, value)


def _sample(dists: tuple[Distribution, ...], key: Array, n: int, dtype, stratified: bool = False) -> Array:
    """`n` draws of each distribution (columns). `stratified`: Latin hypercube, i.e. each column
    has exactly one draw in each of the `n` equally likely intervals of its distribution (a random
    permutation of the intervals per column, a uniform position inside each), mapped through the
    inverse distribution function."""
    if not dists:
        return jnp.zeros((n, 0), dtype)
    cols = []
    for d, k in zip(dists, jr.split(key, len(dists))):
        if d.kind == "fixed":
            cols.append(jnp.full((n,), d.a, dtype))
            continue
        if stratified:
            k_perm, k_pos = jr.split(k)
            tiny = jnp.finfo(dtype).tiny
            q = (jr.permutation(k_perm, n).astype(dtype) + jr.uniform(k_pos, (n,), dtype)) / n
            q = jnp.clip(q, tiny, 1 - jnp.finfo(dtype).epsneg)  # open interval: the normal's inverse is finite
            cols.append(d.a + (d.b - d.a) * q if d.kind == "uniform" else d.a + d.b * jax.scipy.special.ndtri(q))
        elif d.kind == "uniform":
            cols.append(jr.uniform(k, (n,), dtype, d.a, d.b))
        else:
            cols.append(d.a + d.b * jr.normal(k, (n,), dtype))
    return jnp.stack(cols, axis=-1)


class Simulator:
    """Closed-loop simulation of one task. Build once per task; reuse for every controller."""

    def __init__(self, task: Task):
        self.task = task
        self.fns = to_jax(task)
        pl = task.plant
        self.nx, self.nu, self.ny, self.nr = pl.nx, pl.nu, task.ny, task.nr
        self.n_ticks = task.n_ticks
        self.dt = task.dt
        self.substeps = task.substeps
        self.h = task.dt / task.substeps
        self.lo = np.array([lo for lo, _ in task.input_limits])
        self.hi = np.array([hi for _, hi in task.input_limits])
        self.sigma_y = np.asarray(task.observation_noise)
        self.every = task.cost.every
        self.n_grid = math.ceil(self.n_ticks / self.every)
        self._cache = KeptCache(COMPILED_KEPT)  # compiled simulations; each holds tens of MB, a GP run simulates many shapes once
        self._noise_compiled = jax.jit(self.noise_draws)  # compiled at its first call; the key is an argument, not a constant
        self._solver = diffrax.EulerHeun()

    # Scenarios -------------------------------------------------------------------------------
    def scenarios(self, key: Array, n: int, dtype=None, stratified: bool = False) -> Scenarios:
        """Draw `n` scenarios (initial states, targets, parameters, noise keys) from the task.

        `stratified=True` draws the initial states, targets and parameters as a Latin hypercube
        (every one of them covers its distribution evenly, one draw per `1/n` of probability), so
        the mean cost of a small batch is a much less noisy estimate of the expected cost (on the
        pendulum's 64 validation episodes the spread of the mean fell from 11.0 to 2.9). Use it for
        the trajectories a method learns from or chooses with; held-out test sets stay independent
        draws (the default), so that their mean is the plain Monte Carlo estimate."""
        dtype = dtype or jnp.result_type(float)
        k_x, k_r, k_p, k_n = jr.split(key, 4)
        t = self.task
        return Scenarios(
            x0=_sample(t.initial_state, k_x, n, dtype, stratified),
            r=_sample(t.target_distribution, k_r, n, dtype, stratified),
            p=_sample(t.parameter_distribution, k_p, n, dtype, stratified),
            key=jr.split(k_n, n),
        )

    # One tick of noise -------------------------------------------------------------------------
    def noise(self, key: Array, k: Array, dtype) -> tuple[Array, Array]:
        """The standard-normal draws of tick `k`: observation (ny,) and process (substeps, nx)."""
        k_obs, k_proc = jr.split(jr.fold_in(key, k))
        n_y = jr.normal(k_obs, (self.ny,), dtype)
        n_w = jr.normal(k_proc, (self.substeps, self.nx), dtype)
        return n_y, n_w

    def noise_draws(self, scenario: Scenarios) -> tuple[Array, Array]:
        """All draws of one scenario (no batch axis) as arrays (ticks, ny), (ticks, substeps, nx);
        traceable (see `rollout`'s `noise`)."""
        dtype = scenario.x0.dtype
        return jax.vmap(lambda k: self.noise(scenario.key, k, dtype))(jnp.arange(self.n_ticks))

    def noise_sequence(self, scenario: Scenarios) -> tuple[np.ndarray, np.ndarray]:
        """All standard-normal draws of one scenario: (ticks, ny) and (ticks, substeps, nx).
        Other simulators (CasADi) replay these to reproduce a trajectory exactly."""
        n_y, n_w = self._noise_compiled(scenario)
        return np.asarray(n_y), np.asarray(n_w)

    # Pieces of the contract --------------------------------------------------------------------
    def observe(self, x: Array, p: Array, n_y: Array) -> Array:
        return self.fns.observe(x, p) + self.sigma_y.astype(x.dtype) * n_y

    def saturate(self, u: Array) -> Array:
        return jnp.clip(u, self.lo.astype(u.dtype), self.hi.astype(u.dtype))

    def plant_step(self, x: Array, u: Array, p: Array, t: Array, n_w: Array) -> Array:
        """Advance the plant over one control period with `u` held; `n_w` (substeps, nx) ~ N(0, 1)."""
        task = self.task
        scale = task.process_noise * self.fns.diffusion(p)
        if task.plant.time == "discrete":
            return (self.fns.dynamics(t, x, u, p) + scale * n_w[0]).astype(x.dtype)
        h = self.h
        drift = diffrax.ODETerm(lambda tt, xx, args: self.fns.dynamics(tt, xx, args, p))
        sqrt_h = jnp.sqrt(jnp.asarray(h, x.dtype))
        for i in range(self.substeps):
            noise = diffrax.ControlTerm(lambda tt, xx, args: lx.DiagonalLinearOperator(scale), _Increment(sqrt_h * n_w[i]))
            terms = diffrax.MultiTerm(drift, noise)
            t0 = t + i * h
            x_new, _, _, _, _ = self._solver.step(terms, t0, t0 + h, x, u, None, False)
            x = x_new.astype(x.dtype)  # time is float64 under x64: keep the state in the scenario's dtype
        return x

    # A whole trajectory ------------------------------------------------------------------------
    def rollout(
        self,
        controller: Controller,
        params: Any,
        scenario: Scenarios,
        save: bool = False,
        hook: Callable[[Array, Array], tuple[Array, Array]] | None = None,
        noise: tuple[Array, Array] | None = None,
        ticks: int | None = None,
    ) -> Rollout:
        """Simulate one scenario (no batch axis). Pure and differentiable; not jitted here.

        `hook(x, z) -> (x, z)` is applied to the carried states after every tick; gradient-based
        methods use it to shape gradients (e.g. decay them per step) without changing values.
        `noise`: the scenario's draws `self.noise_draws(scenario)`, computed ahead by a caller that
        simulates many controllers on the same scenario (the same numbers as drawn per tick).
        `ticks`: simulate only the first `ticks` ticks of the horizon (a training-only shortcut of
        gradient methods); the cost and the success test are then those of the shortened trajectory.
        """
        task = self.task
        fns = self.fns
        x0, r, p, key = scenario.x0, scenario.r, scenario.p, scenario.key
        dtype = x0.dtype
        z0 = jnp.asarray(controller.init(params), dtype).reshape(controller.nz)
        terminate = fns.terminate
        success_fn = fns.success
        terminal = jnp.asarray(task.cost.terminal, dtype)
        n_ticks = self.n_ticks if ticks is None else int(ticks)
        if not 1 <= n_ticks <= self.n_ticks:
            raise ValueError(f"ticks = {ticks} must lie in [1, {self.n_ticks}] (the task's horizon)")

        def event(x):
            return jnp.asarray(terminate(x, r, p), bool) if terminate is not None else jnp.asarray(False)

        def tick(carry, xs):
            x, z, alive, acc, finite, ever = carry
            k = xs[0]
            t = k * self.dt
            n_y, n_w = self.noise(key, k, dtype) if noise is None else xs[1:]
            y = self.observe(x, p, n_y)
            live = k >= 0  # true on every tick, but not known to the compiler (see `compute_once`)
            u = compute_once(live, self.saturate(jnp.asarray(controller.act(params, z, y, r), dtype).reshape(self.nu)))
            z_next = compute_once(live, jnp.asarray(controller.advance(params, z, y, u, r), dtype).reshape(controller.nz))
            on_grid = (k % self.every) == 0
            ev = on_grid & event(x)
            newly = alive & ev
            alive_now = alive & ~ev
            stage = fns.stage_cost(x, u, r, p)
            acc = acc + jnp.where(on_grid & alive_now, stage, 0.0) + jnp.where(newly, terminal, 0.0)
            ok = jnp.all(jnp.isfinite(x)) & jnp.all(jnp.isfinite(u)) & jnp.all(jnp.isfinite(z)) & jnp.isfinite(stage)
            finite = finite & (ok | ~alive)
            if success_fn is not None:
                ever = ever | (on_grid & jnp.asarray(success_fn(x, r, p), bool))
            x_next = self.plant_step(x, u, p, t, n_w)
            if hook is not None:
                x_next, z_next = hook(x_next, z_next)
            out = (x, y, z, u) if save else None
            return (x_next, z_next, alive_now, acc, finite, ever), out

        init = (x0, z0, jnp.asarray(True), jnp.zeros((), dtype), jnp.asarray(True), jnp.asarray(False))
        ks = jnp.arange(n_ticks)
        xs = (ks,) if noise is None else (ks, noise[0][:n_ticks].astype(dtype), noise[1][:n_ticks].astype(dtype))
        (xN, zN, alive, acc, finite, ever), traj = jax.lax.scan(tick, init, xs)
        if n_ticks % self.every == 0:
            ev = event(xN)
            acc = acc + jnp.where(alive & ev, terminal, 0.0)
            alive = alive & ~ev
        finite = finite & (jnp.all(jnp.isfinite(xN)) | ~alive)
        if task.cost.aggregate == "mean":
            acc = acc / math.ceil(n_ticks / self.every)
        cost = jnp.where(finite, acc, jnp.inf)
        if task.success is None:
            success = finite
        elif task.success.when == "final":
            success = finite & jnp.asarray(success_fn(xN, r, p), bool)
        else:
            success = finite & (ever | jnp.asarray(success_fn(xN, r, p), bool))
        result = Rollout(cost=cost, finite=finite, success=success, terminated=~alive)
        if save:
            xs, ys, zs, us = traj
            result = Rollout(
                cost=cost,
                finite=finite,
                success=success,
                terminated=~alive,
                t=jnp.arange(n_ticks + 1, dtype=dtype) * self.dt,
                x=jnp.concatenate([xs, xN[None]], 0),
                y=ys,
                z=jnp.concatenate([zs, zN[None]], 0),
                u=us,
            )
        return result

    # Compiled batches --------------------------------------------------------------------------
    def _compiled(self, controller: Controller, mode: str, save: bool) -> Callable:
        key = (id(controller), mode, save)
        hit = self._cache.get(key)
        if hit is not None:
            return hit[0]
        one = lambda params, scen: self.rollout(controller, params, scen, save)  # noqa: E731
        if mode == "shared":  # one parameter set, a batch of scenarios
            fn = jax.jit(jax.vmap(one, in_axes=(None, 0)))
        elif mode == "paired":  # parameter set i with scenario i
            fn = jax.jit(jax.vmap(one, in_axes=(0, 0)))
        else:  # "cross": every parameter set on every scenario -> (P, N)
            fn = jax.jit(jax.vmap(jax.vmap(one, in_axes=(None, 0)), in_axes=(0, None)))
        return self._cache.put(key, (fn, controller))[0]  # the controller kept alive, so its id stays unique

    def run(self, controller: Controller, params: Any, scenarios: Scenarios, save: bool = False) -> Rollout:
        """One controller on a batch of scenarios (compiled once per controller)."""
        return self._compiled(controller, "shared", save)(params, scenarios)

    def run_paired(self, controller: Controller, params: Any, scenarios: Scenarios, save: bool = False) -> Rollout:
        """Parameter set i (leading axis of every leaf) on scenario i: e.g. a per-trajectory oracle."""
        return self._compiled(controller, "paired", save)(params, scenarios)

    def run_population(self, controller: Controller, params: Any, scenarios: Scenarios) -> Rollout:
        """Every parameter set (leading axis P) on every scenario (N): costs of shape (P, N)."""
        return self._compiled(controller, "cross", False)(params, scenarios)

    def simulate(self, policy, scenarios: Scenarios, save: bool = False) -> Rollout:
        """A `SymbolicPolicy` on a batch of scenarios."""
        from ._compile import compile_policy

        controller, params = compile_policy(policy, self.task)
        return self.run(controller, params, scenarios, save)
