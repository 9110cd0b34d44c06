"""LQG whose filter also estimates the varying parameters (`lqg-p`): what it estimates, from which
prior, what it buys on a plant whose parameters move the input that holds the target, and the
errors where there is nothing it can estimate."""

import csv
from pathlib import Path

import numpy as np
import pytest

import plants
from synth import Simulator
from synth._runfolder import stream_key
from validation import LQGError, lqg

CHEMOSTAT = Path(__file__).resolve().parent.parent / "examples" / "chemostat.toml"


def test_the_filter_carries_the_parameter_combination_the_output_sees_with_the_task_prior():
    """The chemostat measures one output, so the filter carries one combination of its three
    varying parameters: the one that moves the substrate at steady state under the nominal loop
    (the growth rate's; yield and feed move only the biomass there), in units of its prior spread."""
    task = plants.get_task(CHEMOSTAT)
    policy = lqg(task, "lqg-p")
    assert policy.provenance["method"] == "lqg-p"
    assert policy.provenance["estimated_parameters"] == ["mu_max", "Yxs", "Sf"]
    directions = np.array(policy.provenance["parameter_directions"])
    names = [q.name for q in task.plant.parameters]
    std = task.parameter_distribution[names.index("mu_max")].variance ** 0.5
    assert directions.shape == (3, 1) and abs(directions[0, 0]) == pytest.approx(std)
    assert np.max(np.abs(directions[1:])) < 1e-9 * std
    n = task.plant.nx + 1
    assert len(policy.latent) == n + n * (n + 1) // 2  # estimate and covariance upper triangle
    init = dict(zip(policy.latent, policy.latent_init))
    k = task.plant.nx
    assert init[f"xhat{k}"] == 0.0 and init[f"P{k}_{k}"] == 1.0  # prior: the nominal value, unit spread
    assert init[f"P0_{k}"] == 0.0


def test_off_nominal_the_estimating_loop_settles_on_the_target_where_the_nominal_one_does_not():
    """A growth rate 8 % above nominal, no process noise: lqg-ss settles off the substrate's set
    point, lqg-p explains the offset with its estimate and settles on it."""
    from synth._simulate import Scenarios

    task = plants.get_task(CHEMOSTAT).replace(process_noise=0.0)
    names = [q.name for q in task.plant.parameters]
    p = task.nominal_parameters.copy()
    p[names.index("mu_max")] *= 1.08
    sim = Simulator(task)
    base = sim.scenarios(stream_key(1, "test"), 8)
    scen = Scenarios(x0=base.x0, r=base.r, p=np.tile(p, (len(base), 1)), key=base.key)
    S = task.plant.states.index("S")
    offset = {}
    for v in ("lqg-ss", "lqg-p"):
        x = np.asarray(sim.simulate(lqg(task, v), scen, save=True).x)  # (N, ticks + 1, nx)
        offset[v] = np.abs(np.mean(x[:, -40:, S], axis=1) - np.asarray(base.r)[:, 0])
    assert np.median(offset["lqg-ss"]) > 0.1, offset  # the nominal design ends off the 0.1 g/L band on most
    assert np.max(offset["lqg-p"]) < 0.01, offset  # within a tenth of the band on every one


def test_estimating_the_parameters_beats_the_nominal_and_the_integral_design():
    """The chemostat's growth rate, yield and feed move the dilution rate that holds the substrate:
    the nominal design settles off the band, integral action removes the offset slowly, the
    estimating filter learns it within the transient."""
    task = plants.get_task(CHEMOSTAT)
    sim = Simulator(task)
    scen = sim.scenarios(stream_key(3, "test"), 64)
    runs = {v: sim.simulate(lqg(task, v), scen) for v in ("lqg-ss", "lqg-i", "lqg-p")}
    cost = {v: float(np.mean(np.asarray(r.cost))) for v, r in runs.items()}
    success = {v: float(np.mean(np.asarray(r.success))) for v, r in runs.items()}
    assert cost["lqg-p"] < 0.8 * cost["lqg-i"] < 0.8 * cost["lqg-ss"], cost
    assert success["lqg-p"] == 1.0 and success["lqg-ss"] < 0.9, success


def test_nothing_to_estimate_is_an_error_that_says_why():
    with pytest.raises(LQGError, match="no parameter varies from trajectory to trajectory"):
        lqg(plants.get_task("sho/noisy"), "lqg-p")
    # sho/varying's stiffness and damping act through the position and velocity, both zero at the
    # nominal set point: to first order they are invisible there
    with pytest.raises(LQGError, match=r"\(omega, zeta\) have no first-order effect"):
        lqg(plants.get_task("sho/varying"), "lqg-p")


def test_the_run_exports_the_estimating_lqg_when_it_is_the_best_candidate(tmp_path):
    """`symctl run`'s choice puts lqg-p beside the method's candidates where parameters vary: a
    method that returned the nominal steady-state LQG (which misses the band on a third of the
    choice trajectories) loses to it."""
    from symctl._choice import choose

    task = plants.get_task(CHEMOSTAT)
    said = []
    chosen, record = choose(task, tmp_path, lqg(task, "lqg-ss"), seed=0, say=said.append)
    assert record["candidate"].startswith("lqg-p") and record["passes_screen"], record
    assert chosen.provenance["method"] == "lqg-p"
    # its loop has an equilibrium, and it is stable: the stability rows apply to it
    with open(tmp_path / "choice.csv", encoding="utf-8") as fh:
        row = next(r for r in csv.DictReader(fh) if r["candidate"].startswith("lqg-p"))
    assert float(row["spectral_radius_nominal"]) < 1.0 and float(row["disk_margin"]) >= 0.5, row


def test_the_kalman_gain_schedule_is_not_taken_for_a_near_singular_term():
    """The filter divides by its innovation variance, which shrinks with the covariance as the
    parameters are learnt: a gain schedule in time, the same on every trajectory, which the
    screen's near-singular check leaves alone. A denominator that reads a signal is still checked."""
    import dataclasses

    from validation._singular import denominators, scheduled_latent

    policy = lqg(plants.get_task(CHEMOSTAT), "lqg-p")
    covariance = {z for z in policy.z if str(z).startswith("P")}
    assert scheduled_latent(policy) == covariance and denominators(policy) == []
    f = list(policy.f)
    k = policy.latent.index("P0_0")
    f[k] = f[k] + 1e-6 * policy.y[0] ** 2  # the covariance now depends on the measurement
    touched = dataclasses.replace(policy, f=tuple(f))
    assert policy.z[k] not in scheduled_latent(touched)
    assert denominators(touched)
