"""Gradient tuning of the constants of a few individuals (every `tune_every` generations, and of
the best candidates after the last one).

The evolutionary loop evaluates every individual with one compiled tree interpreter; differentiating
that interpreter through a whole roll-out is too big a program for a CPU (minutes of compilation,
gigabytes of memory). One individual is a small `SymbolicPolicy`, though: `compile_policy` turns it
into a program of its own shape whose constants are parameters, and Adam (`synth._tune`) tunes them
through the differentiable simulator on the training trajectories. Each new shape costs one small
compilation (a few seconds; kept in the run's context, so a shape tuned again is not recompiled).
After the run a tuned candidate is kept only if it is better on the held-out validation
trajectories, so tuning cannot make the chosen policy worse there.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp

from synth import SymbolicPolicy
from synth._compile import compile_policy, with_constants
from synth._cost import finite_mean
from synth._memory import release
from synth._parallel import COMPILING
from synth._tune import adam, adam_step

TUNERS_KEPT = 4


def _tunable(e: sp.Basic) -> sp.Basic:
    """`e` with its integer and rational coefficients as floats (simplification turns 2.0*x into
    2*x), so that they are tuned too; exponents stay as they are, and so do the signs +-1 (the -1
    of `y - a` is a subtraction in the tree, not a constant leaf: tuning it would make the tree two
    nodes larger, and a tree at the node budget could no longer be written back)."""
    if isinstance(e, (sp.Integer, sp.Rational)) and not isinstance(e, sp.Float):
        return e if abs(e) == 1 else sp.Float(float(e))
    if isinstance(e, sp.Pow):
        return sp.Pow(_tunable(e.base), e.exp, evaluate=False)
    if not e.args or isinstance(e, sp.Symbol):
        return e
    return e.func(*[_tunable(a) for a in e.args])


def tunable(policy: SymbolicPolicy) -> SymbolicPolicy:
    """`policy` with every numeric coefficient a float, i.e. a parameter of `compile_policy`."""
    return dataclasses.replace(policy, f=tuple(_tunable(e) for e in policy.f), g=tuple(_tunable(e) for e in policy.g))


def tune_constants(ctx, policy: SymbolicPolicy, steps: int, lr: float, scen=None, fresh=None) -> tuple[SymbolicPolicy, float]:
    """`tunable(policy)` with its coefficients tuned by Adam, and its cost on the run's training
    trajectories (or on `scen`).

    Fixed data (`fresh` None): every step uses the same trajectories (`scen`, by default the run's
    training set); the best iterate is returned (the original if nothing improved it). Fresh data
    (`fresh = (key, n)`): every step draws `n` new trajectories of the task from `key` (folded with
    the step), so the tuning follows the task's expected cost, not one sample of it, and cannot
    overfit a fixed set; the last iterate is returned (the step size decays to a tenth), unless it
    is non-finite or worse on the fixed set than the original."""
    policy = tunable(policy)
    controller, p0 = compile_policy(policy, ctx.task)
    if p0["c"].size == 0 or steps <= 0:
        return policy, math.inf
    scen = ctx.train if scen is None else scen
    c, cost = _tuner(ctx, controller, steps, lr, scen, fresh)(jnp.asarray(p0["c"], ctx.dtype), jnp.asarray(p0["z0"], ctx.dtype))
    return with_constants(policy, np.asarray(c, float)), float(cost)


def _tuner(ctx, controller, steps: int, lr: float, scen, fresh=None):
    """The compiled Adam loop for one policy shape and training set, kept in `ctx.tuners` (the
    `TUNERS_KEPT` used last: each compiled loop holds 10-25 MB, and a run tunes many shapes once,
    the seeds of generation 0 among them, so keeping all of them grew a paper-budget run past 1 GB)."""
    fresh_key = None if fresh is None else (np.asarray(jax.random.key_data(fresh[0])).tobytes(), fresh[1])
    key = (id(controller), steps, lr, id(scen), fresh_key)
    hit = ctx.tuners.get(key)
    if hit is not None and hit[0] is controller and hit[2] is scen:
        return hit[1]
    dtype = ctx.dtype

    def loss(c, z0, batch):
        run = lambda s: ctx.sim.rollout(controller, {"c": c, "z0": z0}, s, hook=ctx.hook).cost  # noqa: E731
        return jnp.mean(jax.vmap(run)(batch))

    opt = adam(lr, steps)
    tune_step = adam_step(opt, loss, finite_loss=True)  # a batch with a lost trajectory gives no gradient

    executable: list = []  # empty until the first call, which compiles

    def run_all(c, z0):
        if not executable:
            with COMPILING:  # one compilation at a time (each takes hundreds of MB while it runs); the runs overlap
                if not executable:
                    executable.append(compiled.lower(c, z0).compile())
                    release()  # give back what the compilation freed (`synth._memory`)
        return jax.block_until_ready(executable[0](c, z0))

    @jax.jit
    def compiled(c, z0):
        def body(carry, i):
            c, state, best_c, best = carry
            batch = scen if fresh is None else ctx.sim.scenarios(jax.random.fold_in(fresh[0], i), fresh[1], dtype=dtype)
            new_c, state, val, ok = tune_step(c, state, z0, batch)
            better = ok & (val < best)  # `val` is the loss at `c`, before the step
            best_c = jnp.where(better, c, best_c)
            best = jnp.where(better, val, best)
            return (new_c, state, best_c, best), None

        init = (c, opt.init(c), c, jnp.asarray(jnp.inf, dtype))
        (c_last, _, best_c, best), _ = jax.lax.scan(body, init, jnp.arange(steps))
        last = loss(c_last, z0, scen)
        if fresh is not None:  # the batch losses are of different batches: judge on the fixed set
            first = loss(c, z0, scen)
            keep = jnp.isfinite(last) & (last <= first)
            return jnp.where(keep, c_last, c), jnp.where(keep, last, first)
        better = jnp.isfinite(last) & (last < best)
        return jnp.where(better, c_last, best_c), jnp.where(better, last, best)

    ctx.tuners.put(key, (controller, run_all, scen))
    return run_all


def trajectory_costs(ctx, policy: SymbolicPolicy, scen) -> np.ndarray:
    """The cost of `policy` on each of the scenarios `scen` (non-finite where it ran away)."""
    controller, p = compile_policy(policy, ctx.task)
    params = {"c": jnp.asarray(p["c"], ctx.dtype), "z0": jnp.asarray(p["z0"], ctx.dtype)}
    return np.asarray(ctx.sim.run(controller, params, scen).cost, float)


def validation_cost(ctx, policy: SymbolicPolicy, scen) -> float:
    """Mean cost of `policy` on the scenarios `scen` (inf if any trajectory is non-finite)."""
    return finite_mean(trajectory_costs(ctx, policy, scen))
