"""The ESPL symbolic network: dense operator layers whose every weight is a selectable path.

Structure (one independent network per output, stacked on a leading axis): the input vector
(normalised: `(v - shift) * scale`) enters layer 1; each layer is ONE affine map from everything
seen so far (inputs and the outputs of all earlier layers, concatenated) to the arguments of its
operators; the operators' outputs are appended to that vector; a final affine map takes the whole
vector to the output. There is no add operator: sums live in the affine maps. Every weight has
a keep-probability `p` (the path selector); biases are always kept.

Operators come from the one declaration in `plants/_operators.py`. Some need a guard to stay
finite (`log` of a non-positive number, `exp` of a large one, division by ~0); the guard is a
`Max`/`Min` with a constant, which is itself a declared operator, and it is part of the function
the network computes in training, in the simulator, in the sympy extraction and in the C code.
Nothing is protected silently: the exported expression carries its guards (or, where the extraction
shows a guard never acts on the task, drops it and is re-scored). `VALID` is the region where the
guards are idle; the hinge regulariser keeps the arguments inside it during training.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import sympy as sp

from plants import OPERATORS, UserInputError

PAPER_LAYOUT: tuple[tuple[str, ...], ...] = (
    ("mul", "mul", "mul"),
    ("div", "div", "div"),
    ("log", "log", "exp", "exp", "sin", "sin", "cos", "cos"),
    ("log", "log", "exp", "exp", "sin", "sin", "cos", "cos"),
    ("mul", "div", "log", "exp"),
    ("mul", "div", "log", "exp"),
)
"""The operator layers of the ESPL paper's network (30 operators, 40 arguments)."""

DEFAULT_LAYOUT: tuple[tuple[str, ...], ...] = (
    ("mul", "mul", "mul"),
    ("sin", "cos", "tanh", "sin", "cos", "tanh"),
    ("mul", "mul"),
)
"""symctl's default: the same dense structure with operators whose outputs stay O(1) for O(1)
arguments and that need no guard (see README: why not the paper's div/log/exp)."""

# Guards applied to an operator's arguments: {argument index: (low or None, high or None)}.
GUARDS: dict[str, dict[int, tuple[float | None, float | None]]] = {
    "div": {1: (0.01, None)},
    "log": {0: (0.001, None)},
    "exp": {0: (None, 4.0)},
    "sqrt": {0: (1e-4, None)},
}
# Where the arguments should stay (hinge regulariser); includes the guard regions.
VALID: dict[str, dict[int, tuple[float | None, float | None]]] = {
    **GUARDS,
    "mul": {0: (-100.0, 100.0), 1: (-100.0, 100.0)},
}
NETWORK_OPERATORS = ("mul", "div", "log", "exp", "sin", "cos", "tanh", "sqrt", "abs", "square")


class LayoutError(UserInputError):
    """An ESPL layout names an operator that cannot be used in the network."""


def check_layout(layout: Sequence[Sequence[str]]) -> tuple[tuple[str, ...], ...]:
    out = tuple(tuple(layer) for layer in layout)
    if not out or any(not layer for layer in out):
        raise LayoutError(f"ESPL layout {out!r} must have at least one non-empty layer")
    for layer in out:
        for op in layer:
            if op not in NETWORK_OPERATORS or op not in OPERATORS:
                raise LayoutError(f"ESPL layout operator {op!r} is not usable; choose from {', '.join(NETWORK_OPERATORS)}")
    return out


