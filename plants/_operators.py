"""The one declaration of every operator symctl understands.

Each operator is declared once with its name, arity, sympy constructor and its meaning in every
backend (numpy, JAX, CasADi, C). The translators in `_translate.py` and the C printer in `codegen`
read this table; nothing else decides what `log` or `tanh` means. No operator is silently
protected: `log` of a negative number is NaN everywhere, and a trajectory that meets it gets the
worst cost.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import sympy as sp


@dataclasses.dataclass(frozen=True)
class Operator:
    """One operator of the function set.

    `sympy` builds the expression node, `numpy`/`jax`/`casadi` evaluate it (the `jax` and `casadi`
    entries are names resolved lazily, so importing this module imports neither), and `c_float` /
    `c_double` are the C99 <math.h> functions (None where C uses an infix operator).
    """

    name: str
    arity: int
    sympy: Callable[..., sp.Expr]
    numpy: Callable[..., Any]
    jax: str
    casadi: str
    c_float: str | None
    c_double: str | None


def _np_div(a, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.true_divide(a, b)


def _np_log(a):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(a)


def _np_sqrt(a):
    with np.errstate(invalid="ignore"):
        return np.sqrt(a)


def _np_exp(a):
    with np.errstate(over="ignore"):
        return np.exp(a)


OPERATORS: dict[str, Operator] = {
    op.name: op
    for op in [
        Operator("add", 2, lambda a, b: a + b, np.add, "add", "plus", None, None),
        Operator("sub", 2, lambda a, b: a - b, np.subtract, "subtract", "minus", None, None),
        Operator("mul", 2, lambda a, b: a * b, np.multiply, "multiply", "times", None, None),
        Operator("div", 2, lambda a, b: a / b, _np_div, "divide", "rdivide", None, None),
        Operator("neg", 1, lambda a: -a, np.negative, "negative", "negative", None, None),
        Operator("sin", 1, sp.sin, np.sin, "sin", "sin", "sinf", "sin"),
        Operator("cos", 1, sp.cos, np.cos, "cos", "cos", "cosf", "cos"),
        Operator("exp", 1, sp.exp, _np_exp, "exp", "exp", "expf", "exp"),
        Operator("log", 1, sp.log, _np_log, "log", "log", "logf", "log"),
        Operator("sqrt", 1, sp.sqrt, _np_sqrt, "sqrt", "sqrt", "sqrtf", "sqrt"),
        Operator("tanh", 1, sp.tanh, np.tanh, "tanh", "tanh", "tanhf", "tanh"),
        Operator("abs", 1, sp.Abs, np.abs, "abs", "fabs", "fabsf", "fabs"),
        Operator("square", 1, lambda a: a**2, np.square, "square", "sq", None, None),
        Operator("max", 2, sp.Max, np.maximum, "maximum", "fmax", "fmaxf", "fmax"),
        Operator("min", 2, sp.Min, np.minimum, "minimum", "fmin", "fminf", "fmin"),
    ]
}
"""The function set of learned policies, by name."""

POLICY_FUNCTION_SET = ("add", "sub", "mul", "div", "sin", "cos", "exp", "log", "sqrt", "tanh", "abs")
"""Operators a learning method may use in a policy (docs/design.md: one meaning in every backend)."""


def get_operator(name: str) -> Operator:
    """The operator called `name`; a `KeyError` that lists the valid names otherwise."""
    try:
        return OPERATORS[name]
    except KeyError:
        raise KeyError(f"unknown operator {name!r}; valid operators: {', '.join(OPERATORS)}") from None


# Functions of sympy that plant and task files may use, with their meaning in each backend.
# Keys are sympy function classes; the tuple is (numpy, jax.numpy name, casadi name).
SYMPY_FUNCTIONS: dict[type, tuple[Callable[..., Any], str, str]] = {
    sp.sin: (np.sin, "sin", "sin"),
    sp.cos: (np.cos, "cos", "cos"),
    sp.tan: (np.tan, "tan", "tan"),
    sp.asin: (np.arcsin, "arcsin", "asin"),
    sp.acos: (np.arccos, "arccos", "acos"),
    sp.atan: (np.arctan, "arctan", "atan"),
    sp.sinh: (np.sinh, "sinh", "sinh"),
    sp.cosh: (np.cosh, "cosh", "cosh"),
    sp.tanh: (np.tanh, "tanh", "tanh"),
    sp.exp: (_np_exp, "exp", "exp"),
    sp.log: (_np_log, "log", "log"),
    sp.Abs: (np.abs, "abs", "fabs"),
    sp.sign: (np.sign, "sign", "sign"),
    sp.floor: (np.floor, "floor", "floor"),
    sp.ceiling: (np.ceil, "ceil", "ceil"),
}

# Names a plant or task file may use in an expression, mapped to sympy.
EXPRESSION_NAMESPACE: dict[str, Any] = {
    "sin": sp.sin,
    "cos": sp.cos,
    "tan": sp.tan,
    "asin": sp.asin,
    "acos": sp.acos,
    "atan": sp.atan,
    "atan2": sp.atan2,
    "sinh": sp.sinh,
    "cosh": sp.cosh,
    "tanh": sp.tanh,
    "exp": sp.exp,
    "log": sp.log,
    "sqrt": sp.sqrt,
    "abs": sp.Abs,
    "sign": sp.sign,
    "floor": sp.floor,
    "ceil": sp.ceiling,
    "min": sp.Min,
    "max": sp.Max,
    "clip": lambda x, lo, hi: sp.Min(sp.Max(x, lo), hi),
    "mod": sp.Mod,
    "wrap": lambda x: sp.Mod(x + sp.pi, 2 * sp.pi) - sp.pi,
    "where": lambda c, a, b: sp.Piecewise((a, c), (b, True)),
    "pi": sp.pi,
    "E": sp.E,
}
"""The functions and constants of the expression language of plant and task files."""

PI = math.pi
