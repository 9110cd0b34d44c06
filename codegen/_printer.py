"""The C99 expression printer of symctl: sympy's `C99CodePrinter` with embedded-friendly output.

What it changes (see the notes in the `codegen` package docstring):

* real type `float` (default) or `double`: float code calls `sinf`, `expf`, ... and every literal,
  integers included, carries an `F` suffix, so no value is promoted to double
  (`-Wdouble-promotion` stays quiet and a Cortex-M4F never links soft-double helpers);
* float literals round-trip exactly: a constant is rounded once to the real type and printed with
  the shortest decimal that reads back to the same binary value;
* `pi`, `E` and other number symbols are literals (no POSIX `M_PI`);
* integer powers up to `MAX_EXPANDED_POWER` are written as multiplications (`x*x*x`,
  `1.0F/(x*x)`), half powers as `sqrtf`;
* sums and products are printed as left folds of their arguments in sympy's argument order, the
  order in which `plants.lower` evaluates them for the Python reference, and every operand that is
  not an atom is parenthesised (`(a*b) + (c/d)`);
* function names from symctl's operator table (`plants._operators`: `Min`/`Max` -> `fminf`/`fmaxf`,
  `Abs` -> `fabsf`, `sin` -> `sinf`, ...; other sympy functions keep sympy's C99 spelling), `Mod` -> floor modulo written out (sympy's
  meaning, not C's `fmod`), `sign` and `Piecewise` -> ternaries.
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp
from sympy.codegen.ast import float32, float64, real
from sympy.printing.c import C99CodePrinter

from plants._operators import OPERATORS

REALS = ("float", "double")
MAX_EXPANDED_POWER = 8


def float_literal(value: float, real_type: str = "float") -> str:
    """The C literal of `value` rounded to `real_type`, shortest form that round-trips exactly.

    >>> float_literal(0.1)
    '0.1F'
    >>> float_literal(0.1, "double")
    '0.1'
    >>> float_literal(3.0)
    '3.0F'
    """
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"cannot print the non-finite constant {value!r} as a C literal")
    if real_type == "float":
        with np.errstate(over="ignore"):
            f32 = np.float32(value)
        if not np.isfinite(f32):
            raise ValueError(f"the constant {value!r} overflows float; generate with real='double'")
        text = (
            np.format_float_positional(f32, unique=True, trim="0")
            if _plain(float(f32))
            else np.format_float_scientific(f32, unique=True, trim="0")
        )
        suffix = "F"
    else:
        text = repr(value)
        suffix = ""
    if text.endswith("."):
        text += "0"
    if "." not in text and "e" not in text and "inf" not in text:
        text += ".0"
    if "e" in text and "." not in text.split("e")[0]:
        mant, exp = text.split("e")
        text = f"{mant}.0e{exp}"
    return text + suffix


def _plain(v: float) -> bool:
    return v == 0.0 or 1e-4 <= abs(v) < 1e16


class CPrinter(C99CodePrinter):
    """sympy's C99 printer, made to emit strict, exactly reproducible float or double code."""

    printmethod = "_symctl_ccode"

    def __init__(self, real_type: str = "float", settings: dict | None = None):
        if real_type not in REALS:
            raise ValueError(f"real type {real_type!r} is not valid; use one of {', '.join(REALS)}")
        self.real_type = real_type
        base = {"type_aliases": {real: float32 if real_type == "float" else float64}, "math_macros": {}}
        base.update(settings or {})
        super().__init__(settings=base)

    # Literals ------------------------------------------------------------------------------------
    def lit(self, value: float) -> str:
        return float_literal(value, self.real_type)

    def _print_Float(self, expr):
        v = float(expr)
        return self.lit(v) if v >= 0 else f"(-{self.lit(-v)})"

    def _print_Integer(self, expr):
        v = int(expr)
        return self.lit(v) if v >= 0 else f"(-{self.lit(-v)})"

    _print_Zero = _print_Integer
    _print_One = _print_Integer
    _print_NegativeOne = _print_Integer

    def _print_Rational(self, expr):
        p, q = int(expr.p), int(expr.q)
        if q == 1:
            return self._print_Integer(expr)
        body = f"{self.lit(abs(p))}/{self.lit(q)}"
        return f"({body})" if p > 0 else f"(-({body}))"

    _print_Half = _print_Rational

    def _print_NumberSymbol(self, expr):
        return self.lit(float(expr.evalf(30)))

    _print_Pi = _print_NumberSymbol
    _print_Exp1 = _print_NumberSymbol
    _print_GoldenRatio = _print_NumberSymbol
    _print_EulerGamma = _print_NumberSymbol
    _print_Catalan = _print_NumberSymbol
    _print_TribonacciConstant = _print_NumberSymbol

    def _print_Infinity(self, expr):
        raise ValueError("an expression contains oo (infinity); a controller cannot be generated from it")

    _print_NegativeInfinity = _print_Infinity
    _print_ComplexInfinity = _print_Infinity

    def _print_ImaginaryUnit(self, expr):
        raise ValueError("an expression contains the imaginary unit I; a real controller cannot be generated from it")

    def _print_NaN(self, expr):
        raise ValueError("an expression contains nan; a controller cannot be generated from it")

    # Structure -----------------------------------------------------------------------------------
    def _operand(self, expr) -> str:
        """Print `expr` as an operand: atoms bare, everything else parenthesised."""
        text = self._print(expr)
        if expr.is_Symbol or expr.is_NumberSymbol or (expr.is_Float and float(expr) >= 0):
            return text
        if expr.is_Integer and int(expr) >= 0:
            return text
        if isinstance(expr, sp.Function) and not isinstance(expr, (sp.sign, sp.Piecewise, sp.Mod)):
            return text
        if expr.is_Pow and expr.exp == sp.Rational(1, 2):  # sqrtf(...)
            return text
        if text.startswith("(") and _balanced_outer(text):
            return text
        return f"({text})"

    def _print_Add(self, expr, order=None):
        args = list(expr.args)
        out = self._operand(args[0])
        for a in args[1:]:
            coeff, rest = a.as_coeff_Mul()
            if coeff.is_Number and coeff < 0:
                out = f"{out} - {self._operand(sp.Mul(-coeff, rest, evaluate=False) if coeff != -1 else rest)}"
            else:
                out = f"{out} + {self._operand(a)}"
        return out

    def _print_Mul(self, expr):
        args = list(expr.args)
        if args and args[0].is_Number and args[0] < 0:
            rest = args[1:]
            positive = [] if args[0] == -1 else [-args[0]]
            inner = sp.Mul(*(positive + rest), evaluate=False) if len(positive + rest) > 1 else (positive + rest)[0]
            return f"-{self._operand(inner)}"
        num, den = [], []
        for a in args:
            if a.is_Pow and a.exp.is_Number and a.exp < 0 and a.exp != -sp.Rational(1, 2):
                den.append(a.base if a.exp == -1 else sp.Pow(a.base, -a.exp, evaluate=False))
            else:
                num.append(a)
        ntext = "*".join(self._operand(a) for a in num) if num else self.lit(1)
        if not den:
            return ntext
        if len(num) > 1:
            ntext = f"({ntext})"
        dtext = "*".join(self._operand(a) for a in den)
        if len(den) > 1:
            dtext = f"({dtext})"
        return f"{ntext}/{dtext}"

    def _print_Pow(self, expr):
        base, e = expr.args
        if e == sp.Rational(1, 2):
            return f"{self._fn('sqrt')}({self._print(base)})"
        if e == -sp.Rational(1, 2):
            return f"{self.lit(1)}/{self._fn('sqrt')}({self._print(base)})"
        if e.is_Integer and abs(int(e)) <= MAX_EXPANDED_POWER:
            n = int(e)
            if n == 0:
                return self.lit(1)
            b = self._operand(base)
            prod = "*".join([b] * abs(n))
            if n > 0:
                return prod if abs(n) == 1 else f"({prod})"
            return f"{self.lit(1)}/" + (prod if abs(n) == 1 else f"({prod})")
        return f"{self._fn('pow')}({self._print(base)}, {self._print(e)})"

    def _fn(self, name: str) -> str:
        """The C function for operator `name`: from symctl's operator table where it declares one."""
        op = OPERATORS.get(name)
        if op is not None and op.c_float is not None:
            return op.c_float if self.real_type == "float" else op.c_double
        return name + ("f" if self.real_type == "float" else "")

    def _print_Function(self, expr):
        name = _TABLE_FUNCTIONS.get(type(expr))
        if name is not None and len(expr.args) == 1:
            return f"{self._fn(name)}({self._print(expr.args[0])})"
        return super()._print_Function(expr)

    def _print_sin(self, expr):
        return self._print_Function(expr)

    _print_cos = _print_sin
    _print_exp = _print_sin
    _print_log = _print_sin
    _print_tanh = _print_sin

    def _fold(self, fn: str, args) -> str:
        out = self._print(args[0])
        for a in args[1:]:
            out = f"{self._fn(fn)}({out}, {self._print(a)})"
        return out

    def _print_Min(self, expr):
        return self._fold("min", expr.args)

    def _print_Max(self, expr):
        return self._fold("max", expr.args)

    def _print_Abs(self, expr):
        return f"{self._fn('abs')}({self._print(expr.args[0])})"

    def _print_Mod(self, expr):
        a, b = (self._operand(x) for x in expr.args)
        return f"({a} - ({self._fn('floor')}({a}/{b})*{b}))"

    def _print_sign(self, expr):
        a = self._operand(expr.args[0])
        zero, one = self.lit(0), self.lit(1)
        return f"(({a} > {zero}) ? {one} : (({a} < {zero}) ? (-{one}) : {zero}))"

    def _print_Piecewise(self, expr):
        pieces = list(expr.args)
        value, cond = pieces[-1]
        if cond is not sp.true:
            raise ValueError(f"Piecewise without an otherwise branch cannot be printed: {expr}")
        out = self._print(value)
        for value, cond in reversed(pieces[:-1]):
            out = f"(({self._print(cond)}) ? ({self._print(value)}) : ({out}))"
        return out

    def _print_Relational(self, expr):
        return f"{self._operand(expr.lhs)} {expr.rel_op} {self._operand(expr.rhs)}"

    def _print_BooleanTrue(self, expr):
        return "1"

    def _print_BooleanFalse(self, expr):
        return "0"

    def _print_Symbol(self, expr):
        return expr.name


# sympy function classes whose C spelling comes from the operator table (`plants._operators`)
_TABLE_FUNCTIONS = {op.sympy: name for name, op in OPERATORS.items() if op.arity == 1 and isinstance(op.sympy, type)}


def _balanced_outer(text: str) -> bool:
    """True when the whole of `text` is one parenthesised group: `(a + b)` but not `(a) + (b)`."""
    depth = 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0 and i != len(text) - 1:
                return False
    return depth == 0


def print_c(expr: sp.Expr, real_type: str = "float") -> str:
    """One sympy expression as a C99 expression of type `real_type`.

    >>> import sympy as sp
    >>> x = sp.Symbol("x")
    >>> print_c(0.5 * x**3 + sp.pi)
    '3.1415927F + (0.5F*(x*x*x))'
    """
    return CPrinter(real_type).doprint(sp.sympify(expr))
