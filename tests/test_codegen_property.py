"""Property test: random expressions over the whole operator set -> C equals the numpy evaluation.

Each hypothesis example is a batch of expressions compiled into one harness (one compiler run per
example, not per expression). The harness evaluates every expression at fixed sample points and
prints the results; they are compared with `plants.lower(..., "numpy")`, the walker the Python
reference uses.

Tolerance: double code to 1e-12 and float code to 1e-4, relative to the magnitude scale of the
evaluation at that point, the largest |value| among the expression's subexpressions (the forward
error bound of a cancelling sum is eps times that, so a result that cancels to nearly zero is not
held to a pointwise relative error it cannot have). Float results are compared only where the
expression is well conditioned at float precision: where perturbing the inputs by a relative 2e-6
moves the float64 value by less than 1e-5 of the scale.
"""

import shutil
import subprocess

import numpy as np
import pytest
import sympy as sp
from _sympy_draws import too_big_to_fold
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from codegen import STRICT_FLAGS, print_c
from plants import lower, symbol
from plants._operators import OPERATORS

pytestmark = [pytest.mark.compiler, pytest.mark.skipif(not shutil.which("gcc"), reason="gcc is not installed")]

X = [symbol("x0"), symbol("x1"), symbol("x2")]
UNARY = [op for op in OPERATORS.values() if op.arity == 1]
BINARY = [op for op in OPERATORS.values() if op.arity == 2]
POINTS = np.random.default_rng(7).uniform(-3.0, 3.0, size=(48, 3))
POINTS[0] = [0.0, 1.0, -1.0]

constants = st.one_of(
    st.sampled_from([sp.Integer(1), sp.Integer(2), sp.Integer(-3), sp.Rational(1, 3), sp.pi, sp.E]),
    st.floats(-10, 10, allow_nan=False, allow_subnormal=False).map(lambda v: sp.Float(round(v, 6))),
)
leaves = st.one_of(st.sampled_from(X), constants)


def _apply(op, *args):
    if op.name in ("sin", "cos", "exp") and too_big_to_fold(args[0]):  # e.g. sin(exp(exp(exp(10)))): left out
        return sp.nan
    try:
        return op.sympy(*args)
    except (ValueError, ZeroDivisionError, TypeError):  # sympy refuses e.g. Max(zoo, x) while building
        return sp.nan


def _extend(children):
    return st.one_of(
        st.tuples(st.sampled_from(UNARY), children).map(lambda t: _apply(t[0], t[1])),
        st.tuples(st.sampled_from(BINARY), children, children).map(lambda t: _apply(t[0], t[1], t[2])),
    )


def _real_expression(e):
    # sympy folds e.g. sin(oo) into an interval (AccumBounds), which is not an expression a policy can hold
    return not e.is_Number and not e.has(sp.zoo, sp.nan, sp.oo, -sp.oo, sp.I) and not e.has(sp.AccumBounds)


expressions = st.recursive(leaves, _extend, max_leaves=8).filter(_real_expression)


