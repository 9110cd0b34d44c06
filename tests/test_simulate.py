"""The JAX closed-loop simulator implements the sampled-data contract exactly.

Checked against an independent numpy loop that replays the same noise draws: observation, readout
and saturation, latent update, plant integration (Euler-Heun with additive noise), and the cost
grid with its termination rule.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp

import plants
from synth import PolicyError, Simulator, SymbolicPolicy, compile_policy
from synth._runfolder import stream_key
from validation import lqg


def numpy_rollout(task, policy, scen, n_y, n_w):
    """The contract, written plainly in numpy (the reference the JAX simulator must equal)."""
    fns = plants.to_numpy(task)
    ref = policy.reference()
    x = np.asarray(scen.x0, float)
    r = np.asarray(scen.r, float)
    p = np.asarray(scen.p, float)
    z = np.array(policy.latent_init, float)
    sigma = task.observation_noise
    g = task.process_noise * np.asarray(fns.diffusion(p), float)
    h = task.dt / task.substeps
    total, alive, grid_points = 0.0, True, 0
    xs, us = [x], []
    for k in range(task.n_ticks):
        y = np.asarray(fns.observe(x, p), float) + sigma * n_y[k]
        u, z = ref.step(z, y, r)
        if k % task.cost.every == 0:
            grid_points += 1
            if alive and fns.terminate is not None and bool(fns.terminate(x, r, p)):
                alive = False
                total += task.cost.terminal
            if alive:
                total += float(fns.stage_cost(x, u, r, p))
        if task.plant.time == "discrete":
            x = np.asarray(fns.dynamics(0.0, x, u, p), float) + g * n_w[k, 0]
        else:
            for i in range(task.substeps):
                x = x + h * np.asarray(fns.dynamics(0.0, x, u, p), float) + g * math.sqrt(h) * n_w[k, i]
        xs.append(x)
        us.append(u)
    if task.n_ticks % task.cost.every == 0 and alive and fns.terminate is not None and bool(fns.terminate(x, r, p)):
        total += task.cost.terminal
    if task.cost.aggregate == "mean":
        total /= grid_points
    return total, np.array(xs), np.array(us)


def _sym(*names):
    return [sp.Symbol(n, real=True) for n in names]


def _dynamic_sho_policy(task):
    y, z0, z1, u, r = _sym("y_x", "z0", "z1", "u", "r")
    return SymbolicPolicy(
        observations=("y_x",),
        targets=("r",),
        latent=("z0", "z1"),
        controls=("u",),
        f=(z1 + 2.0 * (y - z0), -z0 + u - 0.5 * z1 + 1.5 * (y - z0)),
        g=(-0.4 * (z0 - r) - 0.9 * z1 + r + 0.05 * sp.sin(z0),),
        dt=task.dt,
        integrator="rk4",
    )


def _static_policy(task, gains):
    ys = [sp.Symbol(o.name, real=True) for o in task.observations]
    expr = sum(k * yy for k, yy in zip(gains, ys))
    return SymbolicPolicy(
        observations=tuple(o.name for o in task.observations),
        targets=task.targets,
        latent=(),
        controls=task.plant.inputs,
        f=(),
        g=(expr,),
        dt=task.dt,
        input_limits=task.input_limits,
    )


# Horizons (seconds) shortened where the full one adds nothing to the check but time: the numpy
# reference is a plain Python loop. Each still spans several cost-grid points.
HORIZON = {"sho/partial": 2.0, "sho/noisy": 2.0, "cstr/varying": 0.4, "acrobot/noisy": 2.0, "cartpole/balance": 4.0}

CASES = {
    "sho/partial": lambda t: _dynamic_sho_policy(t),
    "sho/noisy": lambda t: lqg(t, "lqg"),
    # A law that pushes the cart away: the trajectories fail, exercising the termination rule.
    "cartpole/balance": lambda t: _static_policy(t, [0.0, 0.3, 0.5, 0.0]),
    "mountaincar/continuous": lambda t: SymbolicPolicy(
        observations=("pos_obs", "vel_obs"),
        targets=(),
        latent=(),
        controls=("force",),
        f=(),
        g=(sp.sign(sp.Symbol("vel_obs", real=True)) + 0.1,),
        dt=1.0,
        input_limits=((-1.0, 1.0),),
    ),
    "cstr/varying": lambda t: lqg(t, "lqg-ss"),
    "acrobot/noisy": lambda t: _static_policy(t, [0.0, 0.0, 1.0, -0.2]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_jax_simulator_equals_the_numpy_contract(name):
    task = plants.get_task(name)
    if name in HORIZON:
        task = task.replace(horizon=HORIZON[name])
    policy = CASES[name](task)
    sim = Simulator(task)
    scen = sim.scenarios(stream_key(5, "test"), 2)
    res = sim.simulate(policy, scen, save=True)
    if name in ("cartpole/balance", "mountaincar/continuous"):
        assert np.asarray(res.terminated).all(), "the termination rule was not exercised"
    for i in range(2):
        one = scen.take(i)
        n_y, n_w = sim.noise_sequence(one)
        cost, xs, us = numpy_rollout(task, policy, one, n_y, n_w)
        assert float(res.cost[i]) == pytest.approx(cost, rel=1e-9, abs=1e-9)
        np.testing.assert_allclose(np.asarray(res.x[i]), xs, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(np.asarray(res.u[i]), us, rtol=1e-9, atol=1e-9)


def test_same_key_same_result_and_common_random_numbers(sho_noisy):
    sim = Simulator(sho_noisy)
    a = sim.scenarios(stream_key(0, "test"), 8)
    b = sim.scenarios(stream_key(0, "test"), 8)
    c = sim.scenarios(stream_key(1, "test"), 8)
    pol = lqg(sho_noisy, "lqg-ss")
    np.testing.assert_array_equal(np.asarray(sim.simulate(pol, a).cost), np.asarray(sim.simulate(pol, b).cost))
    assert not np.allclose(np.asarray(sim.simulate(pol, a).cost), np.asarray(sim.simulate(pol, c).cost))
    # The noise of a scenario does not depend on the controller.
    zero = SymbolicPolicy(
        observations=("y_x", "y_v"), targets=("r",), latent=(), controls=("u",), f=(), g=(sp.Integer(0),), dt=0.02
    )
    ya = np.asarray(sim.simulate(zero, a, save=True).y)
    yb = np.asarray(sim.simulate(pol, a, save=True).y)
    np.testing.assert_array_equal(ya[:, 0], yb[:, 0])


def test_population_run_equals_separate_runs(sho_noisy):
    sim = Simulator(sho_noisy)
    scen = sim.scenarios(stream_key(2, "test"), 4)
    y0, y1, r = _sym("y_x", "y_v", "r")
    pols = [
        SymbolicPolicy(
            observations=("y_x", "y_v"),
            targets=("r",),
            latent=(),
            controls=("u",),
            f=(),
            g=(k0 * (r - y0) - k1 * y1 + r,),
            dt=0.02,
        )
        for k0, k1 in [(0.3, 0.8), (0.5, 1.1), (1.0, 0.4)]
    ]
    compiled = [compile_policy(p, sho_noisy) for p in pols]
    assert compiled[0][0] is compiled[1][0] is compiled[2][0], "same structure must reuse one controller"
    params = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *[c[1] for c in compiled])
    together = np.asarray(sim.run_population(compiled[0][0], params, scen).cost)
    for i, p in enumerate(pols):
        np.testing.assert_allclose(together[i], np.asarray(sim.simulate(p, scen).cost), rtol=1e-12)


def test_non_finite_trajectories_get_the_worst_cost_without_crashing(sho_noisy):
    sim = Simulator(sho_noisy)
    scen = sim.scenarios(stream_key(3, "test"), 16)
    y0 = sp.Symbol("y_x", real=True)
    bad = SymbolicPolicy(observations=("y_x", "y_v"), targets=("r",), latent=(), controls=("u",), f=(), g=(sp.log(y0),), dt=0.02)
    res = sim.simulate(bad, scen)
    cost = np.asarray(res.cost)
    finite = np.asarray(res.finite)
    assert (~finite).any()
    assert np.all(np.isinf(cost[~finite])) and np.all(cost[~finite] > 0)


def test_policy_that_does_not_fit_the_task_is_refused(sho_noisy):
    sim = Simulator(sho_noisy)
    y0 = sp.Symbol("y_x", real=True)
    wrong = SymbolicPolicy(observations=("y_x",), targets=("r",), latent=(), controls=("u",), f=(), g=(-y0,), dt=0.05)
    with pytest.raises(
        PolicyError, match=r"reads 1 observations, the task gives 2 .*period dt = 0.05 s differs from the task's 0.02 s"
    ):
        sim.simulate(wrong, sim.scenarios(stream_key(0, "test"), 2))


def test_rollout_is_differentiable_with_respect_to_policy_constants(sho_noisy):
    sim = Simulator(sho_noisy)
    pol = lqg(sho_noisy, "lqg-ss")
    controller, params = compile_policy(pol, sho_noisy)
    scen = sim.scenarios(stream_key(4, "test"), 4)

    def loss(c):
        cost = jax.vmap(lambda s: sim.rollout(controller, {"c": c, "z0": params["z0"]}, s).cost)(scen)
        return jnp.mean(cost)

    grad = jax.grad(loss)(params["c"])
    assert np.all(np.isfinite(np.asarray(grad)))
    assert np.any(np.asarray(grad) != 0.0)


def test_stratified_scenarios_cover_every_interval_once(sho_noisy):
    """A Latin hypercube: each initial state, target (and parameter) has one draw in each of the n
    equally likely intervals of its distribution; reproducible from the key; noise keys as usual."""
    from scipy.stats import norm

    sim = Simulator(sho_noisy)
    n = 64
    a = sim.scenarios(stream_key(0, "train"), n, stratified=True)
    b = sim.scenarios(stream_key(0, "train"), n, stratified=True)
    plain = sim.scenarios(stream_key(0, "train"), n)
    np.testing.assert_array_equal(np.asarray(a.x0), np.asarray(b.x0))
    np.testing.assert_array_equal(np.asarray(jax.random.key_data(a.key)), np.asarray(jax.random.key_data(plain.key)))
    x, v = np.asarray(a.x0, float).T  # x ~ N(0, 3^2), v ~ N(0, 1)
    r = np.asarray(a.r, float)[:, 0]  # r ~ U(-3, 3)
    for q in (norm.cdf(x / 3.0), norm.cdf(v), (r + 3.0) / 6.0):
        assert np.all(np.isfinite(q))
        np.testing.assert_array_equal(np.sort(np.floor(q * n).astype(int)), np.arange(n))
    # The plain draws do not have that property (with 64 draws a repeat is all but certain).
    q_plain = norm.cdf(np.asarray(plain.x0, float)[:, 0] / 3.0)
    assert len(np.unique(np.floor(q_plain * n).astype(int))) < n
    # Under jit (the training loops draw their batches inside compiled code).
    c = jax.jit(lambda k: sim.scenarios(k, n, stratified=True).x0)(stream_key(0, "train"))
    np.testing.assert_allclose(np.asarray(c), np.asarray(a.x0), rtol=1e-6)


def test_a_controller_acting_between_grid_points_is_caught_on_every_tick(sho_noisy):
    """The SHO cost looks at every 10th tick. A latent state that flips sign every tick is +1 on
    every grid tick, so a readout that pushes only when it is -1 pays no input cost on the grid;
    `Task.on_every_tick` counts every tick. A sane controller costs about the same on both."""
    z, r = sp.Symbol("z", real=True), sp.Symbol("r", real=True)
    sneaky = SymbolicPolicy(
        observations=("y_x", "y_v"),
        targets=("r",),
        latent=("z",),
        controls=("u",),
        f=(-z,),
        g=(r + sp.Integer(3) * (1 - z),),
        dt=0.02,
        integrator="discrete",
        latent_init=(1.0,),
    )
    fine = lqg(sho_noisy, "lqg-ss")
    tick = sho_noisy.on_every_tick()
    assert tick.cost.every == 1 and tick.cost.stage == sho_noisy.cost.stage and tick.cost.aggregate == "mean"
    scen = Simulator(sho_noisy).scenarios(stream_key(6, "test"), 64)
    grid_cost = [float(np.mean(np.asarray(Simulator(sho_noisy).simulate(p, scen).cost))) for p in (sneaky, fine)]
    tick_cost = [float(np.mean(np.asarray(Simulator(tick).simulate(p, scen).cost))) for p in (sneaky, fine)]
    assert tick_cost[0] > grid_cost[0] + 8.0  # half the ticks pay 0.5 * 6^2 for the push
    assert abs(tick_cost[1] / grid_cost[1] - 1) < 0.1


def test_every_tick_keeps_the_scale_of_a_summed_cost():
    """acrobot/noisy sums `1 + 0.1 tau^2` over its grid (every 10th tick) until the swing-up: on
    every tick each stage counts a tenth, so the same trajectories cost about the same."""
    task = plants.get_task("acrobot/noisy")
    tick = task.on_every_tick()
    assert tick.cost.every == 1 and sp.simplify(tick.cost.stage - task.cost.stage / task.cost.every) == 0
    zero = SymbolicPolicy(
        observations=tuple(o.name for o in task.observations),
        targets=(),
        latent=(),
        controls=("tau",),
        f=(),
        g=(sp.Float(0.3),),
        dt=task.dt,
        input_limits=task.input_limits,
    )
    scen = Simulator(task).scenarios(stream_key(7, "test"), 8)
    a = np.asarray(Simulator(task).simulate(zero, scen).cost)
    b = np.asarray(Simulator(tick).simulate(zero, scen).cost)
    np.testing.assert_allclose(b, a, rtol=0.02)
