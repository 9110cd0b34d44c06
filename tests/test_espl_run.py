"""ESPL runs: an interrupted run resumed from its checkpoint ends where an uninterrupted one does."""

import jax
import numpy as np
import pytest

import plants
from synth.espl import Trainer, espl_config
from synth.espl._run import train

SMALL = (("mul",), ("sin", "cos"))


@pytest.mark.slow
def test_resume_repeats_an_uninterrupted_run(tmp_path):
    task = plants.get_task("pendulum/swingup")
    cfg = espl_config(task, method="espl-s", layout=SMALL, iterations=20, eval_every=5, hard_fraction=0.5, eval_batch=8, batch=2)
    full, rec_full = train(Trainer(task, cfg, seed=3), tmp_path / "a")

    interrupted = Trainer(task, cfg, seed=3)
    step = interrupted.step

    def failing(state):
        if int(state["iteration"]) == 12:
            raise KeyboardInterrupt
        return step(state)

    interrupted.step = failing
    with pytest.raises(KeyboardInterrupt):
        train(interrupted, tmp_path / "b")
    resumed, rec = train(Trainer(task, cfg, seed=3), tmp_path / "b", resume=True)
    assert rec["best_iteration"] == rec_full["best_iteration"]
    for a, b in zip(jax.tree_util.tree_leaves(full), jax.tree_util.tree_leaves(resumed)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert (tmp_path / "b" / "history.csv").read_text().count("\n") == 5


def test_restarts_train_independent_candidates_and_export_the_best_validated_one():
    from synth.espl._extract import validation_cost
    from synth.espl._run import synthesise

    task = plants.get_task("pendulum/swingup")
    cfg = espl_config(
        task,
        method="espl-s",
        layout=SMALL,
        iterations=6,
        eval_every=2,
        hard_fraction=0.5,
        eval_batch=4,
        batch=2,
        finetune_iterations=2,
        restarts=2,
        tune_chosen=False,
        train_ticks=0,
        finetune_ticks=0,
        augment_degree=0,
    )
    policy, rec = synthesise(task, cfg, seed=1)
    costs = rec["restart_validation_costs"]
    assert len(costs) == 2 and costs[0] != costs[1]  # own initialisation, batches and masks
    assert rec["restart"] == int(np.argmin(costs))
    # The exported policy is the chosen candidate: its validation cost is the smallest one.
    trainer = Trainer(task, cfg, seed=1)
    assert validation_cost(trainer, policy) == pytest.approx(min(costs), rel=1e-6)
    # Every candidate's environment steps are counted; the zero-input pilot is shared, run once.
    assert rec["train_env_steps"] == 2 * 6 * 2 * trainer.sim.n_ticks
    assert rec["pilot_env_steps"] == trainer.pilot_env_steps == 64 * trainer.sim.n_ticks
    # A restart made with `share` (as `synthesise` makes them) runs the first restart's pilot and
    # compiled step on its own keys: the same step as a restart compiled for itself, whose own
    # pilot (the run's pilot stream) is the same.
    own = Trainer(task, cfg, seed=1, restart=1)
    assert own.pilot_env_steps == 64 * own.sim.n_ticks and own.cost_scale == trainer.cost_scale
    for a, b in zip(own.pilot, trainer.pilot):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    shared = Trainer(task, cfg, seed=1, restart=1, share=trainer)
    assert shared._step is trainer._step and shared.pilot is trainer.pilot and shared.pilot_env_steps == 0
    for a, b in zip(jax.tree_util.tree_leaves(own.step(own.init())), jax.tree_util.tree_leaves(shared.step(shared.init()))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # With `tune_chosen` the candidates are compared as extracted and only the chosen one is tuned.
    cfg = espl_config(
        task,
        method="espl-s",
        layout=SMALL,
        iterations=6,
        eval_every=2,
        hard_fraction=0.5,
        eval_batch=4,
        batch=2,
        finetune_iterations=2,
        restarts=2,
        tune_chosen=True,
        train_ticks=0,
        finetune_ticks=0,
        augment_degree=0,
    )
    _, once = synthesise(task, cfg, seed=1)
    assert once["restart"] == int(np.argmin(once["restart_validation_costs"]))
    assert once["finetune_env_steps"] == 2 * cfg.finetune_batch * trainer.sim.n_ticks
    assert once["train_env_steps"] == rec["train_env_steps"] and once["total_env_steps"] < rec["total_env_steps"]
    assert once["validation_cost"] <= min(once["restart_validation_costs"])
    assert once["train_seconds"] <= once["seconds"]  # both candidates' training, within the whole run


def test_espl_d_takes_a_latent_state_per_plant_state_unless_told():
    from synth.espl._config import default_latent

    four = plants.get_task("cartpole/balance")
    assert default_latent(four, "espl-d", {}) == {"latent": 4}
    assert default_latent(four, "espl-d", {"latent": 2}) == {}
    assert default_latent(four, "espl-s", {}) == {}
    assert default_latent(plants.get_task("sho/partial"), "espl-d", {}) == {}