def _evaluate_c(exprs, real, points, tmp_path):
    ctype = real
    fmt = "%.9g" if real == "float" else "%.17g"
    lines = ["#include <math.h>", "#include <stdio.h>", ""]
    for i, e in enumerate(exprs):
        body = print_c(e.xreplace({x: sp.Symbol(f"x[{j}]") for j, x in enumerate(X)}), real)
        lines += [f"static {ctype} e{i}(const {ctype} x[3])", "{", "    (void)x;", f"    return {body};", "}", ""]
    rows = ",\n".join("    {" + ", ".join(float(v).hex() for v in p) + "}" for p in points)
    lines += [
        f"static const double pts[{len(points)}][3] = {{\n{rows}\n}};",
        "",
        "int main(void)",
        "{",
        "    int k;",
        f"    for (k = 0; k < {len(points)}; ++k) {{",
        f"        const {ctype} x[3] = {{ ({ctype})pts[k][0], ({ctype})pts[k][1], ({ctype})pts[k][2] }};",
    ]
    lines += [f'        printf("{fmt}\\n", (double)e{i}(x));' for i in range(len(exprs))]
    lines += ["    }", "    return 0;", "}", ""]
    src = tmp_path / f"prop_{real}.c"
    src.write_text("\n".join(lines))
    exe = tmp_path / f"prop_{real}"
    subprocess.run(["gcc", *STRICT_FLAGS, "-O2", str(src), "-o", str(exe), "-lm"], check=True, capture_output=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split()
    return np.array([float(v) for v in out]).reshape(len(points), len(exprs)).T


def _numpy(expr, points):
    with np.errstate(all="ignore"):
        v = lower([expr], [X], "numpy")(points)[0]
    return np.broadcast_to(np.asarray(v, dtype=float), (len(points),))


def _scale(expr, points):
    nodes = [n for n in sp.preorder_traversal(expr) if not isinstance(n, sp.core.relational.Relational)]
    vals = np.array([np.abs(_numpy(n, points)) for n in nodes])
    vals[~np.isfinite(vals)] = 0.0
    return vals.max(axis=0)


def _round_constants_to_float(expr):
    """The expression with its constants as the float C code holds them: floats and number symbols
    (`pi`, `E`: float literals in C) rounded to float32. `sin(Max(pi, x))` is -8.7e-8 in float and
    1.2e-16 in double: the reference must be the first."""
    consts = expr.atoms(sp.Float, sp.NumberSymbol)
    return expr.xreplace({c: sp.Float(float(np.float32(float(c)))) for c in consts})


@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target],
)
@given(st.lists(expressions, min_size=10, max_size=25))
def test_random_expressions_double(tmp_path_factory, exprs):
    tmp = tmp_path_factory.mktemp("prop")
    c = _evaluate_c(exprs, "double", POINTS, tmp)
    for e, cv in zip(exprs, c, strict=True):
        ref, scale = _numpy(e, POINTS), _scale(e, POINTS)
        both = np.isfinite(ref) & np.isfinite(cv)
        sane = scale < 1e300
        assert np.all(np.isfinite(cv)[np.isfinite(ref) & sane]), (e, ref, cv)
        if not e.has(sp.Min, sp.Max):  # fmin/fmax ignore a NaN operand (C99), numpy's minimum/maximum propagate it
            assert np.array_equal(np.isfinite(ref)[sane], np.isfinite(cv)[sane]), (e, ref, cv)
        with np.errstate(all="ignore"):
            err = np.abs(cv - ref)[both]
        assert np.all(err <= 1e-12 * scale[both] + 1e-300), (e, np.max(err / np.maximum(scale[both], 1e-300)))


@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target],
)
@given(st.lists(expressions, min_size=10, max_size=25))
@example([sp.sqrt(sp.Max(sp.E, X[2])) / sp.sin(sp.Max(sp.pi, X[1])), sp.sin(sp.pi) + X[0], sp.E * X[1]])
def test_random_expressions_float(tmp_path_factory, exprs):
    tmp = tmp_path_factory.mktemp("prop")
    pts = POINTS.astype(np.float32).astype(float)
    c = _evaluate_c(exprs, "float", pts, tmp)
    rng = np.random.default_rng(0)
    for e, cv in zip(exprs, c, strict=True):
        e32 = _round_constants_to_float(e)
        ref, scale = _numpy(e32, pts), _scale(e32, pts)
        ok = np.isfinite(ref) & (scale < 1e30)
        for _ in range(3):
            moved = _numpy(e32, pts * (1 + 2e-6 * rng.choice([-1.0, 1.0], size=pts.shape)))
            with np.errstate(all="ignore"):
                ok &= np.isfinite(moved) & (np.abs(moved - ref) <= 1e-5 * scale)
        with np.errstate(all="ignore"):
            err = np.abs(cv - ref)[ok]
        assert np.all(np.isfinite(cv[ok])), (e, ref[ok], cv[ok])
        assert np.all(err <= 1e-4 * scale[ok]), (e, np.max(err / scale[ok]))
