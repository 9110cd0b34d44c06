"""GP runs: resume equals an uninterrupted run; run folder. (Seed policies: test_gp_seed_policy.py; runs on several devices: test_gp_devices.py.)"""

import csv
from pathlib import Path

import numpy as np
import pytest
from _gp_tiny import TINY

import plants
from synth import SymbolicPolicy
from synth.gp import evolve, finish, gp_config


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
