"""GP runs: resume equals an uninterrupted run; run folder. (Runs on several devices: test_gp_devices.py.)"""

import csv
from pathlib import Path

import numpy as np
import pytest

import plants
from synth import SymbolicPolicy
from synth.gp import evolve, finish, gp_config

TINY = dict(
    population=8,
    islands=2,
    max_nodes=7,
    max_depth=4,
    init_depth=3,
    train_trajectories=4,
    validation_trajectories=8,
    elite=1,
    migration_size=1,
    migration_every=2,
    simplify_rate=(0.25, 0.25),
    const_every=2,
    const_top=2,
    tune_every=2,
    tune_steps=5,
    polish_steps=5,
    polish_trajectories=8,
    linear_seeds=2,
    seed_steps=5,
)


def _config(generations, **kw):
    return gp_config(plants.get_task("sho/partial"), "quick", method="gp-d", generations=generations, **{**TINY, **kw})


def _digest(state):
    return {k: np.asarray(v).tobytes().hex() for k, v in sorted(state.arrays.items())}


def test_resume_equals_uninterrupted(tmp_path):
    full = evolve(_config(3), tmp_path / "a")
    part = evolve(_config(1), tmp_path / "b")
    assert part.generation == 1
    resumed = evolve(_config(3), tmp_path / "b", resume=True)
    assert resumed.generation == 3
    assert _digest(resumed) == _digest(full)
    assert [r["best_cost"] for r in resumed.history] == [r["best_cost"] for r in full.history]
    policy, rows = finish(full, tmp_path / "a")
    assert (tmp_path / "a" / "policy.json").exists()
    assert SymbolicPolicy.load(tmp_path / "a").digest() == policy.digest()
    with open(tmp_path / "a" / "pareto.csv") as fh:
        pareto = list(csv.DictReader(fh))
    assert len(pareto) == len(rows) >= 1 and sum(int(r["chosen"]) for r in pareto) == 1
    chosen = [r for r in pareto if r["chosen"] == "1"][0]
    assert float(chosen["validation_cost"]) == min(float(r["validation_cost"]) for r in pareto)
    with open(tmp_path / "a" / "history.csv") as fh:
        hist = list(csv.DictReader(fh))
    assert [int(h["generation"]) for h in hist] == [0, 1, 2, 3]
    assert all(int(h["non_finite"]) >= 0 for h in hist)


def test_non_finite_gets_worst_cost_and_is_counted():
    from synth.gp._context import _assess, context

    ctx = context(_config(1))
    tok, lay = ctx.tok, ctx.layout
    T, L = lay.n_trees, tok.max_nodes
    code = np.full((1, 2, T, L), -1, np.int32)
    const = np.zeros((1, 2, T, L), np.float32)
    y = tok.n_f + lay.names.index("y_x")
    div, sub = tok.funcs.index("div"), tok.funcs.index("sub")
    for i in range(2):
        for t in range(T):
            code[0, i, t, 0] = tok.const_code  # every tree a constant 0 ...
    code[0, 1, 0, :5] = [div, y, sub, y, y]  # ... except a latent derivative y / (y - y)
    cost, bad = _assess(ctx, code, const)
    assert np.isfinite(cost[0, 0]) and cost[0, 1] == np.inf and bad == 1


def test_held_out_scores_compare_candidates_that_lose_trajectories():
    from synth.gp._runner import held_out_scores

    inf, nan = np.inf, np.nan
    costs = np.array(
        [
            [1.0, 2.0, 3.0, inf],  # loses only the trajectory every candidate loses
            [1.0, 9.0, 3.0, nan],  # keeps everything the others keep, but worse
            [nan, 2.0, 1.0, inf],
        ]
    )  # loses the first, which the others keep at cost 1
    scores, lost = held_out_scores(costs)
    # the fourth trajectory, lost by all, is left out; a lost one costs the worst kept cost there
    assert np.allclose(scores, [2.0, 13 / 3, 4 / 3]) and list(lost) == [0, 0, 1]
    assert np.argmin(scores) == 2
    # nothing lost: the plain mean
    assert np.allclose(held_out_scores(np.array([[1.0, 3.0]]))[0], [2.0])
    # everything lost: no comparison possible, every score inf
    assert np.all(held_out_scores(np.full((2, 3), inf))[0] == inf)


def test_cli_rejects_latent_for_gp_s(tmp_path):
    from symctl.cli import main

    assert main(["synth", "sho/noisy", "--method", "gp-s", "--latent", "2", "--out", str(tmp_path / "x"), "--quiet"]) == 2