@dataclasses.dataclass(frozen=True)
class Network:
    """Shape of a stack of `n_out` independent symbolic networks over `n_in` inputs.

    `shift`, `scale` normalise the inputs; `lo`, `hi` (per output) squash the output to
    `mid + half * tanh(o)` where both are finite, else the output is `o` itself.
    """

    n_in: int
    n_out: int
    layout: tuple[tuple[str, ...], ...] = DEFAULT_LAYOUT
    shift: tuple[float, ...] = ()
    scale: tuple[float, ...] = ()
    lo: tuple[float, ...] = ()
    hi: tuple[float, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "layout", check_layout(self.layout))
        if not self.shift:
            object.__setattr__(self, "shift", (0.0,) * self.n_in)
        if not self.scale:
            object.__setattr__(self, "scale", (1.0,) * self.n_in)
        if not self.lo:
            object.__setattr__(self, "lo", (-math.inf,) * self.n_out)
        if not self.hi:
            object.__setattr__(self, "hi", (math.inf,) * self.n_out)

    @property
    def arities(self) -> list[list[int]]:
        return [[OPERATORS[op].arity for op in layer] for layer in self.layout]

    @property
    def widths(self) -> list[int]:
        """Input width of each affine map (layers, then the final map)."""
        w = [self.n_in]
        for layer in self.layout:
            w.append(w[-1] + len(layer))
        return w

    @property
    def n_paths(self) -> int:
        """Paths (weights) per output network."""
        w = self.widths
        return sum(sum(a) * w[i] for i, a in enumerate(self.arities)) + w[-1]

    @property
    def bounded(self) -> list[bool]:
        return [math.isfinite(lo) and math.isfinite(hi) for lo, hi in zip(self.lo, self.hi)]


def init_params(net: Network, key, dtype=jnp.float32) -> dict:
    """Weights and biases ~ U(-1/sqrt(10), 1/sqrt(10)) (final weights 0); every keep-probability 1."""
    bound = 1.0 / math.sqrt(10.0)
    widths = net.widths
    shapes = [(sum(a), widths[i]) for i, a in enumerate(net.arities)] + [(1, widths[-1])]
    keys = jr.split(key, 2 * len(shapes))
    W, b, p = [], [], []
    for i, (rows, cols) in enumerate(shapes):
        # The final map starts at zero: training begins from a policy linear in the operator
        # outputs (a smooth starting point); the operator layers keep the ESPL initialisation.
        scale = 0.0 if i == len(shapes) - 1 else bound
        W.append(
            jr.uniform(keys[2 * i], (net.n_out, rows, cols), dtype, -scale, scale)
            if scale
            else jnp.zeros((net.n_out, rows, cols), dtype)
        )
        b.append(jr.uniform(keys[2 * i + 1], (net.n_out, rows), dtype, -bound, bound))
        p.append(jnp.ones((net.n_out, rows, cols), dtype))
    return {"W": W, "b": b, "p": p}


def _logit(p, eps=1e-6):
    p = jnp.clip(p, eps, 1.0 - eps)
    return jnp.log(p) - jnp.log1p(-p)


def sample_masks(params: dict, key, tau) -> list:
    """Binary-concrete masks: hard 0/1 forward (a Bernoulli(p) draw), straight-through gradient.

    One uniform draw serves every weight (logistic noise log u - log(1 - u)); one call to the PRNG
    keeps compilation short.
    """
    ps = params["p"]
    sizes = [p.size for p in ps]
    u = jr.uniform(key, (sum(sizes),), ps[0].dtype, 1e-6, 1.0 - 1e-6)
    noise = jnp.log(u) - jnp.log1p(-u)
    out, start = [], 0
    for p, n in zip(ps, sizes):
        soft = jax.nn.sigmoid((_logit(p) + noise[start : start + n].reshape(p.shape)) / tau)
        hard = (soft > 0.5).astype(p.dtype)
        out.append(hard + soft - jax.lax.stop_gradient(soft))
        start += n
    return out


def deterministic_masks(params: dict) -> list:
    """The extraction mask: keep a path iff p > 0.5."""
    return [(p > 0.5).astype(p.dtype) for p in params["p"]]


def _jax_op(name: str, args, with_violation: bool):
    fn = getattr(jnp, OPERATORS[name].jax)
    guarded = list(args)
    for i, (lo, hi) in GUARDS.get(name, {}).items():
        if lo is not None:
            guarded[i] = jnp.maximum(guarded[i], lo)
        if hi is not None:
            guarded[i] = jnp.minimum(guarded[i], hi)
    out = fn(*guarded)
    if not with_violation:
        return out, 0.0
    v = 0.0
    for i, (lo, hi) in VALID.get(name, {}).items():
        if lo is not None:
            v = v + jnp.maximum(lo - args[i], 0.0)
        if hi is not None:
            v = v + jnp.maximum(args[i] - hi, 0.0)
    return out, v


def groups(layer: Sequence[str]) -> list[tuple[str, int]]:
    """The operators of a layer as (operator, count) in order of first appearance. Arguments are
    laid out group by group, argument-major within a group; outputs follow the group order."""
    out: dict[str, int] = {}
    for op in layer:
        out[op] = out.get(op, 0) + 1
    return list(out.items())


