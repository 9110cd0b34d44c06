"""GP trees: encoding round trip, validity under every variation operator, interpreter = sympy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import plants
from synth.gp._config import gp_config, make_layout
from synth.gp._interpret import evaluate_tree, prepare
from synth.gp._trees import NotEncodable, Tokens, check_tree, from_sympy, is_valid, to_sympy
from synth.gp._variation import CROSSOVER_KINDS, MUTATION_KINDS, Breeder, depth, from_arrays, to_arrays


def _setup(task_name="acrobot/noisy", method="gp-d"):
    task = plants.get_task(task_name)
    cfg = gp_config(task, "quick", method=method)
    lay = make_layout(task, method, cfg.latent)
    tok = Tokens(tuple(cfg.operators), tuple(cfg.operators.values()), lay.n_in, cfg.max_nodes, cfg.max_depth)
    return task, cfg, lay, tok, Breeder(tok, lay.allowed, cfg)


TASK, CFG, LAY, TOK, BREEDER = _setup()


def _individual(seed):
    rng = np.random.default_rng(seed)
    return rng, BREEDER.individual(rng, seed)


def test_layout_inputs():
    # GP-D: f reads y, z, u, r; g reads z, r only. GP-S: g reads y, r.
    assert LAY.allowed[0].all()
    g = LAY.allowed[LAY.nz]
    assert not g[: LAY.ny].any() and g[LAY.ny : LAY.ny + LAY.nz].all() and not g[LAY.ny + LAY.nz : LAY.ny + LAY.nz + LAY.nu].any()
    _, _, lay_s, _, _ = _setup("sho/noisy", "gp-s")
    assert lay_s.n_trees == 1 and lay_s.allowed[0, : lay_s.ny].all()


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_random_trees_are_valid_and_round_trip(seed):
    _, ind = _individual(seed)
    for t, tree in enumerate(ind):
        code, const = to_arrays(TOK, tree, np.float64)
        assert check_tree(TOK, code)
        assert from_arrays(code, const) == tree
        expr = to_sympy(TOK, LAY.names, code, const)
        try:
            code2, const2 = from_sympy(TOK, LAY.names, LAY.allowed[t], expr, np.float64)
        except NotEncodable:  # sympy's own evaluation made it larger than the budget, or x/0 -> zoo
            continue
        expr2 = to_sympy(TOK, LAY.names, code2, const2)
        assert check_tree(TOK, code2)
        syms = [plants.symbol(n) for n in LAY.names]
        f = plants.lower([expr, expr2], [syms], "numpy")
        x = np.random.default_rng(seed).normal(size=LAY.n_in)
        v1, v2 = (float(np.asarray(v, float)) for v in f(x))
        if np.isfinite(v1):
            assert v2 == pytest.approx(v1, rel=1e-9, abs=1e-9), (expr, expr2)


def test_most_trees_survive_the_sympy_round_trip():
    ok = total = 0
    for seed in range(100):
        _, ind = _individual(seed)
        for t, tree in enumerate(ind):
            code, const = to_arrays(TOK, tree, np.float64)
            total += 1
            try:
                from_sympy(TOK, LAY.names, LAY.allowed[t], to_sympy(TOK, LAY.names, code, const), np.float64)
                ok += 1
            except NotEncodable:
                pass
    assert ok >= 0.9 * total


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(0, 2**31 - 1))
def test_variation_keeps_trees_valid(seed_a, seed_b):
    rng, a = _individual(seed_a)
    _, b = _individual(seed_b)
    for t in range(len(a)):
        for kind in MUTATION_KINDS:
            m = BREEDER.mutate(rng, a[t], t, kind)
            code, _ = to_arrays(TOK, m, np.float64)
            assert check_tree(TOK, code), (kind, m)
            assert len(m) <= TOK.max_nodes and depth(TOK, m) <= TOK.max_depth
            used = {c - TOK.n_f for c, _ in m if TOK.n_f <= c < TOK.const_code}
            assert all(LAY.allowed[t][v] for v in used), (kind, "reads an input this tree may not")
        for kind in CROSSOVER_KINDS:
            ca, cb = BREEDER.crossover(rng, a[t], b[t], kind)
            for c in (ca, cb):
                assert check_tree(TOK, to_arrays(TOK, c, np.float64)[0]), kind
    ca, cb = BREEDER.offspring(rng, a, b, 0.5)
    assert len(ca) == len(cb) == len(a)


def test_jax_validity_agrees_with_host():
    codes = []
    for seed in range(20):
        _, ind = _individual(seed)
        codes += [to_arrays(TOK, tree, np.float64)[0] for tree in ind]
    bad = codes[0].copy()
    bad[TOK.max_nodes - 1] = 0  # a dangling operator after the padding
    codes.append(bad)
    got = np.asarray(jax.jit(jax.vmap(lambda c: is_valid(TOK, c)))(jnp.asarray(np.stack(codes))))
    want = np.array([check_tree(TOK, c) for c in codes])
    assert (got == want).all() and not want[-1]


def test_interpreter_equals_sympy():
    rng = np.random.default_rng(0)
    inds = [BREEDER.individual(rng, i) for i in range(24)]
    T = LAY.n_trees
    code = np.zeros((len(inds), T, TOK.max_nodes), np.int32)
    const = np.zeros((len(inds), T, TOK.max_nodes))
    for i, ind in enumerate(inds):
        for t, tree in enumerate(ind):
            code[i, t], const[i, t] = to_arrays(TOK, tree, np.float64)
    x = rng.normal(size=(len(inds), LAY.n_in)) * 2

    def ev(c, k, xi):
        p = prepare(TOK, c, k)
        return jnp.stack([evaluate_tree(TOK, p, t, xi) for t in range(T)])

    got = np.asarray(jax.jit(jax.vmap(ev))(jnp.asarray(code), jnp.asarray(const), jnp.asarray(x)))
    syms = [plants.symbol(n) for n in LAY.names]
    checked = 0
    for i in range(len(inds)):
        for t in range(T):
            expr = to_sympy(TOK, LAY.names, code[i, t], const[i, t])
            f = plants.lower([expr], [syms], "numpy")
            want = float(np.asarray(f(x[i])[0], float))
            if np.isfinite(want):
                assert got[i, t] == pytest.approx(want, rel=1e-9, abs=1e-9), str(expr)
                checked += 1
            else:
                assert not np.isfinite(got[i, t]) or np.isnan(want)
    assert checked > 0.8 * len(inds) * T
