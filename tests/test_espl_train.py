"""ESPL training and extraction: finite gradients through whole rollouts, and the exported
policy scores exactly what the network scored (and survives policy.json unchanged)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import plants
from synth import SymbolicPolicy, compile_policy
from synth._runfolder import stream_key
from synth.espl import Trainer, espl_config, extract
from synth.espl._extract import with_constants

SMALL = (("mul", "div"), ("log", "exp", "sin", "cos"))


def _perturb(params, seed, keep=0.6):
    """Random weights and keep-probabilities, so some paths are dropped and the rest are not trivial."""
    out = {}
    key = jax.random.key(seed)
    for name, net in params.items():
        W, p = [], []
        for w in net["W"]:
            key, k1, k2 = jax.random.split(key, 3)
            W.append(0.5 * jax.random.normal(k1, w.shape, w.dtype))
            p.append(jnp.where(jax.random.uniform(k2, w.shape) < keep, 0.9, 0.1).astype(w.dtype))
        out[name] = {**net, "W": W, "p": p}
    return out


def test_gradients_are_finite_through_the_full_horizon():
    task = plants.get_task("pendulum/swingup")
    cfg = espl_config(task, method="espl-s", layout=SMALL, batch=2, decay=1.0, iterations=10, retrain_lr=0.05, train_ticks=0)
    trainer = Trainer(task, cfg, seed=0)
    assert trainer.train_ticks == 200  # the whole horizon (the pendulum default trains on 100 ticks)
    # Once the selection is fixed the weights restart from `retrain_lr` (prune, then retrain).
    h = cfg.hard_iteration
    assert float(trainer.schedule(h - 1)) < cfg.lr and float(trainer.schedule(h)) == pytest.approx(0.05)
    init = trainer.init()
    state, info = trainer.step(init)
    assert int(state["iteration"]) == 1 and np.isfinite(float(info["loss"]))
    # The optimiser skips any update whose gradient has a non-finite entry (optax.apply_if_finite), so
    # weights that moved mean the gradient through all 200 ticks was finite, and not zero, everywhere.
    # Iteration 0 is in the warm-up: the keep-probabilities are frozen, the weights move.
    assert cfg.warmup_iteration > 0
    for a, b in zip(init["params"]["g"]["p"], state["params"]["g"]["p"]):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert any(
        not np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(init["params"]["g"]["W"], state["params"]["g"]["W"])
    )


def test_training_batches_are_latin_hypercubes_and_are_what_the_trainer_trains_on():
    task = plants.get_task("pendulum/swingup")
    cfg = espl_config(task, method="espl-s", layout=SMALL, batch=8, iterations=10, stratified_batches=True, train_ticks=0)
    trainer = Trainer(task, cfg, seed=2)
    # One draw in each eighth of every start distribution (both are uniform), a new design per iteration.
    for it in (0, 7):
        x0 = np.asarray(trainer.batch(it).x0, float)
        for j, d in enumerate(task.initial_state):
            cells = np.floor((x0[:, j] - d.a) / (d.b - d.a) * 8).astype(int)
            assert sorted(cells) == list(range(8))
    assert not np.array_equal(np.asarray(trainer.batch(0).x0), np.asarray(trainer.batch(7).x0))
    # The training cost of iteration 0 (warm-up: every path on) is the network's cost on batch(0).
    state = trainer.init()
    _, info = trainer.step(state)
    cost = trainer.sim.run(trainer.controller, trainer.deterministic(state["params"]), trainer.batch(0)).cost
    assert float(info["train_cost"]) == pytest.approx(float(np.mean(np.asarray(cost, float))), rel=1e-5)


def test_training_on_a_shortened_horizon_trains_on_the_first_ticks_and_counts_only_those():
    task = plants.get_task("pendulum/swingup")
    cfg = espl_config(task, method="espl-s", layout=SMALL, batch=4, iterations=10, train_ticks=60)
    trainer = Trainer(task, cfg, seed=3)
    assert trainer.train_ticks == 60 < trainer.sim.n_ticks
    state = trainer.init()
    _, info = trainer.step(state)
    # The training cost is the stage cost summed over the first 60 ticks of the full roll-out.
    full = trainer.sim.run(trainer.controller, trainer.deterministic(state["params"]), trainer.batch(0), save=True)
    x, u = np.asarray(full.x, float), np.asarray(full.u, float)
    th, dth = x[:, :60, 0], x[:, :60, 1]
    stage = np.mod(th + np.pi, 2 * np.pi) - np.pi
    stage = stage**2 + 0.1 * dth**2 + 0.001 * u[:, :60, 0] ** 2
    assert float(info["train_cost"]) == pytest.approx(stage.sum(1).mean(), rel=1e-5)
    assert float(info["train_cost"]) < float(np.mean(np.asarray(full.cost, float)))
    # Validation keeps the whole horizon.
    assert trainer.evaluate(state["params"]) == pytest.approx(
        float(
            np.mean(
                np.asarray(trainer.sim.run(trainer.controller, trainer.deterministic(state["params"]), trainer.validation).cost)
            )
        )
    )
    with pytest.raises(plants.UserInputError, match=r"train_ticks = 201 exceeds the horizon .* \(200 ticks\)"):
        Trainer(task, espl_config(task, method="espl-s", layout=SMALL, train_ticks=201), seed=0)
    with pytest.raises(plants.UserInputError, match=r"finetune_ticks = 300 exceeds the horizon .* use 1 to 200, or 0"):
        Trainer(task, espl_config(task, method="espl-s", layout=SMALL, finetune_ticks=300), seed=0)


@pytest.mark.parametrize(
    "task_name, method",
    [
        pytest.param("pendulum/swingup", "espl-s", marks=pytest.mark.slow),
        ("sho/partial", "espl-d"),
    ],
)
def test_extracted_policy_scores_like_the_network_and_round_trips_exactly(task_name, method):
    task = plants.get_task(task_name)
    cfg = espl_config(task, method=method, layout=SMALL, dtype="float64", latent=2, eval_batch=8, max_paths=10_000)
    trainer = Trainer(task, cfg, seed=1)
    if method == "espl-d":
        # The latent ODE starts stable (dz_i/dt = -latent_rate * z_i + bias), not as an integrator.
        W = np.asarray(trainer.init()["params"]["f"]["W"][-1])[:, 0]
        expected = np.zeros_like(W)
        expected[np.arange(2), task.ny + np.arange(2)] = -cfg.latent_rate
        assert cfg.latent_rate > 0
        np.testing.assert_array_equal(W, expected)
    params = _perturb(trainer.init()["params"], 5)
    net_cost = np.asarray(trainer.sim.run(trainer.controller, trainer.deterministic(params), trainer.validation).cost)
    policy = extract(trainer, params, drop=0.0)
    assert policy.nz == (2 if method == "espl-d" else 0)
    scen = trainer.validation
    cost = np.asarray(trainer.sim.simulate(policy, scen).cost)
    np.testing.assert_allclose(cost, net_cost, rtol=1e-8)
    again = SymbolicPolicy.from_json(policy.to_json())
    assert again.digest() == policy.digest()
    np.testing.assert_array_equal(np.asarray(trainer.sim.simulate(again, scen).cost), cost)
    # Putting back the constants compile_policy lifted (what constant tuning does) changes nothing.
    assert with_constants(policy, np.asarray(compile_policy(policy, task)[1]["c"])).digest() == policy.digest()
    test = trainer.sim.scenarios(stream_key(1, "test"), 4)
    np.testing.assert_array_equal(
        np.asarray(trainer.sim.simulate(again, test).cost), np.asarray(trainer.sim.simulate(policy, test).cost)
    )


def test_candidate_terms_go_inside_the_squashing_and_only_weak_ones_are_pruned():
    import dataclasses
    import itertools
    import math

    import sympy as sp

    from synth.espl._extract import _squash, augment, finetune, prune_augmented, validation_cost

    task = plants.get_task("pendulum/swingup")
    cfg = espl_config(task, method="espl-s", layout=SMALL, dtype="float64", eval_batch=8, augment_degree=3, augment_odd=())
    trainer = Trainer(task, cfg, seed=2)
    shell = SymbolicPolicy(
        observations=("cos_th", "sin_th", "dth_obs"),
        targets=(),
        latent=(),
        controls=tuple(task.plant.inputs),
        f=(),
        g=(sp.S.Zero,),
        dt=task.dt,
        input_limits=task.input_limits,
    )
    c, s, d = shell.y
    law = sp.Float(-2.3) * sp.tanh(sp.Float(3.06) * s + sp.Float(0.5) * d + sp.Float(2.4) * c * d)
    policy = dataclasses.replace(shell, g=(law,))
    aug, scales, found = augment(trainer, policy)
    # Every monomial of degree 1 to 3 of the three observations (19) except the law's own terms.
    assert len(found) == 19 - 3
    inner = _squash(aug.g[0]).args[0]
    assert {t.as_coeff_Mul()[1] for t in sp.Add.make_args(inner)} == {
        sp.Mul(*m) for k in (1, 2, 3) for m in itertools.combinations_with_replacement((c, s, d), k)
    }
    assert (aug.g[0] / _squash(aug.g[0])) == sp.Float(-2.3)  # still -2.3*tanh(...): inside the squashing
    # The candidates start negligible; the tuner's scale of each is the inverse of its typical size.
    f0, f1 = (sp.lambdify(shell.y, p.g[0]) for p in (policy, aug))
    pts = np.random.default_rng(0).normal(size=(3, 50)) * np.array([[1], [1], [4]])
    np.testing.assert_allclose(f1(*pts), f0(*pts), rtol=0, atol=1e-4)
    assert np.max(np.abs(f1(*pts) - f0(*pts))) > 0
    assert sorted(np.flatnonzero(scales != 1.0)) == sorted(i for i, _, _ in found)
    np.testing.assert_allclose([scales[i] for i, _, _ in found], [1 / size for _, size, _ in found])
    # A strong dth^3 term stays, the negligible ones go when the validation cost allows it.
    values = np.asarray(compile_policy(aug, task)[1]["c"], float).copy()
    i3, size3 = next((i, size) for i, size, mono in found if mono == d**3)
    values[i3] = 0.2 / size3
    strong = with_constants(aug, values)
    pruned, cost, kept = prune_augmented(trainer, strong, math.inf, found, len(scales))
    assert kept == 1 and cost == validation_cost(trainer, pruned)
    assert len(sp.Add.make_args(_squash(pruned.g[0]).args[0])) == 4 and pruned.g[0].has(d**3)
    same, cost, kept = prune_augmented(trainer, strong, -math.inf, found, len(scales))
    assert same is strong and kept == len(found) and cost == -math.inf
    # Odd candidates only (a plant symmetric under the sign change of sin_th and dth_obs): the
    # monomials of odd total degree in them, 10 of the 19, less the law's three (all odd).
    odd_trainer = Trainer(task, dataclasses.replace(cfg, augment_odd=("sin_th", "dth_obs")), seed=2)
    odd_aug, _, odd_found = augment(odd_trainer, policy)
    assert len(odd_found) == 10 - 3
    f_odd, f_all = (sp.lambdify(shell.y, p.g[0]) for p in (odd_aug, aug))
    # Its readout is odd in (sin_th, dth_obs); with every candidate it is not (a constant, cos_th^2 ...).
    np.testing.assert_allclose(f_odd(pts[0], -pts[1], -pts[2]), -f_odd(*pts), rtol=0, atol=1e-12)
    assert np.max(np.abs(f_all(pts[0], -pts[1], -pts[2]) + f_all(*pts))) > 1e-9
    with pytest.raises(plants.UserInputError, match=r"augment_odd names 'sin'.*readout inputs are cos_th, sin_th, dth_obs"):
        Trainer(task, dataclasses.replace(cfg, augment_odd=("sin", "dth_obs")), seed=2)
    # Too many candidates for the readout's inputs is refused before training, with the option, the
    # count and the way out.
    with pytest.raises(plants.UserInputError, match=r"augment_degree = 12 gives 454 candidate terms .* at most 200"):
        Trainer(task, espl_config(task, method="espl-s", layout=SMALL, augment_degree=12, augment_odd=()), seed=2)
    with pytest.raises(plants.UserInputError, match=r"augment_degree = 12 gives 224 candidate terms"):  # odd ones only
        Trainer(
            task, espl_config(task, method="espl-s", layout=SMALL, augment_degree=12, augment_odd=("sin_th", "dth_obs")), seed=2
        )
    # Tuning in units of the terms' sizes, on the first 50 ticks: the steps counted are those ticks,
    # and the cost returned is the full-horizon validation cost of the policy returned.
    cfg = espl_config(
        task,
        method="espl-s",
        layout=SMALL,
        dtype="float64",
        eval_batch=8,
        augment_degree=3,
        finetune_iterations=4,
        finetune_batch=3,
        finetune_ticks=50,
        eval_every=2,
        finetune_restore=0.1,
    )
    trainer = Trainer(task, cfg, seed=2)
    base = validation_cost(trainer, strong)
    tuned, cost, steps = finetune(trainer, strong, base, scales=scales)
    assert steps == 4 * 3 * 50 and cost == validation_cost(trainer, tuned) and cost <= base


def test_a_value_critic_in_tuning_learns_the_cost_to_go_and_is_off_until_fitted(monkeypatch):
    import dataclasses

    import sympy as sp

    from synth.espl._extract import finetune, validation_cost

    task = plants.get_task("pendulum/swingup")
    shell = SymbolicPolicy(
        observations=("cos_th", "sin_th", "dth_obs"),
        targets=(),
        latent=(),
        controls=tuple(task.plant.inputs),
        f=(),
        g=(sp.S.Zero,),
        dt=task.dt,
        input_limits=task.input_limits,
    )
    c, s, d = shell.y
    policy = dataclasses.replace(
        shell, g=(sp.Float(-2.3) * sp.tanh(sp.Float(3.06) * s + sp.Float(0.5) * d + sp.Float(2.4) * c * d),)
    )
    base = dict(
        method="espl-s",
        layout=SMALL,
        dtype="float64",
        eval_batch=8,
        finetune_batch=4,
        finetune_ticks=60,
        finetune_decay=0.97,
        eval_every=10,
        augment_odd=(),
    )
    # Until the critic has been fitted for CRITIC_WARMUP (50) steps its value does not enter: the
    # constants move exactly as with the plain decayed gradient.
    plain = Trainer(task, espl_config(task, finetune_iterations=6, **base), seed=1)
    cost0 = validation_cost(plain, policy)
    tuned_plain, cost_plain, steps_plain = finetune(plain, policy, cost0)
    off = Trainer(task, espl_config(task, finetune_iterations=6, finetune_critic=3.0, **base), seed=1)
    tuned_off, cost_off, steps_off = finetune(off, policy, cost0)
    assert steps_off == steps_plain == 6 * 4 * 60
    np.testing.assert_allclose(
        np.asarray(compile_policy(tuned_off, task)[1]["c"]),
        np.asarray(compile_policy(tuned_plain, task)[1]["c"]),
        rtol=1e-12,
        atol=0,
    )
    # The critic learns the cost-to-go of the tuning roll-outs: the fraction of its variance the
    # critic leaves unexplained on a fresh batch (before fitting on it) starts at 1 or more (the
    # critic starts at zero) and falls well below.
    # (Its value enters after 20 steps here, so that 40 steps see both phases.)
    monkeypatch.setattr("synth.espl._extract.CRITIC_WARMUP", 20)
    rows = []
    on = Trainer(task, espl_config(task, finetune_iterations=40, finetune_critic=3.0, **{**base, "eval_every": 1}), seed=1)
    tuned, cost, steps = finetune(on, policy, cost0, progress=rows.append)
    unexplained = [r["critic_unexplained"] for r in rows]
    assert len(unexplained) == 40 and unexplained[0] >= 1.0 and max(unexplained[-10:]) < 0.3, unexplained
    # With the critic on, the cost returned is still the validation cost of exactly the policy
    # returned, never worse than the start's, and the steps counted are the tuning roll-outs'.
    assert steps == 40 * 4 * 60 and cost == validation_cost(on, tuned) and cost <= cost0
    with pytest.raises(plants.UserInputError, match=r"finetune_critic = -1.0 must be at least 0"):
        espl_config(task, finetune_critic=-1.0)
    with pytest.raises(plants.UserInputError, match=r"finetune_critic = 3.0 needs a tuning gradient decay below 1"):
        espl_config(task, finetune_critic=3.0, finetune_decay=1.0)
