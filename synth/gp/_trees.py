"""Expression trees as fixed-size arrays, so a whole population is one set of arrays.

A tree is two arrays of length `L` (the node budget): `code` (int32) and `const` (float), in
prefix order, left-aligned, padded with `EMPTY` (-1). Codes `0..n_f-1` are the operators of the
function set, `n_f + v` reads input `v` of the layout's input vector `[y, z, u, r]`, and
`n_f + n_in` is a constant whose value is `const` at that slot. In prefix order the subtree of
node `i` occupies `[i, i + size[i])`, so every variation is a splice of contiguous segments.

Everything here is pure JAX on one tree (callers `vmap`), except `to_sympy` / `from_sympy` /
`policy_of`, the host-side bridge to sympy.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp

from plants import OPERATORS, symbol
from synth import SymbolicPolicy

EMPTY = -1


@dataclasses.dataclass(frozen=True)
class Tokens:
    """The token alphabet of one run: function set, inputs, constants."""

    funcs: tuple[str, ...]
    weights: tuple[float, ...]
    n_in: int
    max_nodes: int
    max_depth: int

    @property
    def n_f(self) -> int:
        return len(self.funcs)

    @property
    def const_code(self) -> int:
        return self.n_f + self.n_in

    @property
    def arity(self) -> np.ndarray:
        """Arity per code (index `code`), zeros for inputs and constants."""
        return np.array([OPERATORS[f].arity for f in self.funcs] + [0] * (self.n_in + 1), np.int32)


# Structure -----------------------------------------------------------------------------------
def arities(tok: Tokens, code):
    table = jnp.asarray(tok.arity)
    return jnp.where(code >= 0, table[jnp.clip(code, 0, table.shape[0] - 1)], 0)


def structure(tok: Tokens, code):
    """Per slot: arity, subtree size, index of the second child (L if none), depth (edges from root).

    `size` is 0 on empty slots. Works on one tree (callers vmap)."""
    L = code.shape[-1]
    ar = arities(tok, code)
    valid = code >= 0

    def back(size, j):
        s1 = size[j + 1]
        b = jnp.minimum(j + 1 + s1, L)
        sj = jnp.where(valid[j], 1 + jnp.where(ar[j] >= 1, s1, 0) + jnp.where(ar[j] == 2, size[b], 0), 0)
        return size.at[j].set(sj), jnp.where(ar[j] == 2, b, L)

    size, second = jax.lax.scan(back, jnp.zeros(L + 1, jnp.int32), jnp.arange(L - 1, -1, -1))
    second = second[::-1].astype(jnp.int32)

    def fwd(depth, j):
        depth = depth.at[j + 1].set(jnp.where(ar[j] >= 1, depth[j] + 1, depth[j + 1]))
        depth = depth.at[second[j]].set(jnp.where(ar[j] == 2, depth[j] + 1, depth[second[j]]))
        return depth, None

    depth, _ = jax.lax.scan(fwd, jnp.zeros(L + 1, jnp.int32), jnp.arange(L))
    return ar, size[:L], second, depth[:L]


def tree_depth(tok: Tokens, code):
    _, _, _, depth = structure(tok, code)
    return jnp.max(jnp.where(code >= 0, depth, 0))


def n_nodes(code):
    return jnp.sum(code >= 0, axis=-1)


def is_valid(tok: Tokens, code) -> jax.Array:
    """True iff `code` is one complete prefix tree, left-aligned, within depth and node budget."""
    L = code.shape[-1]
    ar = arities(tok, code)
    n = n_nodes(code)
    pos = jnp.arange(L)
    need = 1 + jnp.cumsum(jnp.where(pos < n, ar - 1, 0))
    contiguous = jnp.all((code >= 0) == (pos < n))
    closes_last = jnp.all(jnp.where(pos < n - 1, need > 0, True)) & (need[jnp.maximum(n - 1, 0)] == 0)
    in_range = jnp.all((code >= EMPTY) & (code <= tok.const_code))
    return contiguous & closes_last & in_range & (n >= 1) & (tree_depth(tok, code) <= tok.max_depth)


# Sympy bridge (host side) --------------------------------------------------------------------
def to_sympy(tok: Tokens, names: tuple[str, ...], code: np.ndarray, const: np.ndarray) -> sp.Expr:
    """The sympy expression of one tree (numpy arrays)."""
    code = np.asarray(code)
    const = np.asarray(const)
    arity = tok.arity
    pos = 0

    def walk():
        nonlocal pos
        c = int(code[pos])
        val = const[pos]
        pos += 1
        if c < tok.n_f:
            args = [walk() for _ in range(arity[c])]
            return OPERATORS[tok.funcs[c]].sympy(*args)
        if c == tok.const_code:
            return sp.Float(float(val))
        return symbol(names[c - tok.n_f])

    return walk()


def policy_of(ctx, code: np.ndarray, const: np.ndarray, **provenance: Any) -> SymbolicPolicy:
    """The `SymbolicPolicy` of one individual (code, const of shape (T, L)) of the run context `ctx`
    (`_context.Context`: its layout, token alphabet, task and config)."""
    lay, task = ctx.layout, ctx.task
    exprs = [to_sympy(ctx.tok, lay.names, code[t], const[t]) for t in range(lay.n_trees)]
    if lay.lags:  # GP-L: the readouts of the lag registers, kept by a discrete shift (`Layout`)
        regs = lay.names[: lay.ny]
        shift = [symbol(o.name) for o in task.observations] + [symbol(n) for n in regs[: lay.ny - task.ny]]
        return SymbolicPolicy(
            observations=tuple(o.name for o in task.observations),
            targets=tuple(task.targets),
            latent=regs,
            controls=tuple(task.plant.inputs),
            f=tuple(shift),
            g=tuple(exprs),
            dt=task.dt,
            integrator="discrete",
            input_limits=tuple(task.input_limits),
            provenance={"task": task.name, "method": ctx.config.method, **provenance},
        )
    return SymbolicPolicy(
        observations=tuple(o.name for o in task.observations),
        targets=tuple(task.targets),
        latent=lay.names[lay.ny : lay.ny + lay.nz],
        controls=tuple(task.plant.inputs),
        f=tuple(exprs[: lay.nz]),
        g=tuple(exprs[lay.nz :]),
        dt=task.dt,
        integrator=ctx.config.integrator,
        input_limits=tuple(task.input_limits),
        provenance={"task": task.name, "method": ctx.config.method, **provenance},
    )


class NotEncodable(ValueError):
    """An expression uses something the tree alphabet cannot express within the budget."""


def from_sympy(tok: Tokens, names: tuple[str, ...], allowed: np.ndarray, expr: sp.Expr, dtype=np.float32):
    """Prefix arrays of `expr` with binary operators of the function set; `NotEncodable` if the
    expression needs another operator, a forbidden input, or more than the node budget/depth."""
    funcs = {f: i for i, f in enumerate(tok.funcs)}
    index = {symbol(n): i for i, n in enumerate(names)}
    out: list[tuple[int, float]] = []

    def op(name):
        if name not in funcs:
            raise NotEncodable(name)
        out.append((funcs[name], 0.0))

    def num(v):
        out.append((tok.const_code, float(v)))

    def emit_binary(name, items):
        # left fold: name(name(a, b), c) ...
        for _ in range(len(items) - 1):
            op(name)
        emit(items[0])
        for it in items[1:]:
            emit(it)

    def emit(e):
        if len(out) > tok.max_nodes:
            raise NotEncodable("budget")
        if e.is_Symbol:
            if e not in index or not allowed[index[e]]:
                raise NotEncodable(str(e))
            out.append((tok.n_f + index[e], 0.0))
        elif e.is_Number:
            if not e.is_finite or not e.is_real:
                raise NotEncodable(str(e))
            num(e)
        elif e.is_Add:
            terms = list(e.args)
            pos_terms = [a for a in terms if not _negative(a)]
            neg_terms = [-a for a in terms if _negative(a)]
            if not pos_terms:
                pos_terms, neg_terms = [terms[0]], [-a for a in terms[1:]]
            for _ in neg_terms:
                op("sub")
            emit_binary("add", pos_terms)
            for t in neg_terms:
                emit(t)
        elif e.is_Mul:
            num_f, den_f = [], []
            for a in e.args:
                if a.is_Pow and a.exp.is_Integer and a.exp < 0:
                    den_f.append(a.base ** (-a.exp))
                else:
                    num_f.append(a)
            num_f = num_f or [sp.Integer(1)]
            if den_f:
                op("div")
                emit_binary("mul", num_f)
                emit_binary("mul", den_f)
            else:
                emit_binary("mul", num_f)
        elif e.is_Pow:
            b, x = e.base, e.exp
            if x.is_Integer and x > 0:
                emit_binary("mul", [b] * int(x))
            elif x.is_Integer and x < 0:
                op("div")
                num(1.0)
                emit_binary("mul", [b] * int(-x))
            elif x == sp.Rational(1, 2):
                op("sqrt")
                emit(b)
            else:
                raise NotEncodable(str(e))
        elif isinstance(e, sp.Function) and len(e.args) == 1:
            name = {sp.sin: "sin", sp.cos: "cos", sp.exp: "exp", sp.log: "log", sp.tanh: "tanh", sp.Abs: "abs"}.get(type(e))
            if name is None:
                raise NotEncodable(str(e))
            op(name)
            emit(e.args[0])
        else:
            raise NotEncodable(str(e))

    emit(sp.sympify(expr))
    if len(out) > tok.max_nodes:
        raise NotEncodable("budget")
    code = np.full(tok.max_nodes, EMPTY, np.int32)
    const = np.zeros(tok.max_nodes, dtype)
    for k, (c, v) in enumerate(out):
        code[k] = c
        const[k] = v
    return code, const


def _negative(a: sp.Expr) -> bool:
    return bool(a.could_extract_minus_sign())


def check_tree(tok: Tokens, code: np.ndarray) -> bool:
    """Host-side (numpy) version of `is_valid`."""
    code = np.asarray(code)
    arity = tok.arity
    n = int((code >= 0).sum())
    if n < 1 or not np.all(code[:n] >= 0) or not np.all(code[n:] == EMPTY) or np.any(code > tok.const_code):
        return False
    pos = 0

    def walk(d):
        nonlocal pos
        if pos >= n:
            raise ValueError
        c = int(code[pos])
        pos += 1
        return max([d] + [walk(d + 1) for _ in range(arity[c])])

    try:
        depth = walk(0)
    except ValueError:
        return False
    return pos == n and depth <= tok.max_depth
