"""From a trained ESPL network to a `SymbolicPolicy`, and the tuning of that exact policy.

1. Keep the paths with p > 0.5, drop weights with |w| <= `drop`, build the sympy expression with
   the network's guards (`Max`/`Min` with a constant; see `_network`), and simplify it when small.
2. Drop guards that the task never needs: the policy without them is re-scored on the validation
   scenarios and kept only if its cost is no worse. Either way the guards that remain are part of
   the exported expression, so what is scored is what is exported (the ESPL authors' printed
   formula drops its clamps; symctl does not).
3. Tune the constants of the exported expression by gradient through the simulator
   (`synth.compile_policy` lifts them to parameters), keeping the best validated set.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import sympy as sp

from plants import UnsupportedExpression, lower

from .._compile import compile_policy, constants, with_constants
from .._cost import finite_mean
from .._policy import SymbolicPolicy
from .._runfolder import stream_key
from .._tune import adam, adam_step
from ._network import deterministic_masks, to_sympy
from ._train import Trainer, candidate_monomials

# Fixed settings, once ESPLConfig fields (docs/settings.md, removed settings). A candidate term whose
# tuned coefficient times its term's typical size is below AUGMENT_PRUNE is removed if validation
# allows. The value critic of constant tuning has two tanh layers of CRITIC_WIDTH, is fitted for
# CRITIC_STEPS Adam steps at CRITIC_LR per tuning step, and its value enters after CRITIC_WARMUP
# tuning steps.
AUGMENT_PRUNE = 0.05
CRITIC_WIDTH, CRITIC_LR, CRITIC_STEPS, CRITIC_WARMUP = 64, 1e-3, 30, 50


def _strongest(params: dict, max_paths: int) -> list:
    """The p > 0.5 masks, cut to the `max_paths` paths of largest p*|w| when more are on (a network
    stopped before its sparsity schedule ended would otherwise give an unusably large expression)."""
    masks = [np.asarray(m, float) for m in deterministic_masks(params)]
    scores = np.concatenate(
        [(m * np.asarray(p, float) * np.abs(np.asarray(w, float))).ravel() for m, p, w in zip(masks, params["p"], params["W"])]
    )
    if int((scores > 0).sum()) <= max_paths:
        return masks
    cut = np.sort(scores)[-max_paths]
    return [
        np.where(m * np.asarray(p, float) * np.abs(np.asarray(w, float)) >= cut, m, 0.0)
        for m, p, w in zip(masks, params["p"], params["W"])
    ]


def extract(trainer: Trainer, params: dict, drop: float | None = None) -> SymbolicPolicy:
    """The policy the network computes with its p > 0.5 paths (weights |w| <= drop removed)."""
    drop = trainer.config.drop if drop is None else drop
    task = trainer.task
    pl = task.plant
    policy_args = dict(
        observations=tuple(o.name for o in task.observations),
        targets=tuple(task.targets),
        latent=trainer.latent_names(),
        controls=tuple(pl.inputs),
    )
    shell = SymbolicPolicy(
        **policy_args, f=tuple(sp.S.Zero for _ in range(trainer.nz)), g=tuple(sp.S.Zero for _ in pl.inputs), dt=task.dt
    )
    nets = trainer.nets
    masks = {name: _strongest(p, trainer.config.max_paths) for name, p in params.items()}
    g_in = (shell.z if trainer.nz else shell.y) + shell.r
    g = to_sympy(nets["g"], params["g"], masks["g"], g_in, drop)
    f: list[sp.Expr] = []
    if trainer.nz:
        f = to_sympy(nets["f"], params["f"], masks["f"], shell.y + shell.z + shell.u + shell.r, drop)
    return SymbolicPolicy(
        **policy_args,
        f=tuple(f),
        g=tuple(g),
        dt=task.dt,
        integrator="euler",
        input_limits=task.input_limits,
        provenance={"task": task.name, "method": trainer.config.method, "seed": trainer.seed},
    )


def _rewrites(e: sp.Expr) -> list[sp.Expr]:
    """Cheap algebraic rewrites (no `sympy.simplify`: its trigonometric search ran for minutes on
    a 20-operation pendulum policy of sin, cos and tanh)."""
    out = []
    for rule in (sp.factor_terms, lambda x: sp.expand_mul(x, deep=False), lambda x: sp.factor_terms(sp.expand_mul(x))):
        try:
            out.append(rule(e))
        except (TypeError, ValueError, RecursionError):
            continue
    return out


def simplify_expression(e: sp.Expr, symbols, max_ops: int = 60, seed: int = 0) -> sp.Expr:
    """The smallest of a few cheap rewrites of `e` when it is small, kept only if it is smaller,
    evaluates in every backend and agrees with `e` at random points (relative 1e-9)."""
    if sp.count_ops(e) > max_ops or not e.free_symbols:
        return e
    try:
        cands = [c for c in _rewrites(e) if c.free_symbols <= e.free_symbols]
        if not cands:
            return e
        size = lambda x: (sp.count_ops(x), len(x.atoms(sp.Float)))  # noqa: E731
        s = min(cands, key=size)
        if size(s) >= size(e):
            return e
        f0, f1 = lower([e], [symbols], "numpy"), lower([s], [symbols], "numpy")
    except (UnsupportedExpression, TypeError, ValueError, RecursionError):
        return e
    pts = np.random.default_rng(seed).normal(size=(64, len(symbols))) * 2.0
    a, b = np.asarray(f0(pts)[0], float) * np.ones(64), np.asarray(f1(pts)[0], float) * np.ones(64)
    ok = np.isfinite(a) == np.isfinite(b)
    same = np.isclose(a, b, rtol=1e-9, atol=1e-12) | ~np.isfinite(a)
    return s if bool(np.all(ok & same)) else e


def simplify_policy(policy: SymbolicPolicy) -> SymbolicPolicy:
    g = tuple(simplify_expression(e, policy.readout_inputs) for e in policy.g)
    f = tuple(simplify_expression(e, policy.y + policy.z + policy.u + policy.r) for e in policy.f)
    return dataclasses.replace(policy, f=f, g=g)


def _guards(policy: SymbolicPolicy) -> list[sp.Expr]:
    found = []
    for e in list(policy.f) + list(policy.g):
        for node in sp.preorder_traversal(e):
            if isinstance(node, (sp.Max, sp.Min)) and len(node.args) == 2 and sum(a.is_Number for a in node.args) == 1:
                if node not in found:
                    found.append(node)
    return found


def _without(policy: SymbolicPolicy, guards) -> SymbolicPolicy:
    rep = {gd: next(a for a in gd.args if not a.is_Number) for gd in guards}
    return dataclasses.replace(policy, f=tuple(e.xreplace(rep) for e in policy.f), g=tuple(e.xreplace(rep) for e in policy.g))


def validation_cost(trainer: Trainer, policy: SymbolicPolicy) -> float:
    trainer.validation_runs += 1
    return finite_mean(np.asarray(trainer.sim.simulate(policy, trainer.validation).cost, float))


def prune_guards(trainer: Trainer, policy: SymbolicPolicy, cost: float, max_single: int = 4) -> tuple[SymbolicPolicy, float]:
    """Remove the guards whose removal does not raise the validation cost."""
    guards = _guards(policy)
    if not guards:
        return policy, cost
    trial = _without(policy, guards)
    c = validation_cost(trainer, trial)
    if c <= cost:
        return trial, c
    if len(guards) > max_single:
        return policy, cost
    for gd in guards:
        trial = _without(policy, [gd])
        c = validation_cost(trainer, trial)
        if c <= cost:
            policy, cost = trial, c
    return policy, cost


def _squash(e: sp.Expr):
    """The output squashing of a bounded readout: the outermost `tanh` of `e` when `e` is affine
    in it (`mid + half*tanh(o)`, however simplified), else None."""
    for node in sp.preorder_traversal(e):
        if isinstance(node, sp.tanh):
            d = sp.Dummy()
            slope = sp.diff(e.xreplace({node: d}), d)
            return node if slope.is_Number and slope != 0 else None
    return None


def augment(trainer: Trainer, policy: SymbolicPolicy) -> tuple[SymbolicPolicy, np.ndarray, list[tuple[int, float, sp.Expr]]]:
    """`policy` with candidate terms added to each readout before its constants are tuned: every
    monomial of degree 1 to `augment_degree` of the readout's inputs that the readout does not have
    yet as a term, with a negligible coefficient, inside the output squashing of a bounded input.
    With `augment_odd`, only the monomials of odd total degree in those inputs (the readout of a
    plant symmetric under their sign change should be odd in them).

    Returns the policy, the tuner's scale of each constant (1, and 1/T for a candidate's
    coefficient, T the typical size of its monomial from the pilot's input statistics, so the
    tuner moves every term in steps of the same size) and, per candidate, (constant index, T,
    monomial).
    """
    degree = trainer.config.augment_degree
    net = trainer.nets["g"]
    inputs = policy.readout_inputs
    odd = frozenset(i for i, x in enumerate(inputs) if str(x) in trainer.config.augment_odd)
    typical = [math.hypot(float(c), 1.0 / float(k)) for c, k in zip(net.shift, net.scale)]
    added: list[tuple[float, float, sp.Expr]] = []  # (initial coefficient, typical size, monomial)
    g = []
    for e in policy.g:
        site = _squash(e)
        o = site.args[0] if site is not None else e
        present = {t.as_coeff_Mul()[1] for t in sp.Add.make_args(o)}  # like terms would merge
        terms = []
        for combo in candidate_monomials(len(inputs), degree, odd):
            mono = sp.Mul(*[inputs[i] for i in combo])
            if mono in present:
                continue
            size = float(np.prod([typical[i] for i in combo]))
            # Distinct negligible values, so that each candidate's constant can be found again.
            value = 1e-6 * (1.0 + len(added) / 101.0) / size
            added.append((value, size, mono))
            terms.append(sp.Float(value) * mono)
        o = sp.Add(o, *terms)
        g.append(e.xreplace({site: sp.tanh(o)}) if site is not None else o)
    out = dataclasses.replace(policy, g=tuple(g))
    values = constants(out)
    scales = np.ones(len(values))
    found = []
    for value, size, mono in added:
        idx = np.flatnonzero(values == value)
        if len(idx) == 1:
            scales[idx[0]] = 1.0 / size
            found.append((int(idx[0]), size, mono))
    return out, scales, found


def prune_augmented(
    trainer: Trainer, policy: SymbolicPolicy, cost: float, found: list[tuple[int, float, sp.Expr]], n_constants: int
) -> tuple[SymbolicPolicy, float, int]:
    """Remove the candidate terms whose tuned coefficient times the typical size of its monomial is
    below `AUGMENT_PRUNE`, if the validation cost is no worse without them; returns (policy, cost,
    candidate terms kept). `policy` is the tuned augmented policy, `n_constants` the number of
    constants of the augmented one (the indices in `found` refer to them)."""
    values = constants(policy).copy()
    weak = [i for i, size, _ in found if abs(values[i]) * size < AUGMENT_PRUNE]
    if not weak or len(values) != n_constants:  # (a tuned constant of exactly 0 would shift the indices)
        return policy, cost, len(found)
    values[weak] = 0.0
    trial = with_constants(policy, values)
    c = validation_cost(trainer, trial)
    if c <= cost:
        return trial, c, len(found) - len(weak)
    return policy, cost, len(found)


def _mlp_init(key, n_in: int, width: int, dtype) -> list:
    """A two-hidden-layer tanh network (the value critic of constant tuning); the last layer
    starts at zero."""
    k1, k2 = jr.split(key)
    return [
        (jr.normal(k1, (n_in, width), dtype) / math.sqrt(n_in), jnp.zeros((1, width), dtype)),
        (jr.normal(k2, (width, width), dtype) / math.sqrt(width), jnp.zeros((1, width), dtype)),
        (jnp.zeros((width, 1), dtype), jnp.zeros((1, 1), dtype)),
    ]


def _mlp(params: list, f):
    """The critic's value of each row of `f` (features x inputs)."""
    h = f
    for w, b in params[:-1]:
        h = jnp.tanh(h @ w + b)
    w, b = params[-1]
    return (h @ w + b)[..., 0]


