"""The tree interpreter, and the simulator `Controller` whose parameters are a population's trees.

A tree is evaluated once per control tick (the sampled-data contract), slot by slot from the last
prefix position to the root: slot `j`'s first child is slot `j+1` (a static index) and its second
child the precomputed `second[j]`, so one tick of one tree is a fixed, unrolled sequence of
vectorised selects over the operators of the function set. A slot's leaf value (constant or
input) is one small dot product per tree and tick, and `add`/`sub` share one select as
`a + sign * b` (exact: negation is exact). Operators come from
`plants.OPERATORS`; none is protected. Each operator sees its real operands only where it is
selected (elsewhere a harmless dummy), so values are exact and gradients with respect to the
constants stay finite for the constant optimiser.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from plants import OPERATORS

from ._config import Layout
from ._trees import Tokens, structure

# The dummy operand an unselected operator sees (keeps its gradient finite).
_SAFE = {"div": 1.0, "log": 1.0, "sqrt": 1.0, "exp": 0.0}


def prepare(tok: Tokens, code, const):
    """Controller parameters of one individual from its trees `code`, `const` (T, L).

    The per-slot selections are decoded here, once per individual, into boolean masks, so the
    per-tick work is selects and arithmetic only: `op` (T, L, n_f) booleans, `var` (T, L, n_in)
    one-hot input weights (so that the leaf values of a tree are `const + var @ x`, exact: every
    other term is zero; the inputs are finite on every tick the cost counts, since the simulator
    marks a trajectory non-finite as soon as a state, latent or control is), `child` (T, L, L) (one-hot second child), `const` (T, L) (zero except at
    constant leaves)."""
    L = tok.max_nodes
    second = jax.vmap(lambda c: structure(tok, c)[2])(code)
    op = code[..., None] == jnp.arange(tok.n_f).reshape(1, 1, -1)
    var = (code[..., None] == tok.n_f + jnp.arange(tok.n_in).reshape(1, 1, -1)).astype(const.dtype)
    child = second[..., None] == jnp.arange(L).reshape(1, 1, -1)
    const = jnp.where(code == tok.const_code, const, 0)
    return {"op": op, "var": var, "child": child, "const": const}


def evaluate_tree(tok: Tokens, p, t: int, x):
    """Value of tree `t` of prepared individual `p` at inputs `x` (n_in,).

    Unrolled over the slots, last to first: the first child of slot j is slot j+1 (static), the
    second child is chosen by selects over the later slots (faster than a gather on CPU)."""
    L = tok.max_nodes
    fns = [getattr(jnp, OPERATORS[f].jax) for f in tok.funcs]
    arity = [OPERATORS[f].arity for f in tok.funcs]
    dtype = x.dtype
    zero = jnp.zeros((), dtype)
    op, var, child, const = p["op"][t], p["var"][t].astype(dtype), p["child"][t], p["const"][t].astype(dtype)
    leaf = const + var @ x
    merged = {"add", "sub"} <= set(tok.funcs)
    if merged:
        i_add, i_sub = tok.funcs.index("add"), tok.funcs.index("sub")
        addsub = op[:, i_add] | op[:, i_sub]
        sign = jnp.where(op[:, i_sub], -1, 1).astype(dtype)
    vals: list = [zero] * (L + 1)
    for j in range(L - 1, -1, -1):
        a = vals[j + 1]
        b = zero
        for k in range(j + 2, L):
            b = jnp.where(child[j, k], vals[k], b)
        out = leaf[j]
        if merged:
            out = jnp.where(addsub[j], a + sign[j] * b, out)
        for i, (name, fn, ar) in enumerate(zip(tok.funcs, fns, arity)):
            if merged and name in ("add", "sub"):
                continue
            sel = op[j, i]
            if ar == 2:
                bb = jnp.where(sel, b, jnp.asarray(_SAFE[name], dtype)) if name in _SAFE else b
                v = fn(a, bb)
            else:
                aa = jnp.where(sel, a, jnp.asarray(_SAFE[name], dtype)) if name in _SAFE else a
                v = fn(aa)
            out = jnp.where(sel, v, out)
        vals[j] = out
    return vals[0]


def make_controller(tok: Tokens, layout: Layout, dt: float, integrator: str = "euler"):
    """A `synth.Controller` whose params are one individual's prepared trees (T, L), and
    optionally `live`: a run-time `True` that is not batched over individuals or trajectories; with
    it each tree's value is computed once per tick and then shared by its users (a tree's value
    feeds the cost, the plant, the checks and the other trees; without this the compiler repeats
    the whole tree in each of them: 3-4 x slower on the CPU, bench/gp_RESULTS.md, session 8)."""
    from synth import Controller
    from synth._controller import latent_step
    from synth._simulate import compute_once

    nz, nu = layout.nz, layout.nu

    def trees(params, sl, x):
        vals = [evaluate_tree(tok, params, t, x) for t in range(sl.start, sl.stop)]
        if "live" in params:  # each tree computed once, not once per user (`synth._simulate.compute_once`)
            vals = [compute_once(params["live"], v) for v in vals]
        return jnp.stack(vals)

    if layout.lags:
        return _lagged_controller(layout, trees_of=lambda params, x: trees(params, slice(0, nu), x))

    def init(params):
        return jnp.zeros(nz, params["const"].dtype)

    def act(params, z, y, r):
        x = jnp.concatenate([y, z, jnp.zeros(nu, y.dtype), r])
        return trees(params, slice(nz, nz + nu), x)

    def dz(params, z, y, u, r):
        return trees(params, slice(0, nz), jnp.concatenate([y, z, u, r]))

    def advance(params, z, y, u, r):
        if not nz:
            return z
        return latent_step(lambda zz: dz(params, zz, y, u, r), z, dt, integrator)

    return Controller(nz=nz, init=init, act=act, advance=advance, name="gp")


def _lagged_controller(layout: Layout, trees_of):
    """GP-L's `Controller`: the latent state is the shift register of the last `layout.lags`
    observations (newest first), the readout trees read it and the targets (`Layout`)."""
    from synth import Controller

    n_reg, nu = layout.ny, layout.nu
    ny = n_reg // layout.lags

    def init(params):
        return jnp.zeros(n_reg, params["const"].dtype)

    def act(params, z, y, r):
        return trees_of(params, jnp.concatenate([z, jnp.zeros(nu, z.dtype), r]))

    def advance(params, z, y, u, r):
        return jnp.concatenate([y.astype(z.dtype), z[: n_reg - ny]])

    return Controller(nz=n_reg, init=init, act=act, advance=advance, name="gp-l")
