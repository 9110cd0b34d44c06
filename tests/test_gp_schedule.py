"""Gain-scheduled observer seeds (`synth/gp/_schedule.py`): recognising an observer-based seed
policy, its observer written with the plant's exact model, bounded gains within the tree budget."""

import numpy as np
import sympy as sp

import plants
from plants import symbol
from synth import SymbolicPolicy
from synth.gp import gp_config
from synth.gp._context import context
from synth.gp._schedule import observer_gains, scheduled_seeds
from validation import lqg
from validation.lqg import design

SMALL = dict(
    population=8,
    islands=2,
    train_trajectories=4,
    validation_trajectories=8,
    elite=1,
    migration_size=1,
    linear_seeds=0,
    seed_steps=5,
    polish_top=0,
)


def _ctx(task, **kw):
    return context(gp_config(task, "quick", method="gp-d", **{**SMALL, **kw}))


def _gain_at(expr, y, z, value):
    """d expr / d y where the measurement equals its prediction (y = z = value): the gain on the
    innovation `y - z` of a tree `model + G(s) (y - z)`."""
    return float(sp.diff(expr, y).subs({y: value, z: value}))


def test_the_lqg_observer_is_recognised_and_its_gain_scheduled_within_the_tree_budget():
    task = plants.get_task("sho/partial")
    ctx = _ctx(task)
    ss = lqg(task, "lqg-ss")
    A, B, C, L, Fr, f0 = observer_gains(ctx, ss)
    np.testing.assert_array_equal(A, [[0.0, 1.0], [-1.0, 0.0]])
    np.testing.assert_array_equal(B, [[0.0], [1.0]])
    np.testing.assert_array_equal(C, [[1.0, 0.0]])
    np.testing.assert_allclose(L, design(task).L / task.dt, rtol=1e-9)  # the predictor gain per second
    assert not Fr.any() and not f0.any()
    a1, a2, u, y = (symbol(n) for n in ("a1", "a2", "u", "y_x"))
    variants = scheduled_seeds(ctx, ss)
    signals = set()
    for exprs in variants:
        code, _ = ctx.encode(exprs)
        assert (code >= 0).sum(axis=1).max() <= ctx.config.max_nodes == 15
        signals |= {s for s in (y, a1, a2) if sp.Pow(s, 2) in sp.preorder_traversal(exprs[0])}
        assert sp.Pow(y, 2) in sp.preorder_traversal(exprs[0]) or any(
            sp.Pow(s, 2) in sp.preorder_traversal(exprs[0]) for s in (a1, a2)
        )
    assert signals == {y, a1, a2}  # a measurement and both state estimates
    for exprs in variants:
        f = exprs[0]
        if sp.Pow(y, 2) not in sp.preorder_traversal(f):
            continue
        # The plant's model, exactly: d(position)/dt = velocity estimate, with coefficient 1.
        assert sp.diff(f, a2) == 1 and sp.diff(f, u) == 0
        # The gain on the innovation is L where the measurement is 0 and grows to 2 L (bounded).
        assert np.isclose(_gain_at(f, y, a1, 0.0), L[0, 0], rtol=1e-6)
        assert np.isclose(_gain_at(f, y, a1, 1e4), 2 * L[0, 0], rtol=1e-6)
        assert _gain_at(f, y, a1, 1.0) < _gain_at(f, y, a1, 3.0) < 2 * L[0, 0]
        # The readout is the LQG's, in the run's latent names.
        renamed = ss.g[0].xreplace({symbol("xhat0"): a1, symbol("xhat1"): a2})
        assert sp.simplify(exprs[2] - renamed) == 0


def test_two_measurements_give_variants_for_every_scheduling_signal_each_within_budget():
    """sho/noisy: the position tree scheduled on either measurement or either estimate (15 nodes);
    with 17 nodes (the paper budget) the velocity tree too."""
    task = plants.get_task("sho/noisy")
    ss = lqg(task, "lqg-ss")
    y_x, y_v, a1, a2 = (symbol(n) for n in ("y_x", "y_v", "a1", "a2"))

    def scheduled_on(e):
        return {s for s in (y_x, y_v, a1, a2) if sp.Pow(s, 2) in sp.preorder_traversal(e)}

    for budget in (15, 17):
        ctx = _ctx(task, max_nodes=budget)
        variants = scheduled_seeds(ctx, ss)
        per_tree = [set(), set()]
        for exprs in variants:
            code, _ = ctx.encode(exprs)
            assert (code >= 0).sum(axis=1).max() <= budget
            for t in (0, 1):
                per_tree[t] |= scheduled_on(exprs[t])
        assert per_tree[0] == {y_x, y_v, a1, a2}
        assert per_tree[1] == (set() if budget == 15 else {y_x, y_v, a1, a2})


def test_a_controller_whose_latent_states_are_not_the_plant_states_gets_none():
    """The same LQG with its two latent states swapped is still a good controller, but its latent
    map is not the plant model plus innovation gains in these coordinates."""
    task = plants.get_task("sho/partial")
    ctx = _ctx(task)
    ss = lqg(task, "lqg-ss")
    x0, x1 = symbol("xhat0"), symbol("xhat1")
    swap = {x0: x1, x1: x0}
    swapped = SymbolicPolicy(
        observations=ss.observations,
        targets=ss.targets,
        latent=ss.latent,
        controls=ss.controls,
        f=(ss.f[1].xreplace(swap), ss.f[0].xreplace(swap)),
        g=(ss.g[0].xreplace(swap),),
        dt=ss.dt,
        integrator=ss.integrator,
    )
    assert observer_gains(ctx, swapped) is None and scheduled_seeds(ctx, swapped) == []
    assert scheduled_seeds(_ctx(task, latent=3), ss) == []


def _shape(e):
    x = sp.Symbol("_c")
    return sp.srepr(e.xreplace({c: x for c in e.atoms(sp.Float)}))


def test_the_scheduled_seeds_enter_generation_0_tuned(tmp_path):
    from synth.gp import init
    from synth.gp._runner import policy_of

    task = plants.get_task("sho/partial")
    ss = lqg(task, "lqg-ss")
    path = ss.save(tmp_path / "seed.json")
    shapes = {_shape(exprs[0]) for exprs in scheduled_seeds(_ctx(task), ss)}
    found = {}
    for on in (True, False):
        state = init(gp_config(task, "quick", method="gp-d", seed_policy=str(path), scheduled_seeds=on, **SMALL))
        ctx = context(state.config)
        code, const, cost = state.arrays["code"], state.arrays["const"], state.arrays["cost"]
        I, n = code.shape[:2]
        found[on] = [
            (i, j)
            for i in range(I)
            for j in range(n)
            if np.isfinite(cost[i, j]) and _shape(policy_of(ctx, code[i, j], const[i, j]).f[0]) in shapes
        ]
    assert found[True] and not found[False]
