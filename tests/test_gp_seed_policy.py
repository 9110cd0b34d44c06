"""GP-D's seed policy: fitted to the run's trees without changing it, refused with the reason
when it cannot start the run, tuned within a simulation budget, kept as a candidate, and checked
on resume. (Runs themselves: test_gp_run.py.)"""

from pathlib import Path

import numpy as np
import pytest
from _gp_tiny import TINY

import plants
from synth import SymbolicPolicy
from synth.gp import finish, gp_config


def _fitted(task_name):
    from synth.gp._context import context
    from synth.gp._runner import policy_of
    from synth.gp._seeds import fitted_seed
    from validation import lqg

    task = plants.get_task(task_name)
    ctx = context(gp_config(task, "quick", method="gp-d", **{**TINY, "max_nodes": 15, "max_depth": 7}))
    ss = lqg(task, "lqg-ss")
    return ss, policy_of(ctx, *fitted_seed(ctx, ss, "lqg-ss"))


def test_a_linear_seed_policy_is_fitted_to_trees_without_changing_it():
    """sho/partial's steady-state LQG in GP-D trees (control substituted, Euler form, float32
    constants): the same controls as the LQG itself on the same observations and target."""
    ss, fitted = _fitted("sho/partial")
    assert all(len(sp_e.args) <= 4 for sp_e in (*fitted.f, *fitted.g))
    ys = np.random.default_rng(0).normal(0.0, 2.0, size=(300, 1))
    u_ss, _ = ss.run_reference(ys, [1.3])
    u_fit, _ = fitted.run_reference(ys, [1.3])
    assert np.abs(u_ss).max() > 0.5
    np.testing.assert_allclose(u_fit, u_ss, rtol=1e-4, atol=1e-5)


def test_a_seed_policy_whose_targets_do_not_fit_has_them_moved_to_the_readout():
    """sho/noisy (two observations): the target leaves the latent trees; for a constant target the
    controls differ from the LQG's only by a transient from the shifted initial estimate."""
    import sympy as sp

    ss, fitted = _fitted("sho/noisy")
    r = sp.Symbol("r", real=True)
    assert all(r not in e.free_symbols for e in fitted.f) and r in fitted.g[0].free_symbols
    ys = np.random.default_rng(1).normal(0.0, 2.0, size=(1500, 2))
    u_ss, _ = ss.run_reference(ys, [2.0])
    u_fit, _ = fitted.run_reference(ys, [2.0])
    gap = np.abs(u_fit - u_ss)[:, 0]
    assert gap[0] > 1e-2
    assert gap[-100:].max() < 1e-4 * gap[0]


def test_a_seed_policy_that_cannot_start_the_run_is_refused_with_the_reason():

    from synth.gp._context import context
    from synth.gp._seeds import SeedPolicyError, fitted_seed
    from validation import lqg

    task = plants.get_task("sho/partial")
    ctx1 = context(gp_config(task, "quick", method="gp-d", latent=1, **{**TINY, "max_nodes": 15, "max_depth": 7}))
    with pytest.raises(SeedPolicyError, match="it has 2 latent states, the run has 1"):
        fitted_seed(ctx1, lqg(task, "lqg-ss"), "lqg-ss")
    ctx = context(gp_config(task, "quick", method="gp-d", **{**TINY, "max_nodes": 15, "max_depth": 7}))
    ss = lqg(task, "lqg-ss")
    curved = SymbolicPolicy(
        **{
            **{k: getattr(ss, k) for k in ("observations", "targets", "latent", "controls", "dt", "integrator")},
            "f": (ss.f[0] * ss.z[1], ss.f[1]),
            "g": ss.g,
        }
    )
    with pytest.raises(SeedPolicyError, match="my.json: its latent map is not linear in"):
        fitted_seed(ctx, curved, "my.json")
    small = context(gp_config(task, "quick", method="gp-d", **TINY))  # 7 nodes: one term per tree
    with pytest.raises(SeedPolicyError, match="terms; at most 2 fit in a tree"):
        fitted_seed(small, ss, "lqg-ss")


