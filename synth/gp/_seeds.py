"""Gradient-tuned linear seeds for the initial population.

A random initial population rarely contains a controller whose latent states work together (an
observer needs two or three trees to agree); the search then settles early on whatever one tree
can do alone. A seed is an individual whose every tree is a weighted sum of its inputs, as many as
the node budget allows (`c1*a + c2*b + ...`, four terms in 15 nodes): the latent trees start as
stable first-order filters (`-1 * own state` plus small random weights), the readouts with small
random weights. Adam then tunes the weights through the differentiable simulator on the run's
training trajectories (`_polish.tune_constants`), so each seed enters generation 0 as a tuned
linear dynamic controller. Evolution takes it from there: crossover and mutation reuse its trees,
simplification prunes them, and a nonlinear individual that beats it replaces it.

The seeds are drawn from the run's key and tuned on the training trajectories only, so a run
stays reproducible and nothing held-out is looked at. `linear_seeds = 0` turns them off.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from plants import symbol


def seed_expressions(ctx, rng: np.random.Generator) -> list[sp.Expr]:
    """One random linear expression per tree: own latent state first (weight -1), then the
    observations, the other latent states, the controls and the targets, each group shuffled, as
    many as fit in the node budget."""
    lay = ctx.layout
    # k products (3 nodes) and k-1 additions, folded left: 4k - 1 nodes, depth k
    terms = min((ctx.config.max_nodes + 1) // 4, ctx.config.max_depth)
    groups = [range(0, lay.ny), range(lay.ny, lay.ny + lay.nz), range(lay.ny + lay.nz, lay.ny + lay.nz + lay.nu),
              range(lay.ny + lay.nz + lay.nu, lay.n_in)]
    sd = 0.5
    out = []
    for t in range(lay.n_trees):
        own = lay.ny + t if t < lay.nz else None
        order = [own] if own is not None else []
        for g in groups:
            members = [v for v in g if lay.allowed[t, v] and v != own]
            order += [members[k] for k in rng.permutation(len(members))]
        chosen = order[:terms]
        out.append(sp.Add(*[sp.Float(-1.0 if v == own else float(sd * rng.standard_normal())) * symbol(lay.names[v]) for v in chosen]))
    return out


def linear_seeds(ctx, rng: np.random.Generator, count: int):
    """`count` tuned linear individuals as arrays `(code, const)` of shape (k, T, L), k <= count
    (a seed whose tuned form no longer fits the tree budget is left out), and their training costs."""
    from ._polish import tune_constants
    from ._runner import policy_of

    cfg = ctx.config
    codes, consts, costs = [], [], []
    for _ in range(count):
        start = ctx.encode(seed_expressions(ctx, rng))
        if start is None:
            continue
        tuned, train = tune_constants(ctx, policy_of(ctx, *start), cfg.seed_steps, cfg.seed_lr)
        arrays = ctx.encode((*tuned.f, *tuned.g)) if np.isfinite(train) else None
        if arrays is None:
            continue
        codes.append(arrays[0])
        consts.append(arrays[1])
        costs.append(train)
    T, L = ctx.layout.n_trees, cfg.max_nodes
    if not codes:
        return np.zeros((0, T, L), np.int32), np.zeros((0, T, L), ctx.dtype), np.zeros(0)
    return np.stack(codes), np.stack(consts), np.asarray(costs)
