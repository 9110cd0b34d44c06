"""LQG: the reference every ratio is taken against must be the optimum, not just a controller."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import plants
from plants import ModelError
from synth import Simulator, compile_policy
from synth._runfolder import stream_key
from validation import LQGError, closed_loop_matrix, design, lqg, oracle, oracle_where_possible, policy_from_design, run_oracle


@pytest.fixture(scope="module")
def sho():
    return plants.get_task("sho/noisy")


def _perturbations(rng, shape, count):
    """Elementwise factors drawn from [0.5, 0.75] U [1.33, 2.0]."""
    lows = rng.uniform(0.5, 0.75, size=(count, *shape))
    highs = rng.uniform(1.33, 2.0, size=(count, *shape))
    return np.where(rng.random((count, *shape)) < 0.5, lows, highs)


@pytest.mark.parametrize("name", ["sho/noisy", "sho/partial"])
def test_lqg_is_not_beaten_by_steady_state_or_perturbed_versions(name):
    task = plants.get_task(name)
    d = design(task)
    n, ny, nu = task.plant.nx, task.ny, task.plant.nu
    rng = np.random.default_rng(7)
    k_factors = _perturbations(rng, (nu, n), 50)
    l_factors = _perturbations(rng, (n, ny), 50)
    ones_k, ones_l = np.ones((nu, n)), np.ones((n, ny))
    # The optimum and its 50 perturbations share one structure: one compiled program for all 51.
    policies = [policy_from_design(task, d, "lqg", ones_k, ones_l)]
    policies += [policy_from_design(task, d, "lqg", kf, lf) for kf, lf in zip(k_factors, l_factors)]
    compiled = [compile_policy(p, task) for p in policies]
    controller = compiled[0][0]
    assert all(c is controller for c, _ in compiled)
    params = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *[p for _, p in compiled])
    sim = Simulator(task)
    scen = sim.scenarios(stream_key(3, "test"), 200)
    costs = np.asarray(sim.run_population(controller, params, scen).cost)
    assert np.all(np.isfinite(costs))
    optimum = costs[0].mean()
    perturbed = costs[1:].mean(axis=1)
    assert optimum < perturbed.min(), f"a perturbed LQG beat the design: {optimum} vs {perturbed.min()}"
    steady = np.asarray(sim.simulate(lqg(task, "lqg-ss"), scen).cost).mean()
    assert optimum < steady
    # The unperturbed factors of 1.0 change nothing.
    plain = np.asarray(sim.simulate(lqg(task, "lqg"), scen).cost).mean()
    assert plain == pytest.approx(optimum, rel=1e-12)


def test_lqg_cost_has_the_magnitude_of_the_reference(sho):
    # The GP paper's LQG costs 0.330 on its own discretisation of sho/noisy (noise drawn per solver
    # stage, filter mismatched to it); ours draws one observation per tick and matches the filter to it.
    sim = Simulator(sho)
    cost = np.asarray(sim.simulate(lqg(sho, "lqg"), sim.scenarios(stream_key(0, "test"), 1000)).cost)
    assert 0.25 < cost.mean() < 0.42


@pytest.mark.parametrize("name", ["sho/noisy", "sho/partial", "cstr/varying", "cartpole/balance"])
@pytest.mark.parametrize("variant", ["lqg", "lqg-ss"])
def test_closed_loop_poles_are_the_separation_principle(name, variant):
    task = plants.get_task(name)
    d = design(task)
    policy = lqg(task, variant)
    M = closed_loop_matrix(task, policy, d)
    got = np.sort_complex(np.linalg.eigvals(M))
    expected = np.sort_complex(np.concatenate([np.linalg.eigvals(d.A_cl_state), np.linalg.eigvals(d.A_cl_estimator)]))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-8)
    assert np.max(np.abs(expected)) < 1.0


def test_lqg_policy_tracks_its_target(sho):
    sim = Simulator(sho)
    scen = sim.scenarios(stream_key(1, "test"), 16)
    res = sim.simulate(lqg(sho, "lqg"), scen, save=True)
    final = np.asarray(res.x[:, -1, 0])
    np.testing.assert_allclose(final, np.asarray(scen.r[:, 0]), atol=0.6)


def test_oracle_for_varying_parameters_beats_the_nominal_design():
    task = plants.get_task("sho/varying")
    sim = Simulator(task)
    scen = sim.scenarios(stream_key(2, "test"), 64)
    controller, params = oracle(task, np.asarray(scen.p))
    per_trajectory = np.asarray(sim.run_paired(controller, params, scen).cost).mean()
    nominal = np.asarray(sim.simulate(lqg(task, "lqg"), scen).cost).mean()
    assert per_trajectory < nominal


def test_oracle_where_possible_skips_parameters_without_an_operating_point():
    task = plants.get_task("cstr/varying")
    nominal = np.asarray(task.plant.nominal, float)
    # A hot feed (Tf 347 K) and a large, weakly cooled reactor: even full coolant flow cannot hold
    # the nominal set point, so no design exists at these parameters.
    hot = np.array([141.24, 256.9, -47457.8, 40675.2, 99.19, 346.7, 299.62, 26.64, 1.0, 7.2e10, 72750.0, 8.314])
    with pytest.raises(ModelError, match="no equilibrium"):
        lqg(task, "lqg", p=hot)
    with pytest.raises(ModelError, match="no equilibrium"):
        oracle(task, np.stack([nominal, hot]))
    [(controller, params, rows)] = oracle_where_possible(task, np.stack([nominal, hot, nominal]))
    assert rows.tolist() == [0, 2]
    own, alone = compile_policy(lqg(task, "lqg", p=nominal), task)
    assert own is controller
    for leaf, stacked in zip(jax.tree_util.tree_leaves(alone), jax.tree_util.tree_leaves(params)):
        assert stacked.shape == (2, *np.shape(leaf))
        np.testing.assert_array_equal(stacked[0], leaf)
        np.testing.assert_array_equal(stacked[1], leaf)
    assert oracle_where_possible(task, hot[None]) == []
    # At a higher set point the same reactor needs less cooling, and designs at each row's own
    # target exist for both rows.
    groups = oracle_where_possible(task, np.stack([nominal, hot]), targets=np.array([[420.0], [420.0]]))
    assert sorted(i for *_, rows in groups for i in rows.tolist()) == [0, 1]
    with pytest.raises(ValueError, match="one per row"):
        oracle(task, np.stack([nominal, hot]), targets=np.array([[420.0]]))


def test_oracle_groups_designs_of_different_structure_and_runs_them_in_order():
    task = plants.get_task("sho/varying")
    nominal = np.asarray(task.plant.nominal, float)
    free = nominal.copy()
    free[0] = 0.0  # omega = 0: the discretised plant has an exact zero where the nominal one has not
    params = np.stack([nominal, free, nominal])
    with pytest.raises(LQGError, match="differ in structure"):
        oracle(task, params)
    groups = oracle_where_possible(task, params)
    assert sorted(rows.tolist() for *_, rows in groups) == [[0, 2], [1]]
    sim = Simulator(task)
    scen = sim.scenarios(stream_key(0, "test"), 3)
    rows, cost, success = run_oracle(sim, groups, scen)
    assert rows.tolist() == [0, 1, 2] and success.shape == (3,)
    alone = [
        float(np.asarray(sim.simulate(lqg(task, "lqg", p=p), scen.take(np.array([i]))).cost)[0]) for i, p in enumerate(params)
    ]
    np.testing.assert_allclose(cost, alone, rtol=1e-6)


def test_monte_carlo_oracle_is_designed_at_each_trajectory_s_parameters_and_target():
    from validation._montecarlo import monte_carlo

    task = plants.get_task("cstr/varying")  # nonlinear: the operating point depends on the target
    sim = Simulator(task)
    result = monte_carlo(task, {"lqg": lqg(task, "lqg")}, 3, stream_key(5, "test"))
    scen = result["_scenarios"]
    got = np.asarray(result["costs"]["oracle"], float)
    P, R = np.asarray(scen.p), np.asarray(scen.r)
    designed = 0
    for i in range(3):
        try:
            own = lqg(task, "lqg", p=P[i], r=R[i])
        except ModelError:
            assert np.isnan(got[i])
            continue
        designed += 1
        alone = float(np.asarray(sim.simulate(own, scen.take(np.array([i]))).cost)[0])
        np.testing.assert_allclose(got[i], alone, rtol=1e-6)
    assert designed >= 2 and result["oracle"]["designed"] == designed