def test_a_seed_policy_in_tree_form_starts_the_run_as_it_is_even_when_nonlinear():
    """An earlier GP-D result (Euler steps, the run's inputs, other latent names, a nonlinear gain)
    is taken as it is: the same controls; one whose expressions exceed the trees is refused, naming
    both reasons."""
    import sympy as sp

    from plants import symbol
    from synth.gp._context import context
    from synth.gp._runner import policy_of
    from synth.gp._seeds import SeedPolicyError, fitted_seed

    task = plants.get_task("sho/partial")
    ctx = context(gp_config(task, "quick", method="gp-d", **{**TINY, "max_nodes": 15, "max_depth": 7}))
    p, q, u, r, y = (symbol(n) for n in ("p", "q", "u", "r", "y_x"))
    e = y - p
    mine = SymbolicPolicy(
        observations=("y_x",),
        targets=("r",),
        latent=("p", "q"),
        controls=("u",),
        dt=task.dt,
        integrator="euler",
        f=(q + e * (sp.Float(1.5) + e * e), u - p + sp.Float(0.5) * e),
        g=(sp.Float(1.4) * r - sp.Float(0.4) * p - sp.Float(0.9) * q,),
    )
    seeded = policy_of(ctx, *fitted_seed(ctx, mine, "mine.json"))
    ys = np.random.default_rng(2).normal(0.0, 1.0, size=(200, 1))
    u_mine, _ = mine.run_reference(ys, [0.7])
    u_seed, _ = seeded.run_reference(ys, [0.7])
    assert np.abs(u_mine).max() > 0.5
    np.testing.assert_allclose(u_seed, u_mine, rtol=1e-4, atol=1e-5)
    big = SymbolicPolicy(
        **{
            **{k: getattr(mine, k) for k in ("observations", "targets", "latent", "controls", "dt", "integrator", "g")},
            "f": (mine.f[0] + e * e * e * e, mine.f[1]),
        }
    )
    with pytest.raises(
        SeedPolicyError, match="big.json: its latent map is not linear in .*; nor do its own expressions fit the trees"
    ):
        fitted_seed(ctx, big, "big.json")


def test_a_run_starts_from_its_seed_policy_and_keeps_it_as_a_candidate(tmp_path):
    """The seed policy, tuned, is in generation 0 (better than every random individual), stays in
    the state, and is one of the final candidates."""
    from synth.gp import init
    from synth.gp._context import context
    from synth.gp._seeds import fitted_seed
    from validation import lqg

    task = plants.get_task("sho/partial")
    ss = lqg(task, "lqg-ss")
    path = ss.save(tmp_path / "seed.json")
    config = gp_config(
        task,
        "quick",
        method="gp-d",
        seed_policy=str(path),
        scheduled_seeds=False,
        **{**TINY, "max_nodes": 15, "max_depth": 7, "linear_seeds": 0, "seed_steps": 30, "polish_top": 0},
    )
    state = init(config)
    a = state.arrays
    I, n = a["cost"].shape
    assert np.array_equal(a["code"][0, n - 1], a["seed_code"]) and a["cost"][0, n - 1] == a["seed_cost"]
    others = np.delete(a["cost"].reshape(-1), n - 1)
    assert a["seed_cost"] < others.min()
    assert not np.array_equal(a["seed_const"], fitted_seed(context(config), ss, "lqg-ss")[1])  # tuned
    _, rows = finish(state)
    assert any(r["train_cost"] == float(a["seed_cost"]) for r in rows)


