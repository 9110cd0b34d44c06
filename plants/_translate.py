"""Lower sympy expressions to numpy, JAX or CasADi by walking the expression tree.

One walker serves every backend, so an expression means the same everywhere: the backends differ
only in the primitive each node maps to (declared in `_operators.py`). Shared subexpressions are
evaluated once per call (memoised on the node), which keeps large expressions such as an
unrolled Riccati update linear in their DAG size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import sympy as sp

from ._operators import SYMPY_FUNCTIONS


class UnsupportedExpression(ValueError):
    """An expression uses a construct that symctl cannot evaluate in every backend."""


class _Backend:
    """The primitives of one array library."""

    name: str

    def const(self, value: float) -> Any:
        return value

    def func(self, fn: type, arg: Any) -> Any:
        raise NotImplementedError

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        raise NotImplementedError

    def maximum(self, a: Any, b: Any) -> Any:
        raise NotImplementedError

    def minimum(self, a: Any, b: Any) -> Any:
        raise NotImplementedError

    def mod(self, a: Any, b: Any) -> Any:
        # Floor modulo (the result has the sign of the divisor), as in sympy and Python.
        return a - self.func(sp.floor, a / b) * b

    def power(self, a: Any, b: Any) -> Any:
        return a**b

    def atan2(self, a: Any, b: Any) -> Any:
        raise NotImplementedError

    def logical_and(self, a: Any, b: Any) -> Any:
        raise NotImplementedError

    def logical_or(self, a: Any, b: Any) -> Any:
        raise NotImplementedError

    def logical_not(self, a: Any) -> Any:
        raise NotImplementedError


class _NumpyBackend(_Backend):
    name = "numpy"

    def func(self, fn, arg):
        with np.errstate(all="ignore"):
            return SYMPY_FUNCTIONS[fn][0](arg)

    def where(self, cond, a, b):
        return np.where(cond, a, b)

    def maximum(self, a, b):
        return np.maximum(a, b)

    def minimum(self, a, b):
        return np.minimum(a, b)

    def mod(self, a, b):
        with np.errstate(all="ignore"):
            return a - np.floor(np.true_divide(a, b)) * b

    def power(self, a, b):
        with np.errstate(all="ignore"):
            return np.power(np.asarray(a, dtype=float), b)

    def atan2(self, a, b):
        return np.arctan2(a, b)

    def logical_and(self, a, b):
        return np.logical_and(a, b)

    def logical_or(self, a, b):
        return np.logical_or(a, b)

    def logical_not(self, a):
        return np.logical_not(a)


class _JaxBackend(_Backend):
    name = "jax"

    def __init__(self):
        import jax.numpy as jnp

        self.jnp = jnp

    def func(self, fn, arg):
        return getattr(self.jnp, SYMPY_FUNCTIONS[fn][1])(arg)

    def where(self, cond, a, b):
        return self.jnp.where(cond, a, b)

    def maximum(self, a, b):
        return self.jnp.maximum(a, b)

    def minimum(self, a, b):
        return self.jnp.minimum(a, b)

    def power(self, a, b):
        return self.jnp.power(a, b)

    def atan2(self, a, b):
        return self.jnp.arctan2(a, b)

    def logical_and(self, a, b):
        return self.jnp.logical_and(a, b)

    def logical_or(self, a, b):
        return self.jnp.logical_or(a, b)

    def logical_not(self, a):
        return self.jnp.logical_not(a)


class _CasadiBackend(_Backend):
    name = "casadi"

    def __init__(self):
        import casadi as ca

        self.ca = ca

    def func(self, fn, arg):
        return getattr(self.ca, SYMPY_FUNCTIONS[fn][2])(arg)

    def where(self, cond, a, b):
        return self.ca.if_else(cond, a, b)

    def maximum(self, a, b):
        return self.ca.fmax(a, b)

    def minimum(self, a, b):
        return self.ca.fmin(a, b)

    def power(self, a, b):
        return self.ca.power(a, b)

    def atan2(self, a, b):
        return self.ca.atan2(a, b)

    def logical_and(self, a, b):
        return self.ca.logic_and(a, b)

    def logical_or(self, a, b):
        return self.ca.logic_or(a, b)

    def logical_not(self, a):
        return self.ca.logic_not(a)


_BACKENDS: dict[str, Callable[[], _Backend]] = {
    "numpy": _NumpyBackend,
    "jax": _JaxBackend,
    "casadi": _CasadiBackend,
}


def _number(expr: sp.Expr) -> float | None:
    if expr.is_Number or expr in (sp.pi, sp.E):
        if expr is sp.zoo or expr is sp.nan:
            return math.nan
        if expr is sp.oo:
            return math.inf
        if expr is sp.S.NegativeInfinity:
            return -math.inf
        return float(expr)
    return None


def _walk(expr: sp.Basic, env: dict[sp.Symbol, Any], be: _Backend, memo: dict) -> Any:
    hit = memo.get(expr)
    if hit is not None:
        return hit
    out = _walk_node(expr, env, be, memo)
    memo[expr] = out
    return out


def _walk_node(expr, env, be, memo):
    value = _number(expr)
    if value is not None:
        return be.const(value)
    if expr.is_Symbol:
        try:
            return env[expr]
        except KeyError:
            names = ", ".join(sorted(s.name for s in env))
            raise UnsupportedExpression(
                f"symbol {expr.name!r} is not an argument of this function (arguments: {names})"
            ) from None
    if expr is sp.true:
        return True
    if expr is sp.false:
        return False
    args = expr.args
    if isinstance(expr, sp.Add):
        out = _walk(args[0], env, be, memo)
        for a in args[1:]:
            out = out + _walk(a, env, be, memo)
        return out
    if isinstance(expr, sp.Mul):
        out = None
        for a in args:
            v = _walk(a, env, be, memo)
            out = v if out is None else out * v
        return out
    if isinstance(expr, sp.Pow):
        base, exp = args
        b = _walk(base, env, be, memo)
        if exp == sp.Rational(1, 2):
            return _sqrt(be, b)
        if exp == -sp.Rational(1, 2):
            return 1.0 / _sqrt(be, b)
        if exp.is_Integer:
            n = int(exp)
            if n == 0:
                return be.const(1.0)
            if 0 < n <= 4:
                out = b
                for _ in range(n - 1):
                    out = out * b
                return out
            if -4 <= n < 0:
                out = b
                for _ in range(-n - 1):
                    out = out * b
                return 1.0 / out
        return be.power(b, _walk(exp, env, be, memo))
    if isinstance(expr, sp.Max) or isinstance(expr, sp.Min):
        combine = be.maximum if isinstance(expr, sp.Max) else be.minimum
        out = _walk(args[0], env, be, memo)
        for a in args[1:]:
            out = combine(out, _walk(a, env, be, memo))
        return out
    if isinstance(expr, sp.Mod):
        return be.mod(_walk(args[0], env, be, memo), _walk(args[1], env, be, memo))
    if isinstance(expr, sp.atan2):
        return be.atan2(_walk(args[0], env, be, memo), _walk(args[1], env, be, memo))
    if isinstance(expr, sp.Heaviside):  # appears in derivatives of Min/Max; H(0) = 1/2 as in sympy
        a = _walk(args[0], env, be, memo)
        return be.where(a > 0, 1.0, be.where(a < 0, 0.0, 0.5))
    if isinstance(expr, sp.Piecewise):
        pieces = list(args)
        value, cond = pieces[-1]
        if cond is not sp.true:
            raise UnsupportedExpression(f"Piecewise without an otherwise branch: {expr}")
        out = _walk(value, env, be, memo)
        for value, cond in reversed(pieces[:-1]):
            out = be.where(_walk(cond, env, be, memo), _walk(value, env, be, memo), out)
        return out
    if isinstance(expr, sp.core.relational.Relational):
        a = _walk(expr.lhs, env, be, memo)
        b = _walk(expr.rhs, env, be, memo)
        op = expr.rel_op
        if op == "<":
            return a < b
        if op == "<=":
            return a <= b
        if op == ">":
            return a > b
        if op == ">=":
            return a >= b
        if op == "==":
            return a == b
        if op == "!=":
            return a != b
    if isinstance(expr, sp.And) or isinstance(expr, sp.Or):
        combine = be.logical_and if isinstance(expr, sp.And) else be.logical_or
        out = _walk(args[0], env, be, memo)
        for a in args[1:]:
            out = combine(out, _walk(a, env, be, memo))
        return out
    if isinstance(expr, sp.Not):
        return be.logical_not(_walk(args[0], env, be, memo))
    if type(expr) in SYMPY_FUNCTIONS:
        return be.func(type(expr), _walk(args[0], env, be, memo))
    raise UnsupportedExpression(
        f"cannot evaluate {type(expr).__name__} in {expr}; supported: + - * / ** and "
        f"{', '.join(sorted(f.__name__ for f in SYMPY_FUNCTIONS))}, Min, Max, Mod, atan2, Piecewise"
    )


def _sqrt(be: _Backend, b: Any) -> Any:
    if be.name == "numpy":
        with np.errstate(invalid="ignore"):
            return np.sqrt(b)
    if be.name == "jax":
        return be.jnp.sqrt(b)
    return be.ca.sqrt(b)


def lower(
    exprs: Sequence[sp.Expr],
    arguments: Sequence[Sequence[sp.Symbol]],
    backend: str,
) -> Callable[..., list[Any]]:
    """A function `fn(*vectors) -> list` evaluating `exprs` in `backend`.

    `arguments` gives, for each positional vector, the symbols its components stand for, in order.
    The vectors may carry extra leading batch axes in numpy and JAX (the component axis is the last).
    """
    if backend not in _BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid: {', '.join(_BACKENDS)}")
    be = _BACKENDS[backend]()
    exprs = [sp.sympify(e) for e in exprs]
    groups = [list(g) for g in arguments]

    def fn(*vectors: Any) -> list[Any]:
        if len(vectors) != len(groups):
            raise TypeError(f"expected {len(groups)} argument vectors, got {len(vectors)}")
        env: dict[sp.Symbol, Any] = {}
        for vec, syms in zip(vectors, groups):
            for i, s in enumerate(syms):
                env[s] = vec[..., i] if backend != "casadi" else vec[i]
        memo: dict = {}
        return [_walk(e, env, be, memo) for e in exprs]

    return fn