def test_selection_helpers():
    from synth.gp._select import crowding, duplicates, nondominated_rank, pareto_front, priority

    f = np.array([[1.0, 5], [2, 3], [3, 1], [3, 3], [4, 4]])
    rank = nondominated_rank(f)
    assert list(rank) == [0, 0, 0, 1, 2]
    d = crowding(f, rank)
    assert np.isinf(d[0]) and np.isinf(d[2]) and np.isfinite(d[1])
    assert set(pareto_front(np.array([1.0, 2, np.inf, 3]), np.array([5, 3, 1, 1]))) == {0, 1, 3}
    prio = priority(np.array([1.0, 2, 3, 3, 4]), np.array([5, 3, 1, 3, 4]), "nsga2", 0.0)
    assert sorted(prio[:3]) == [0, 1, 2]
    code = np.zeros((3, 1, 3), np.int32)
    const = np.zeros((3, 1, 3))
    const[2, 0, 0] = 1.0
    assert list(duplicates(code, const)) == [False, True, False]
    assert list(duplicates(code, const, np.array([1.0, 2.0, 1.0]))) == [False, False, True]


def test_behaviour_duplicates_tolerate_round_off_only():
    """Clones whose training costs differ in the last digits are duplicates; a real difference,
    a sign change or a non-finite cost is not."""
    from synth.gp._select import duplicates

    code = np.arange(7 * 3).reshape(7, 1, 3).astype(np.int32)  # all genotypes differ
    const = np.zeros((7, 1, 3))
    cost = np.array([0.5959, 0.5959 * (1 + 1e-7), 0.5959 * (1 + 1e-3), -0.5959, -0.5959 * (1 - 1e-8), np.inf, np.inf])
    assert list(duplicates(code, const, cost)) == [False, True, False, False, True, False, False]


def test_constant_tuning_lowers_the_training_cost_of_a_poor_gain():
    """Adam through the simulator tunes the float constants of a finished candidate: a readout
    with a far too weak gain gets a lower training cost, and only its constants change."""
    import sympy as sp

    from synth.gp._context import context
    from synth.gp._polish import tune_constants, validation_cost

    ctx = context(gp_config(plants.get_task("sho/noisy"), "quick", method="gp-s", **TINY))
    y, v, r = (sp.Symbol(n, real=True) for n in ("y_x", "y_v", "r"))
    weak = SymbolicPolicy(
        observations=("y_x", "y_v"),
        targets=("r",),
        latent=(),
        controls=("u",),
        f=(),
        g=(sp.Float(0.02) * (r - y) - sp.Float(0.02) * v + r,),
        dt=ctx.task.dt,
    )
    tuned, train = tune_constants(ctx, weak, steps=60, lr=0.05)
    before = validation_cost(ctx, weak, ctx.train)
    after = validation_cost(ctx, tuned, ctx.train)
    assert np.isclose(after, train, rtol=1e-3)
    assert after < 0.9 * before
    strip = lambda e: e.xreplace({a: sp.Float(1.0) for a in e.atoms(sp.Float)})  # noqa: E731
    assert strip(tuned.g[0]) == strip(weak.g[0]) and tuned.g[0] != weak.g[0]
    # on a training set of its own (the final polish's `polish_trajectories`): the cost is on that set
    from synth._runfolder import stream_key

    other = ctx.sim.scenarios(stream_key(5, "polish"), 8, dtype=ctx.dtype)
    tuned2, train2 = tune_constants(ctx, weak, steps=60, lr=0.05, scen=other)
    assert np.isclose(validation_cost(ctx, tuned2, other), train2, rtol=1e-3)
    assert tuned2.g[0] != tuned.g[0] and validation_cost(ctx, tuned2, other) < validation_cost(ctx, weak, other)
    # on fresh trajectories at every step (`polish_batch`): better on trajectories it never saw,
    # and the cost reported is the one on the fixed set
    tuned3, train3 = tune_constants(ctx, weak, steps=60, lr=0.05, fresh=(stream_key(5, "polish-batches"), 8))
    assert np.isclose(validation_cost(ctx, tuned3, ctx.train), train3, rtol=1e-3)
    assert validation_cost(ctx, tuned3, other) < 0.9 * validation_cost(ctx, weak, other)
    assert tuned3.g[0] not in (tuned.g[0], tuned2.g[0])


