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

A run can also start from a known dynamic controller (`seed_policy`, a `policy.json`: the user's
existing design, an earlier GP-D run's result, or the steady-state LQG that `symctl synth` designs
for GP-D when the task has one). A controller already in the run's form (same inputs, latent count,
Euler steps of the task's tick) whose expressions fit the trees starts the run as it is, nonlinear
or not (`in_run_form`); otherwise it must be linear, and `fit_linear` rewrites it in the GP-D tree form: the control is substituted into the
latent map, a discrete map becomes its Euler equivalent (`dz/dt = (z[k+1] - z[k]) / dt`), and when
the targets do not fit next to the latent states and observations in a latent tree, the latent
state is shifted by a constant multiple of the targets (`z' = z + M r + m`, which moves every
target term into the readout; exact for a constant target). GP latent states start at zero, so a
controller that starts elsewhere (or a shifted one) starts from a different estimate; the tuning
that follows accounts for that. The fitted controller is tuned like the random seeds (or, with
`seed_policy_steps` > 0, for that many Adam steps on `seed_policy_trajectories` trajectories of a
training stream of its own), enters generation 0 as the first seed, and is kept in the run's state
(`seed_code`, `seed_const`): it is one of the candidates of the final polish and choice whatever
evolution does with it, so a run
never ends with a policy worse on validation than the (tuned) controller it started from.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from plants import UserInputError, symbol


class SeedPolicyError(UserInputError):
    """A seed policy cannot start a GP run; the message names the file and says why."""


def seed_expressions(ctx, rng: np.random.Generator) -> list[sp.Expr]:
    """One random linear expression per tree: own latent state first (weight -1), then the
    observations, the other latent states, the controls and the targets, each group shuffled, as
    many as fit in the node budget."""
    lay = ctx.layout
    terms = tree_terms(ctx.config)
    groups = [
        range(0, lay.ny),
        range(lay.ny, lay.ny + lay.nz),
        range(lay.ny + lay.nz, lay.ny + lay.nz + lay.nu),
        range(lay.ny + lay.nz + lay.nu, lay.n_in),
    ]
    sd = 0.5
    out = []
    for t in range(lay.n_trees):
        own = lay.ny + t if t < lay.nz else None
        order = [own] if own is not None else []
        for g in groups:
            members = [v for v in g if lay.allowed[t, v] and v != own]
            order += [members[k] for k in rng.permutation(len(members))]
        chosen = order[:terms]
        out.append(
            sp.Add(*[sp.Float(-1.0 if v == own else float(sd * rng.standard_normal())) * symbol(lay.names[v]) for v in chosen])
        )
    return out


