"""`policy.json` round-trips exactly; the policy checks its own consistency."""

import json
import math

import numpy as np
import pytest
import sympy as sp
from _sympy_draws import too_big_to_fold
from hypothesis import example, given, settings
from hypothesis import strategies as st

from synth import PolicyError, SymbolicPolicy

Y = [sp.Symbol(n, real=True) for n in ("y0", "y1")]
Z = [sp.Symbol(n, real=True) for n in ("z0", "z1")]
U = [sp.Symbol("u", real=True)]
R = [sp.Symbol("r", real=True)]

finite_floats = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)
constants = st.one_of(
    finite_floats.map(sp.Float),
    st.integers(-50, 50).map(sp.Integer),
    st.tuples(st.integers(-9, 9), st.integers(1, 9)).map(lambda t: sp.Rational(*t)),
    st.sampled_from([sp.pi, sp.E]),
)
UNARY = [sp.sin, sp.cos, sp.exp, sp.log, sp.sqrt, sp.tanh, sp.Abs]
BINARY = [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / b, sp.Max, sp.Min]


def _apply(fn, *args):
    """sympy refuses some constructions (Max of zoo, ...): keep the first argument then, and for
    sin/cos/exp of a huge number (`too_big_to_fold`)."""
    if fn in (sp.sin, sp.cos, sp.exp) and too_big_to_fold(args[0]):
        return args[0]
    try:
        return fn(*args)
    except (ValueError, TypeError, ZeroDivisionError):
        return args[0]


def expressions(leaves):
    return st.recursive(
        st.one_of(st.sampled_from(leaves), constants),
        lambda inner: st.one_of(
            st.tuples(st.sampled_from(UNARY), inner).map(lambda t: _apply(t[0], t[1])),
            st.tuples(st.sampled_from(BINARY), inner, inner).map(lambda t: _apply(t[0], t[1], t[2])),
            st.tuples(inner, st.integers(-3, 4)).map(lambda t: _apply(lambda a, n: a**n, t[0], t[1])),
        ),
        max_leaves=10,
    )


@settings(max_examples=150, deadline=None)
@given(
    f0=expressions(Y + Z + U + R),
    f1=expressions(Y + Z + U + R),
    g0=expressions(Z + R),
    limit=st.floats(0.1, 100.0),
    integrator=st.sampled_from(["euler", "rk4", "discrete"]),
)
# sympy builds sqrt(Abs(z0)**3) as sqrt(Abs(z0))*Abs(z0), which it would combine if built again.
@example(f0=Y[0], f1=Y[0], g0=sp.sqrt(sp.Abs(Z[0]) ** 3), limit=1.0, integrator="euler")
# sympy builds Abs(z1**3/z0) as z1**2*Abs(z1)*Abs(1/z0), factors in another order than a fresh build.
@example(f0=Y[0], f1=Y[0], g0=sp.Abs(Z[1] ** 3 / Z[0]) * sp.Float(1.0), limit=1.0, integrator="euler")
def test_policy_json_round_trip_is_exact(f0, f1, g0, limit, integrator):
    pol = SymbolicPolicy(
        observations=("y0", "y1"),
        targets=("r",),
        latent=("z0", "z1"),
        controls=("u",),
        f=(f0, f1),
        g=(g0,),
        dt=0.02,
        integrator=integrator,
        input_limits=((-limit, math.inf),),
        latent_init=(0.5, -1e-300),
        provenance={"task": "test", "cost": 1.25, "seed": 3},
    )
    text = pol.to_json()
    back = SymbolicPolicy.from_json(text)
    assert back == pol
    for a, b in zip(pol.f + pol.g, back.f + back.g):
        assert sp.srepr(a) == sp.srepr(b)
    assert back.digest() == pol.digest()
    assert back.to_json() == text
    json.loads(text)  # plain JSON, no NaN or Infinity tokens
    assert "Infinity" not in text and "NaN" not in text


def test_reference_step_follows_the_contract():
    y0, z0, u, r = sp.symbols("y0 z0 u r", real=True)
    pol = SymbolicPolicy(
        observations=("y0",),
        targets=("r",),
        latent=("z0",),
        controls=("u",),
        f=(-z0 + y0 + u,),
        g=(3.0 * (r - z0),),
        dt=0.1,
        integrator="euler",
        input_limits=((-1.0, 1.0),),
    )
    ref = pol.reference()
    u_k, z_next = ref.step(np.array([0.2]), np.array([1.0]), np.array([0.0]))
    assert u_k[0] == pytest.approx(-0.6, rel=1e-15)  # readout from the latent state before the update, saturation inactive
    assert z_next[0] == pytest.approx(0.2 + 0.1 * (-0.2 + 1.0 - 0.6))
    u_k, _ = ref.step(np.array([-5.0]), np.array([1.0]), np.array([0.0]))
    assert u_k[0] == 1.0  # saturated


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(f=(), g=(sp.Symbol("y0", real=True),), latent=("z0",)), r"0 latent expressions f for 1 latent states"),
        (dict(f=(sp.Symbol("q", real=True),), g=(sp.Integer(0),), latent=("z0",)), r"f\[0\] \(z0\) uses q, not inputs of f"),
        (
            dict(f=(sp.Integer(0),), g=(sp.Symbol("y0", real=True),), latent=("z0",)),
            r"a readout sees only latent states and targets",
        ),
        (dict(f=(), g=(sp.Integer(0),), integrator="heun"), r"integrator 'heun' is not valid; use one of euler, rk4, discrete"),
        (dict(f=(), g=(sp.Integer(0),), dt=0.0), r"dt 0.0 must be a positive number of seconds"),
    ],
)
def test_inconsistent_policies_are_refused(kwargs, message):
    base = dict(observations=("y0",), targets=("r",), latent=(), controls=("u",), f=(), g=(sp.Integer(0),), dt=0.1)
    with pytest.raises(PolicyError, match=message):
        SymbolicPolicy(**{**base, **kwargs})


def test_unreadable_policy_file_is_named(tmp_path):
    path = tmp_path / "policy.json"
    path.write_text('{"schema": "symctl.policy", "schema_version": 99}')
    with pytest.raises(PolicyError, match=r"policy.json: schema_version 99 is not supported; this symctl reads 1"):
        SymbolicPolicy.load(path)
    path.write_text("{not json")
    with pytest.raises(PolicyError, match=r"policy.json: not valid JSON"):
        SymbolicPolicy.load(path)
