"""Expressions from text (plant and task files, text settings), parsed under limits.

sympy's parser turns the text into Python code and evaluates it, and sympy evaluates numbers
eagerly: `v1**(10**10**10)` would compute an integer of ten billion digits and never return. So
the code is read before it runs (`ast`) and refused when it

* is longer than `MAX_CHARACTERS`, or holds a number literal of more than `MAX_DIGITS` digits;
* raises anything to a constant exponent beyond `MAX_EXPONENT` in magnitude (`x**(10**10)`);
* builds a constant beyond `MAX_MAGNITUDE` in magnitude (`10**400`: every backend computes in
  float64, whose range ends at 1.8e308);
* uses Python beyond the expression language: attribute access, subscripts, lambdas,
  comprehensions, names that start with an underscore;

and the parse itself is stopped after `PARSE_SECONDS` (a timer signal, in the main thread when no
other timer is running). Every refusal is an `ExpressionLimit` whose message says which limit.
"""

from __future__ import annotations

import ast
import gc
import math
import operator
import re
import signal
import threading
from collections.abc import Callable, Mapping
from typing import Any

import sympy as sp
from sympy.parsing.sympy_parser import convert_xor, eval_expr, standard_transformations, stringify_expr

MAX_CHARACTERS = 10_000
MAX_DIGITS = 300
MAX_EXPONENT = 1000
MAX_MAGNITUDE = 1e300
PARSE_SECONDS = 2.0
RETRY_SECONDS = 0.05

TRANSFORMATIONS = standard_transformations + (convert_xor,)
_NUMBERS = {"Integer": sp.Integer, "Float": sp.Float, "Rational": sp.Rational, "Symbol": sp.Symbol, "Function": sp.Function}
_ALLOWED = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.Call,
    ast.Name,
    ast.Constant,
    ast.Tuple,
    ast.keyword,
    ast.expr_context,
    ast.operator,
    ast.unaryop,
    ast.boolop,
    ast.cmpop,
)
_DIGITS = re.compile(r"\d+")
_ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


class ExpressionLimit(ValueError):
    """An expression is beyond one of the parser's limits; the message says which."""


class _Timeout(BaseException):
    """Raised by the timer signal inside the parse (a BaseException, so no `except Exception` in
    sympy swallows it)."""


def parse_expression(text: str, names: Mapping[str, Any]) -> Any:
    """Parse `text` over `names` (and the number constructors) as sympy does, within the limits.

    Raises `ExpressionLimit` beyond a limit; any other error of sympy's parser passes through.
    """
    if len(text) > MAX_CHARACTERS:
        raise ExpressionLimit(f"it is {len(text):,} characters long; at most {MAX_CHARACTERS:,}")
    longest = max((len(m) for m in _DIGITS.findall(text)), default=0)
    if longest > MAX_DIGITS:
        raise ExpressionLimit(f"it holds a number of {longest:,} digits; at most {MAX_DIGITS}")
    local, glob = dict(names), dict(_NUMBERS)

    def parse():
        code = stringify_expr(text, local, glob, TRANSFORMATIONS)
        check_code(ast.parse(code, mode="eval"))
        return eval_expr(code, local, glob)  # what sympy's parse_expr runs, once read

    try:
        return within(PARSE_SECONDS, parse)
    except _Timeout:
        raise ExpressionLimit(f"parsing it took over {PARSE_SECONDS:g} s") from None
    except RecursionError:
        raise ExpressionLimit("it nests too deeply for Python's parser (a chain of thousands of operations)") from None


def _check_logic(node: ast.AST) -> None:
    """Python's `and`, `or`, `not` and chained comparisons cannot combine sympy's conditions: say
    what the expression language writes instead."""
    if isinstance(node, ast.BoolOp):
        word, op = ("and", "&") if isinstance(node.op, ast.And) else ("or", "|")
        raise ExpressionLimit(
            f"'{word}' is Python's, not the expression language's: write (a) {op} (b), each condition in parentheses"
        )
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        raise ExpressionLimit("'not' is Python's, not the expression language's: write ~(a)")
    if isinstance(node, ast.Compare) and len(node.ops) > 1:
        raise ExpressionLimit(
            "it chains comparisons (a < b < c, or a < b & c < d, since & binds before <): "
            "write (a < b) & (b < c), each comparison in parentheses"
        )