def _forward_one(net: Network, W, b, M, x, with_violation: bool):
    h = x
    viol = jnp.zeros((), x.dtype)
    for layer, Wl, bl, Ml in zip(net.layout, W[:-1], b[:-1], M[:-1]):
        a = (Wl * Ml) @ h + bl
        outs, i = [], 0
        for op, c in groups(layer):
            k = OPERATORS[op].arity
            o, v = _jax_op(op, [a[i + j * c : i + (j + 1) * c] for j in range(k)], with_violation)
            outs.append(o)
            if with_violation:
                viol = viol + jnp.sum(v)
            i += k * c
        h = jnp.concatenate([h, *outs])
    o = ((W[-1] * M[-1]) @ h + b[-1])[0]
    return o, viol


def forward(net: Network, params: dict, masks: list, v, with_violation: bool = False):
    """Outputs (n_out,) for one input vector `v` (n_in,), and the summed hinge violation."""
    dtype = params["W"][0].dtype
    v = jnp.asarray(v, dtype)
    x = (v - jnp.asarray(net.shift, dtype)) * jnp.asarray(net.scale, dtype)
    one = jax.vmap(lambda W, b, M: _forward_one(net, W, b, M, x, with_violation))
    o, viol = one(params["W"], params["b"], masks)
    bounded = np.array(net.bounded)
    mid = np.array([(a + b) / 2 if k else 0.0 for a, b, k in zip(net.lo, net.hi, bounded)], dtype)
    half = np.array([(b - a) / 2 if k else 1.0 for a, b, k in zip(net.lo, net.hi, bounded)], dtype)
    out = jnp.where(jnp.asarray(bounded), mid + half * jnp.tanh(o), o)
    return out, jnp.sum(viol)


# Sympy ------------------------------------------------------------------------------------------
def _sympy_op(name: str, args):
    guarded = list(args)
    for i, (lo, hi) in GUARDS.get(name, {}).items():
        if lo is not None:
            guarded[i] = OPERATORS["max"].sympy(guarded[i], sp.Float(lo))
        if hi is not None:
            guarded[i] = OPERATORS["min"].sympy(guarded[i], sp.Float(hi))
    return OPERATORS[name].sympy(*guarded)


def _affine(row_w, row_m, bias, h, drop: float):
    terms = [sp.Float(float(w)) * hv for w, m, hv in zip(row_w, row_m, h) if m > 0 and abs(w) > drop and hv != 0]
    return sp.Add(sp.Float(float(bias)), *terms)


def to_sympy(net: Network, params: dict, masks: list, inputs: Sequence[sp.Symbol], drop: float = 0.0) -> list[sp.Expr]:
    """The expression of each output over `inputs`, keeping the paths with mask 1 and |w| > drop.

    The same guards as the JAX forward pass; operators left without live inputs fold to constants.
    """
    W = [np.asarray(w, float) for w in params["W"]]
    b = [np.asarray(v, float) for v in params["b"]]
    M = [np.asarray(m, float) for m in masks]
    x = [(s - sp.Float(float(c))) * sp.Float(float(k)) for s, c, k in zip(inputs, net.shift, net.scale)]
    exprs = []
    for o in range(net.n_out):
        h = list(x)
        for li, layer in enumerate(net.layout):
            rows = [_affine(W[li][o, r], M[li][o, r], b[li][o, r], h, drop) for r in range(W[li].shape[1])]
            i = 0
            for op, c in groups(layer):
                k = OPERATORS[op].arity
                h = h + [_sympy_op(op, [rows[i + j * c + n] for j in range(k)]) for n in range(c)]
                i += k * c
        e = _affine(W[-1][o, 0], M[-1][o, 0], b[-1][o, 0], h, drop)
        if net.bounded[o]:
            lo, hi = net.lo[o], net.hi[o]
            e = sp.Float((lo + hi) / 2) + sp.Float((hi - lo) / 2) * OPERATORS["tanh"].sympy(e)
        exprs.append(e)
    return exprs


def active_paths(params: dict) -> int:
    """Paths the extraction would keep (p > 0.5)."""
    return int(sum(int(jnp.sum(p > 0.5)) for p in params["p"]))