def tree_terms(cfg) -> int:
    """How many weighted inputs (`c*x`, or a constant) a tree of the node budget and depth limit holds:
    k products (3 nodes) and k-1 additions, folded left, take 4k - 1 nodes and depth k."""
    return min((cfg.max_nodes + 1) // 4, cfg.max_depth)


def affine(m: sp.Matrix, vars_: list, what: str, bad) -> tuple[np.ndarray, np.ndarray]:
    """`m = J vars + c` as numbers `(J, c)`; `bad(why)` (which raises) if `m` is not affine in
    `vars_` or depends on anything else."""
    zero = {v: 0 for v in vars_}
    if not vars_:
        J = np.zeros((m.rows, 0))
    else:
        Jm = m.jacobian(vars_)
        if Jm.free_symbols:
            bad(
                f"its {what} is not linear in {', '.join(sorted(str(s) for s in Jm.free_symbols))}; a seed must be a linear controller"
            )
        J = np.array(Jm.tolist(), dtype=float)
    c = m.subs(zero)
    if c.free_symbols:
        bad(f"its {what} depends on {', '.join(sorted(str(s) for s in c.free_symbols))}, which a GP tree cannot read")
    return J, np.array(c.tolist(), dtype=float).reshape(-1)


def fit_linear(policy, layout, dt: float, terms: int, source: str = "seed policy") -> list[sp.Expr]:
    """The latent trees and readouts (GP-D order) of the linear dynamic controller `policy`, each a
    weighted sum of at most `terms` inputs (a constant counts as one); `SeedPolicyError` if
    `policy` is not such a controller for this layout."""

    def bad(why: str):
        raise SeedPolicyError(f"{source}: {why}")

    if layout.nz == 0:
        bad("a seed policy starts GP-D runs only (GP-S has no latent state)")
    lay_y, lay_r = layout.names[: layout.ny], layout.names[layout.ny + layout.nz + layout.nu :]
    if tuple(policy.observations) != lay_y or tuple(policy.targets) != lay_r:
        bad(
            f"its observations {list(policy.observations)} and targets {list(policy.targets)} are not the task's "
            f"({list(lay_y)}, {list(lay_r)})"
        )
    if policy.integrator not in ("discrete", "euler"):
        bad(f"its latent map is integrated with {policy.integrator!r}; a seed needs 'discrete' or 'euler'")
    z, y, r = list(policy.z), list(policy.y), list(policy.r)
    f = sp.Matrix(policy.f).subs(dict(zip(policy.u, policy.g)))
    g = sp.Matrix(policy.g)
    nz, ny, pz = layout.nz, layout.ny, policy.nz
    Jf, f0 = affine(f, z + y + r, "latent map", bad)
    Jg, g0 = affine(g, z + r, "readout", bad)
    Fz, Fy, Fr = Jf[:, :pz], Jf[:, pz : pz + ny], Jf[:, pz + ny :]
    if policy.integrator == "euler":  # z[k+1] = z + dt f
        Fz, Fy, Fr, f0 = np.eye(pz) + dt * Fz, dt * Fy, dt * Fr, dt * f0
    Gz, Gr = Jg[:, :pz], Jg[:, pz:]
    if pz < nz:  # the run's extra latent states start as unused first-order filters (rate -1)
        pad = nz - pz
        Fz = np.block([[Fz, np.zeros((pz, pad))], [np.zeros((pad, pz)), (1.0 - dt) * np.eye(pad)]])
        Fy, Fr = np.vstack([Fy, np.zeros((pad, ny))]), np.vstack([Fr, np.zeros((pad, Fr.shape[1]))])
        f0, Gz = np.concatenate([f0, np.zeros(pad)]), np.hstack([Gz, np.zeros((Gz.shape[0], pad))])
    elif pz > nz:
        bad(f"it has {pz} latent states, the run has {nz}; give --latent {pz} or another policy")

    def used(a) -> np.ndarray:
        return np.abs(a) > 1e-12 * max(1.0, float(np.max(np.abs(a), initial=0.0)))

    def widths() -> np.ndarray:
        return used(Fz - np.eye(nz)).sum(1) + used(Fy).sum(1) + used(Fr).sum(1) + used(f0[:, None]).sum(1)

    if np.any(widths() > terms):  # the same controller in modal coordinates: at most two latent states per row
        T = modal_basis(Fz)
        if T is not None:
            Ti = np.linalg.inv(T)
            Fz, Fy, Fr, f0, Gz = Ti @ Fz @ T, Ti @ Fy, Ti @ Fr, Ti @ f0, Gz @ T
    width = widths()
    if np.any(width > terms) and (used(Fr).any() or used(f0).any()):
        try:  # z' = z + M r + m: no target or constant term in the latent map
            A = np.eye(nz) - Fz
            M, m = -np.linalg.solve(A, Fr), -np.linalg.solve(A, f0)
        except np.linalg.LinAlgError:
            bad("its latent map has an integrator (a unit eigenvalue), so its target terms cannot be moved into the readout")
        Gr, g0 = Gr - Gz @ M, g0 - Gz @ m
        Fr, f0 = np.zeros_like(Fr), np.zeros_like(f0)
    zs = [symbol(n) for n in layout.names[ny : ny + nz]]
    ys, rs = [symbol(n) for n in lay_y], [symbol(n) for n in lay_r]

    def total(coefs, syms, c0) -> sp.Expr:
        keep = used(np.append(coefs, c0))
        parts = [sp.Float(float(c)) * s for c, s, k in zip(coefs, syms, keep) if k]
        if keep[-1]:
            parts.append(sp.Float(float(c0)))
        if len(parts) > terms:
            bad(f"one of its expressions has {len(parts)} terms; at most {terms} fit in a tree")
        return sp.Add(*parts) if parts else sp.Float(0.0)

    rates = (Fz - np.eye(nz)) / dt
    exprs = [total(np.concatenate([rates[i], Fy[i] / dt, Fr[i] / dt]), zs + ys + rs, f0[i] / dt) for i in range(nz)]
    exprs += [total(np.concatenate([Gz[j], Gr[j]]), zs + rs, g0[j]) for j in range(layout.nu)]
    return exprs


def modal_basis(F: np.ndarray, max_condition: float = 1e8) -> np.ndarray | None:
    """Real columns `T` with `inv(T) F T` block diagonal (1x1 blocks for real eigenvalues, 2x2
    `[[a, b], [-b, a]]` for a complex pair), so every row of the latent map reads at most two
    latent states; None when `F` is (nearly) defective or already that sparse."""
    n = F.shape[0]
    if n <= 2:
        return None
    lam, V = np.linalg.eig(F)
    cols, done = [], np.zeros(n, bool)
    for i in np.argsort(-np.abs(lam), kind="stable"):
        if done[i]:
            continue
        done[i] = True
        if abs(lam[i].imag) <= 1e-12 * max(1.0, abs(lam[i])):
            cols.append(V[:, i].real / np.linalg.norm(V[:, i].real))
            continue
        j = int(np.argmin(np.where(done, np.inf, np.abs(lam - np.conj(lam[i])))))
        done[j] = True
        v = V[:, i] if lam[i].imag > 0 else V[:, j]
        cols += [v.real, v.imag]
    T = np.column_stack(cols)
    if len(cols) != n or not np.all(np.isfinite(T)) or np.linalg.cond(T) > max_condition:
        return None
    return T


def in_run_form(policy, ctx) -> list[sp.Expr] | None:
    """`policy`'s own expressions (latent trees, then readouts) with its latent states renamed to
    the run's, if it already is a GP-D controller of this run's form: the same observations,
    targets and controls, as many latent states starting at zero, the run's integrator and tick.
    (A `policy.json` of an earlier GP-D run on the task is; whether it fits the trees is `encode`'s
    answer.)"""
    lay = ctx.layout
    ny, nz, nu = lay.ny, lay.nz, lay.nu
    if nz == 0 or policy.nz != nz or any(v != 0.0 for v in policy.latent_init):
        return None
    if (tuple(policy.observations), tuple(policy.controls), tuple(policy.targets)) != (
        lay.names[:ny],
        lay.names[ny + nz : ny + nz + nu],
        lay.names[ny + nz + nu :],
    ):
        return None
    if policy.integrator != ctx.config.integrator or abs(policy.dt - ctx.task.dt) > 1e-12 * ctx.task.dt:
        return None
    rename = {symbol(a): symbol(b) for a, b in zip(policy.latent, lay.names[ny : ny + nz])}
    return [e.xreplace(rename) for e in (*policy.f, *policy.g)]


def fitted_seed(ctx, policy, source: str):
    """Arrays `(code, const)` (T, L) of `policy` in the run's trees: its own expressions when it is
    already in the run's form and they fit (`in_run_form`; nonlinear ones too), else its linear
    rewrite (`fit_linear`)."""
    own = in_run_form(policy, ctx)
    arrays = None if own is None else ctx.encode(own)
    if arrays is not None:
        return arrays
    try:
        exprs = fit_linear(policy, ctx.layout, ctx.task.dt, tree_terms(ctx.config), source)
    except SeedPolicyError as err:
        if own is None:
            raise
        cfg = ctx.config
        raise SeedPolicyError(
            f"{err}; nor do its own expressions fit the trees (node budget {cfg.max_nodes}, depth "
            f"{cfg.max_depth}, operators {', '.join(cfg.operators)})"
        ) from None
    arrays = ctx.encode(exprs)
    if arrays is None:
        raise SeedPolicyError(
            f"{source}: its fitted form does not fit the trees (node budget {ctx.config.max_nodes}, "
            f"depth {ctx.config.max_depth}, operators {', '.join(ctx.config.operators)})"
        )
    return arrays


def tuned_seed(ctx, start, steps: int | None = None, scen=None):
    """`start` (arrays `(code, const)`) with its constants tuned (`steps`, default `seed_steps`, on
    `scen`, default the training trajectories), and the cost on them; None if the tuned form is not
    finite or no longer fits."""
    from ._polish import tune_constants
    from ._trees import policy_of

    cfg = ctx.config
    steps = cfg.seed_steps if steps is None else steps
    tuned, train = tune_constants(ctx, policy_of(ctx, *start), steps, cfg.seed_lr, scen)
    arrays = ctx.encode((*tuned.f, *tuned.g)) if np.isfinite(train) else None
    return None if arrays is None else (*arrays, train)


def tuned_seeds(ctx, jobs: list) -> list:
    """`tuned_seed(ctx, *job)` for every job `(start, steps, scen)`, in order, one per core at a
    time (`synth._parallel`: the same results as one after the other)."""
    from synth._parallel import map_jobs

    return map_jobs(lambda job: tuned_seed(ctx, *job), jobs)


def seed_steps(cfg, task) -> int:
    """Adam steps per random seed: `seed_steps`, capped so that steps x training trajectories x
    ticks x plant substeps stays within `seed_budget` (a stiff plant integrated with many substeps
    gets fewer steps, so generation 0 stays short; at least 1)."""
    if not cfg.seed_budget:
        return cfg.seed_steps
    per_step = cfg.train_trajectories * task.n_ticks * task.substeps
    return max(1, min(cfg.seed_steps, int(cfg.seed_budget // per_step)))


def linear_seeds(ctx, rng: np.random.Generator, count: int):
    """`count` tuned linear individuals as arrays `(code, const)` of shape (k, T, L), k <= count
    (a seed whose tuned form no longer fits the tree budget is left out), and their training costs."""
    steps = seed_steps(ctx.config, ctx.task)
    return stack_seeds(ctx, tuned_seeds(ctx, [(start, steps, None) for start in linear_starts(ctx, rng, count)]))


def linear_starts(ctx, rng: np.random.Generator, count: int) -> list:
    """The untuned linear individuals of `linear_seeds`, as arrays `(code, const)` (those that fit)."""
    return [a for a in (ctx.encode(seed_expressions(ctx, rng)) for _ in range(count)) if a is not None]


def stack_seeds(ctx, tuned: list):
    """Tuned seeds (`tuned_seed` results, None for a lost one) as arrays `(code, const)` (k, T, L) and costs."""
    codes, consts, costs = [], [], []
    for got in tuned:
        if got is None:
            continue
        codes.append(got[0])
        consts.append(got[1])
        costs.append(got[2])
    T, L = ctx.layout.n_trees, ctx.config.max_nodes
    if not codes:
        return np.zeros((0, T, L), np.int32), np.zeros((0, T, L), ctx.dtype), np.zeros(0)
    return np.stack(codes), np.stack(consts), np.asarray(costs)