def check_code(tree: ast.Expression) -> None:
    """Refuse what the parser's code must not do (see the module docstring)."""
    order: list[ast.AST] = []
    stack: list[ast.AST] = [tree]
    while stack:  # iterative: a long sum is a deep tree
        node = stack.pop()
        if not isinstance(node, _ALLOWED):
            raise ExpressionLimit(f"it uses Python syntax outside the expression language ({type(node).__name__})")
        if isinstance(node, (ast.BoolOp, ast.UnaryOp, ast.Compare)):
            _check_logic(node)
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise ExpressionLimit(f"the name {node.id!r} starts with an underscore")
        if isinstance(node, ast.Call) and not isinstance(node.func, (ast.Name, ast.Call)):
            raise ExpressionLimit("it calls something other than a function of the expression language")
        order.append(node)
        stack.extend(ast.iter_child_nodes(node))
    values: dict[int, float | None] = {}
    for node in reversed(order):  # children before their parents
        values[id(node)] = _constant(node, values)


def _constant(node: ast.AST, values: dict[int, float | None]) -> float | None:
    """The value of a constant node (its children's values known) as a float, None if it is not a
    constant; raises ExpressionLimit where an exponent or a constant is beyond the limits."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("Integer", "Float", "Rational"):
        args = [_literal(a) if isinstance(a, ast.Constant) else values.get(id(a)) for a in node.args]
        if not args or any(a is None for a in args):
            return None
        try:
            value = args[0] / args[1] if node.func.id == "Rational" and len(args) == 2 else float(args[0])
        except (ZeroDivisionError, OverflowError, TypeError, ValueError):
            return None
        return _bounded(value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = values.get(id(node.operand))
        return None if v is None else (-v if isinstance(node.op, ast.USub) else v)
    if isinstance(node, ast.BinOp):
        a, b = values.get(id(node.left)), values.get(id(node.right))
        if isinstance(node.op, ast.Pow):
            if b is not None and abs(b) > MAX_EXPONENT:
                raise ExpressionLimit(f"it has an exponent of {b:.6g}; exponents are at most {MAX_EXPONENT} in magnitude")
            if a is None or b is None:
                return None
            try:
                value = math.pow(a, b)
            except OverflowError:
                raise ExpressionLimit(f"it computes {a:.6g}**{b:.6g}, beyond {MAX_MAGNITUDE:g} in magnitude") from None
            except (ValueError, ZeroDivisionError):
                return None
            return _bounded(value)
        if a is None or b is None or type(node.op) not in _ARITHMETIC:
            return None
        try:
            return _bounded(_ARITHMETIC[type(node.op)](a, b))
        except (ZeroDivisionError, OverflowError):
            return None
    return None


def _literal(node: ast.Constant) -> float | None:
    v = node.value
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        return None
    try:
        return float(v)
    except (ValueError, OverflowError):
        return None


def _bounded(value: float) -> float:
    if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
        raise ExpressionLimit(f"it holds a constant beyond {MAX_MAGNITUDE:g} in magnitude")
    return value


def within(seconds: float, fn: Callable[[], Any]) -> Any:
    """`fn()`, stopped by `_Timeout` after `seconds` (in the main thread, when no other interval
    timer is running; elsewhere `fn` runs without a limit).

    The timer repeats every `RETRY_SECONDS` until `fn` is over: a signal handler's exception that
    lands in a finaliser is lost there, and the next one stops `fn`. The collector is off
    meanwhile (no collector callbacks to lose it in), and a signal that lands here, in the
    clean-up, is ignored.
    """
    if (
        not hasattr(signal, "setitimer")
        or threading.current_thread() is not threading.main_thread()
        or signal.getitimer(signal.ITIMER_REAL)[0] > 0
    ):
        return fn()

    def expire(signum, frame):
        if frame is not None and frame.f_code is within.__code__:
            return
        raise _Timeout

    previous = signal.signal(signal.SIGALRM, expire)
    collecting = gc.isenabled()
    gc.disable()
    try:
        signal.setitimer(signal.ITIMER_REAL, seconds, RETRY_SECONDS)
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if collecting:
            gc.enable()


__all__ = [
    "MAX_CHARACTERS",
    "MAX_DIGITS",
    "MAX_EXPONENT",
    "MAX_MAGNITUDE",
    "PARSE_SECONDS",
    "ExpressionLimit",
    "parse_expression",
]
