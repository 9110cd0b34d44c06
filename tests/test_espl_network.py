"""ESPL network: the JAX forward pass and the sympy extraction compute the same function."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp

from plants import lower, symbol
from synth.espl import DEFAULT_LAYOUT, PAPER_LAYOUT, Network, forward, init_params, sample_masks, to_sympy
from synth.espl._network import LayoutError, deterministic_masks


def _random_params(net, seed, spread=1.5):
    params = init_params(net, jax.random.key(seed), jnp.float64)
    keys = jax.random.split(jax.random.key(seed + 1), 2 * len(params["W"]))
    params["W"] = [spread * jax.random.normal(k, w.shape, jnp.float64) for k, w in zip(keys[::2], params["W"])]
    params["b"] = [spread * jax.random.normal(k, b.shape, jnp.float64) for k, b in zip(keys[1::2], params["b"])]
    return params


def test_paper_layout_has_the_papers_size():
    assert set(op for layer in PAPER_LAYOUT for op in layer) == {"mul", "div", "log", "exp", "sin", "cos"}
    assert sum(len(layer) for layer in PAPER_LAYOUT) == 30
    for d in (2, 3, 4, 8, 24):  # 41 d + 496 paths per output, as in the paper's networks
        assert Network(d, 1, PAPER_LAYOUT).n_paths == 41 * d + 496


def test_default_layout_needs_no_guard():
    # The default layout uses only operators without a guard, so no Max/Min can reach the export.
    from synth.espl._network import GUARDS

    ops = {op for layer in DEFAULT_LAYOUT for op in layer}
    assert ops == {"mul", "sin", "cos", "tanh"} and not ops & set(GUARDS)
    assert Network(3, 1).n_paths == 116  # pendulum: 6*3 + 6*6 + 4*12 + 14 (dense widths 3, 6, 12, 14)


@pytest.mark.parametrize("seed", [0, 1])
def test_all_paths_network_equals_its_sympy_extraction(seed):
    # Every operator of the paper's layout, in fewer layers (sympy builds deep nests of log slowly).
    layout = (("mul", "mul", "div"), ("log", "exp", "sin", "cos"), ("mul", "div", "log", "exp"))
    net = Network(3, 2, layout, shift=(0.5, 0.0, -1.0), scale=(2.0, 1.0, 0.25), lo=(-2.0, -math.inf), hi=(2.0, math.inf))
    params = _random_params(net, seed)
    masks = [jnp.ones_like(p) for p in params["p"]]
    syms = [symbol(n) for n in ("a", "b", "c")]
    exprs = to_sympy(net, params, masks, syms, drop=0.0)
    fn = lower(exprs, [syms], "numpy")
    xs = np.random.default_rng(seed).normal(size=(50, 3)) * 3.0
    want = np.array(jax.vmap(lambda x: forward(net, params, masks, x)[0])(jnp.asarray(xs)))
    got = np.stack([np.asarray(v, float) * np.ones(len(xs)) for v in fn(xs)], axis=-1)
    assert np.all(np.isfinite(want))
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    # Bounded output: squashed into its limits by hi * tanh, part of the expression.
    assert np.all(np.abs(got[:, 0]) <= 2.0)
    assert any(isinstance(a, sp.tanh) for a in sp.Mul.make_args(exprs[0]))


def test_masked_paths_are_absent_from_the_expression():
    net = Network(2, 1, (("mul",), ("sin", "log")))
    params = _random_params(net, 3)
    params["p"] = [jnp.zeros_like(p) for p in params["p"]]
    masks = deterministic_masks(params)
    (e,) = to_sympy(net, params, masks, [symbol("a"), symbol("b")])
    assert e.free_symbols == set() and e.is_Number
    v, _ = forward(net, params, masks, jnp.array([0.3, -0.7]))
    assert float(v[0]) == pytest.approx(float(e), rel=1e-12)


def test_masks_are_hard_with_straight_through_gradient():
    net = Network(2, 1, (("mul",), ("sin",)))
    params = init_params(net, jax.random.key(0), jnp.float64)
    params["p"] = [jnp.full_like(p, 0.5) for p in params["p"]]
    masks = sample_masks(params, jax.random.key(1), 0.5)
    for m in masks:
        assert set(np.unique(np.asarray(m))) <= {0.0, 1.0}

    def total(p):
        return sum(jnp.sum(m) for m in sample_masks({**params, "p": p}, jax.random.key(1), 0.5))

    g = jax.grad(total)(params["p"])
    assert all(bool(jnp.all(jnp.isfinite(x))) and float(jnp.sum(x)) > 0 for x in g)


def test_guards_keep_operators_finite_and_hinge_measures_violation():
    net = Network(1, 1, (("div", "log", "exp"),))
    params = init_params(net, jax.random.key(0), jnp.float64)
    params["W"] = [jnp.ones_like(w) for w in params["W"]]
    params["b"] = [jnp.zeros_like(b) for b in params["b"]]
    masks = [jnp.ones_like(p) for p in params["p"]]
    out, viol = forward(net, params, masks, jnp.array([-50.0]), with_violation=True)
    assert bool(jnp.all(jnp.isfinite(out)))
    assert float(viol) > 0  # negative denominator and log argument
    _, ok = forward(net, params, masks, jnp.array([2.0]), with_violation=True)
    assert float(ok) == 0.0


def test_unknown_layout_operator_is_a_user_error():
    with pytest.raises(LayoutError, match="atan"):
        Network(2, 1, (("atan",),))