def test_seed_tuning_is_capped_by_simulation_cost():
    """A plant with 20 substeps per tick gets fewer seed-tuning steps than one with 1."""
    from synth.gp._seeds import seed_steps

    sho, cstr = plants.get_task("sho/partial"), plants.get_task("cstr/varying")
    assert seed_steps(gp_config(sho, "quick", method="gp-d"), sho) == 400
    assert seed_steps(gp_config(cstr, "quick", method="gp-d"), cstr) == int(2.5e7 // (24 * 1500 * 20)) == 34
    assert seed_steps(gp_config(cstr, "quick", method="gp-d", seed_budget=0), cstr) == 400


def test_resume_refuses_a_different_seed_policy(tmp_path):
    """The run folder keeps the seed it started from; resuming with another one is an error, with
    the same one it is accepted; without LQG-compatible options nothing is written."""

    from plants import UserInputError
    from symctl._methods import _seed_policy
    from validation import lqg

    task = plants.get_task("sho/partial")
    first, fit = _seed_policy(task, tmp_path / "run", None, "quick", {})
    assert first == tmp_path / "run" / "seed_policy.json" and fit == {}  # sho's LQG fits the default trees
    assert _seed_policy(task, tmp_path / "run", "lqg", "quick", {}, resume=True) == (first, fit)
    mine = lqg(task, "lqg-ss")
    changed = SymbolicPolicy(
        **{
            **{
                k: getattr(mine, k)
                for k in ("observations", "targets", "latent", "controls", "f", "dt", "integrator", "latent_init")
            },
            "g": (mine.g[0] * 1.5,),
        }
    )
    path = changed.save(tmp_path / "mine.json")
    with pytest.raises(UserInputError, match="started from another seed policy"):
        _seed_policy(task, tmp_path / "run", str(path), "quick", {}, resume=True)
    assert _seed_policy(task, tmp_path / "none", "none", "quick", {}) == (None, {}) and not (tmp_path / "none").exists()


def test_a_fourth_order_lqg_seed_gets_its_latent_size_and_a_node_budget_that_holds_it():
    """The steady-state LQG of a 4-state plant measured at one point has four latent states and
    dense rows; the run takes its latent size, rewrites it in modal coordinates (two latent states
    per row at most) and raises the node budget to the smallest that holds its widest row. The
    fitted trees are the same controller: equal control on a random input sequence."""
    import numpy as np

    from symctl._methods import _fitting_settings
    from synth.gp._config import gp_config
    from synth.gp._context import context
    from synth.gp._seeds import fit_linear, tree_terms
    from validation import lqg

    task = plants.get_task(str(Path(__file__).parent / "data" / "two_mass.toml"))
    seed = lqg(task, "lqg-ss")
    fit = _fitting_settings(task, seed, "lqg", "quick", {})
    assert fit["latent"] == 4 and fit["max_nodes"] > gp_config(task, "quick").max_nodes
    ctx = context(gp_config(task, "quick", method="gp-d", **fit))
    exprs = fit_linear(seed, ctx.layout, task.dt, tree_terms(ctx.config))
    fitted = SymbolicPolicy(
        observations=seed.observations,
        targets=seed.targets,
        latent=ctx.layout.names[1:5],
        controls=seed.controls,
        f=exprs[:4],
        g=exprs[4:],
        dt=task.dt,
        integrator="euler",
    )
    ys = 0.05 * np.random.default_rng(0).standard_normal((200, 1))  # small: no input saturation
    ua, _ = seed.run_reference(ys, np.array([0.0]))  # at r = 0 the shift that moves target terms is zero
    ub, _ = fitted.run_reference(ys, np.array([0.0]))
    assert np.allclose(ua, ub, rtol=1e-8, atol=1e-10)


def test_a_seed_with_fewer_latent_states_than_the_run_is_padded_with_unused_filters():
    """sho's LQG (2 latent states) starts a 3-latent run: the extra state is a first-order filter
    that nothing reads, so the fitted controller is the same controller."""
    from synth.gp._context import context
    from synth.gp._seeds import fitted_seed
    from validation import lqg

    task = plants.get_task("sho/partial")
    ctx = context(gp_config(task, "quick", method="gp-d", latent=3, **{**TINY, "max_nodes": 15, "max_depth": 7}))
    seed = lqg(task, "lqg-ss")
    from synth.gp._runner import policy_of

    fitted = policy_of(ctx, *fitted_seed(ctx, seed, "lqg-ss"))
    assert fitted.nz == 3
    ys = np.random.default_rng(1).standard_normal((100, 1))
    # the run's constants are float32 unless x64 is on: equal to float32 round-off
    assert np.allclose(
        seed.run_reference(ys, np.array([0.5]))[0], fitted.run_reference(ys, np.array([0.5]))[0], rtol=1e-6, atol=1e-7
    )