def finetune(
    trainer: Trainer, policy: SymbolicPolicy, cost: float, progress=None, scales: np.ndarray | None = None
) -> tuple[SymbolicPolicy, float, int]:
    """Tune the constants of `policy` (whose validation cost is `cost`) on the task; returns (policy,
    validation cost, env steps). With `scales` (one per constant, in `compile_policy` order) the
    optimiser works on `c / scales`, so a constant that multiplies a large term moves in steps of
    its own size."""
    cfg = trainer.config
    if cfg.finetune_iterations <= 0:
        return policy, cost, 0
    controller, p0 = compile_policy(policy, trainer.task)
    if p0["c"].size == 0:
        return policy, cost, 0
    dtype = trainer.dtype
    # Scales of 1 (the default) leave every value exactly as it is.
    s = jnp.asarray(np.ones(p0["c"].size) if scales is None else scales, dtype)
    unscale = lambda t: t * s  # noqa: E731
    c0 = p0["c"].astype(dtype) / s
    z0 = p0["z0"].astype(dtype)
    opt = adam(cfg.finetune_lr, cfg.finetune_iterations, clip=cfg.clip, final=cfg.lr_final)
    key = stream_key(trainer.seed, trainer.stream("finetune"))

    ticks = trainer.finetune_ticks
    decay = cfg.tuning_decay
    use_critic = cfg.finetune_critic > 0  # (the configuration refuses a critic without decay)
    y_mean, y_std = (jnp.asarray(v, dtype) for v in trainer.pilot[:2])

    def scenarios(it):
        # A fresh draw of `finetune_batch` trajectories per step.
        return trainer.sim.scenarios(jr.fold_in(key, it), cfg.finetune_batch, dtype, stratified=cfg.stratified_finetune)

    def loss(c, it):
        one = lambda sc: trainer.trajectory_loss(controller, {"c": unscale(c), "z0": z0}, sc, decay, ticks)[1]  # noqa: E731
        return jnp.mean(jax.vmap(one)(scenarios(it)))

    step = jax.jit(adam_step(opt, loss))

    def features(roll, sc):
        # Critic inputs per tick: normalised observations, the policy's latent state, targets, time.
        n = roll.y.shape[0]
        parts = [
            (roll.y - y_mean[None, :]) / y_std[None, :],
            roll.z[:n, : controller.nz],
            jnp.broadcast_to(sc.r, (n, sc.r.shape[-1])),
            (jnp.arange(n, dtype=dtype) / ticks)[:, None],
        ]
        return jnp.concatenate([q.astype(dtype) for q in parts], axis=1)

    def critic_loss(c, vp, it, weight):
        # The decayed gradient sees about 1/(1-decay) ticks ahead. A learnt value of the rest of
        # the roll-out supplies what lies beyond: cutting the gradient chain at each tick with
        # probability 1-decay and adding the value at the cut gives, in expectation, the decayed
        # chain of the costs plus (1-decay) x the value at every tick.
        def one(sc):
            roll, lo = trainer.rollout_loss(controller, {"c": unscale(c), "z0": z0}, sc, decay, ticks)
            # The cost of each tick as the simulator sums it (stage costs while alive, the terminal
            # cost on the tick the trajectory ends; what a final event adds is counted at the end).
            stage, alive = trainer.tick_costs(roll, sc)
            ended = jnp.concatenate([jnp.ones(1, bool), alive[:-1]]) & ~alive
            per_tick = jnp.where(alive, stage, 0.0) + jnp.where(ended, jnp.asarray(trainer.task.cost.terminal, dtype), 0.0)
            to_go = jnp.cumsum(per_tick[::-1])[::-1]
            if trainer.sim.fns.terminate is not None:
                to_go = to_go + (roll.cost - jnp.sum(per_tick))
            to_go = to_go / trainer.cost_scale
            f = features(roll, sc)
            lo = lo + weight * (1.0 - decay) * jnp.sum(_mlp(vp, f)[1:])
            return lo, (jax.lax.stop_gradient(f), jax.lax.stop_gradient(to_go))

        lo, aux = jax.vmap(one)(scenarios(it))
        return jnp.mean(lo), aux

    if use_critic:
        n_in = int(trainer.task.ny + controller.nz + trainer.task.nr + 1)
        vp = _mlp_init(stream_key(trainer.seed, trainer.stream("critic")), n_in, CRITIC_WIDTH, dtype)
        copt = optax.adam(CRITIC_LR)
        cstate = copt.init(vp)
        tune_step = adam_step(opt, critic_loss, has_aux=True)

        @jax.jit
        def critic_step(c, state, vp, cstate, it):
            # The critic's value enters once it has been fitted for CRITIC_WARMUP steps.
            weight = jnp.where(it >= CRITIC_WARMUP, cfg.finetune_critic, 0.0).astype(dtype)
            c, state, (_, (f, g)), _ = tune_step(c, state, vp, it, weight)
            f, g = f.reshape(-1, f.shape[-1]), g.reshape(-1)
            good = jnp.isfinite(g) & jnp.all(jnp.isfinite(f), axis=1)
            f, g = jnp.where(good[:, None], f, 0.0), jnp.where(good, g, 0.0)

            def fit(p):
                return jnp.sum(jnp.where(good, (_mlp(p, f) - g) ** 2, 0.0)) / jnp.maximum(jnp.sum(good), 1)

            def body(_, carry):
                p, s = carry
                u, s = copt.update(jax.grad(fit)(p), s)
                return optax.apply_updates(p, u), s

            # How much of the new batch's cost-to-go the critic leaves unexplained before it is
            # fitted on it (1 for a critic that knows nothing; reported at the validation checks).
            unexplained = fit(vp) / jnp.maximum(jnp.var(g), 1e-12)
            vp, cstate = jax.lax.fori_loop(0, CRITIC_STEPS, body, (vp, cstate))
            return c, state, vp, cstate, unexplained

    def score(c):
        trainer.validation_runs += 1
        return finite_mean(np.asarray(trainer.sim.run(controller, {"c": unscale(c), "z0": z0}, trainer.validation).cost, float))

    best_c, best = c0, cost  # `cost`: the validation cost of `policy` itself, as given
    c, state = c0, opt.init(c0)
    for it in range(cfg.finetune_iterations):
        if use_critic:
            c, state, vp, cstate, unexplained = critic_step(c, state, vp, cstate, it)
        else:
            c, state, _, _ = step(c, state, it)
        if (it + 1) % cfg.eval_every == 0 or it + 1 == cfg.finetune_iterations:
            v = score(c)
            if v < best:
                best, best_c = v, c
            elif cfg.finetune_restore and v > best + cfg.finetune_restore * abs(best):  # costs may be negative (returns)
                # Diverging: go back to the best validated constants (the optimiser keeps its
                # state, so the learning-rate schedule goes on and the large second moments damp
                # the next steps).
                c = best_c
            if progress is not None:
                row = {
                    "stage": "finetune",
                    "iteration": it + 1,
                    "total": cfg.finetune_iterations,
                    "validation_cost": v,
                    "best": best,
                }
                if use_critic:
                    row["critic_unexplained"] = float(unexplained)
                progress(row)
    steps = cfg.finetune_iterations * cfg.finetune_batch * trainer.finetune_ticks
    tuned = with_constants(policy, np.asarray(unscale(best_c), float))
    return tuned, validation_cost(trainer, tuned), steps