def test_linear_seeds_are_tuned_linear_controllers_that_fit_the_trees():
    """Generation-0 seeds: every tree a weighted sum of its inputs within the node budget (latent
    trees start from -1 * own state and read the observation), tuned below their starting cost."""
    import sympy as sp

    from synth.gp._context import context
    from synth.gp._polish import validation_cost
    from synth.gp._runner import policy_of
    from synth.gp._seeds import linear_seeds, seed_expressions
    from synth.gp._trees import check_tree

    ctx = context(
        gp_config(
            plants.get_task("sho/partial"), "quick", method="gp-d", **{**TINY, "max_nodes": 15, "max_depth": 7, "seed_steps": 60}
        )
    )
    a1, y = sp.Symbol("a1", real=True), sp.Symbol("y_x", real=True)
    exprs = seed_expressions(ctx, np.random.default_rng(3))
    assert len(exprs) == 3
    for e in exprs:
        assert sp.Poly(e, *sorted(e.free_symbols, key=str)).is_linear and len(e.args) <= 4
    assert exprs[0].coeff(a1) == -1.0 and exprs[0].coeff(y) != 0 and exprs[1].coeff(y) != 0
    code, const, cost = linear_seeds(ctx, np.random.default_rng(3), 1)
    assert code.shape == (1, 3, 15) and all(check_tree(ctx.tok, c) for c in code[0])
    before = validation_cost(ctx, policy_of(ctx, *ctx.encode(exprs)), ctx.train)
    after = validation_cost(ctx, policy_of(ctx, code[0], const[0]), ctx.train)
    assert np.isclose(after, cost[0], rtol=1e-3) and after < before


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
    import pytest

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
    import pytest
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
    import pytest

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


def test_candidates_are_trained_and_chosen_on_the_cost_at_every_tick():
    """By default GP's simulator evaluates the task's cost at every control tick (the SHO's grid
    is every 10th tick); `cost_every_tick = false` keeps the task's grid."""
    from synth.gp._context import context

    task = plants.get_task("sho/partial")
    assert task.cost.every == 10
    assert context(_config(1)).sim.task.cost.every == 1
    assert context(_config(1, cost_every_tick=False)).sim.task.cost.every == 10


def test_the_compiled_population_program_computes_each_tree_once_per_tick():
    """XLA's CPU compiler would fuse a copy of a tree into each of its users (cost, plant, checks,
    other trees); `compute_once` keeps one. Counted in the compiled program: its selects are those
    of the trees evaluated once, plus a few of the simulator's own, not three to five times as many."""
    import re

    import jax
    import jax.numpy as jnp

    from synth.gp._context import Context
    from synth.gp._interpret import evaluate_tree, prepare

    if jax.default_backend() != "cpu":
        import pytest

        pytest.skip("the conditional is used on the CPU only")
    ctx = Context(_config(1))
    code, const = ctx.random_population(np.random.default_rng(0), ctx.rows)
    code, const = jnp.asarray(code), jnp.asarray(const)

    def selects(fn, *args):
        return len(re.findall(r" select\(", jax.jit(fn).lower(*args).compile().as_text()))

    n_in = ctx.layout.n_in
    trees_once = selects(
        lambda c, k, x: jax.vmap(
            lambda c1, k1, x1: jnp.stack(
                [evaluate_tree(ctx.tok, prepare(ctx.tok, c1, k1), t, x1) for t in range(ctx.layout.n_trees)]
            )
        )(c, k, x),
        code,
        const,
        jnp.ones((ctx.rows, n_in), jnp.float32),
    )
    program = selects(lambda c, k, s, live: ctx._evaluate_impl(c, k, s, live), code, const, ctx.train, np.bool_(True))
    assert program < 1.5 * trees_once, (program, trees_once)


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


def test_the_readme_example_calls_run_as_it_is_declared(tmp_path, monkeypatch):
    """synth/gp/README.md's Python example runs `synth.gp.run` as written, up to where the
    evolution starts (the run itself takes minutes): its call fits the signature, its options pass
    the method's check, and the resolved settings are the ones it gives."""
    import re

    text = (Path(__file__).resolve().parents[1] / "synth" / "gp" / "README.md").read_text(encoding="utf-8")
    (code,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)

    class Started(Exception):
        pass

    seen = {}

    def stop(config, out=None, **kwargs):
        seen["config"], seen["out"] = config, out
        raise Started

    monkeypatch.setattr("synth.gp._runner.evolve", stop)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Started):
        exec(compile(code, "synth/gp/README.md", "exec"), {})
    cfg = seen["config"]
    assert (cfg.method, cfg.seed, cfg.generations, cfg.population, cfg.islands) == ("gp-d", 0, 3, 40, 1)
    assert Path(seen["out"]).resolve() == (tmp_path / "runs" / "sho-partial-gp").resolve()
