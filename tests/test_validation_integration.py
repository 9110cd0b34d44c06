"""The certificate's integration check: the policy's costliest held-out trajectories replayed with
CVODES catch a fixed step too long for a stiff plant, and pass one that is short enough."""

import math

import jax
import numpy as np
import pytest

import plants
from synth import Simulator, SymbolicPolicy
from validation import DEFAULT_REQUIREMENTS, certify
from validation._integration import integration_check, relative_difference

PLANT = """
[plant]
name = "fastlag"
description = "A slow state driven through a fast first-order lag (time constant 1/200 s)"
time = "continuous"
states = [{ name = "x" }, { name = "v" }]
inputs = [{ name = "u" }]

[plant.dynamics]
x = "-x + v + u"
v = "-200*(v - x)"

[plant.diffusion]
x = 0.2
v = 0
"""

TASK = """
[task]
name = "fastlag/task"
plant = "plant.toml"
horizon = 2.0
dt = 0.05
substeps = {substeps}
process_noise = 1.0

[task.observations]
y = {{ expr = "x", noise = 0.05 }}

[task.initial]
x = {{ uniform = [0.5, 1.5] }}
v = {{ fixed = 0.0 }}

[task.cost]
Q = [1.0, 0.0]
R = [0.1]
state_reference = [0, 0]
input_reference = [0]
aggregate = "mean"
"""


def _task(folder, plant: str, task: str):
    folder.mkdir()
    (folder / "plant.toml").write_text(plant)
    (folder / "task.toml").write_text(task)
    return plants.get_task(str(folder / "task.toml"))


def _run(task, k=3, n=8, gain=-2.0, key=3):
    """The policy u = gain y on `n` trajectories, and the integration check of its `k` costliest."""
    y = plants.symbol("y")
    policy = SymbolicPolicy(
        observations=("y",), targets=(), latent=(), controls=task.plant.inputs, f=(), g=(gain * y,), dt=task.dt
    )
    sim = Simulator(task)
    scen = sim.scenarios(jax.random.key(key), n)
    costs = np.asarray(sim.simulate(policy, scen).cost, float)
    return costs, integration_check(task, policy, costs, scen, k)


def _row(ic) -> dict:
    return next(r for r in certify({"integration": ic}, DEFAULT_REQUIREMENTS)["rows"] if r["name"] == "fixed step against CVODES")


def test_a_step_too_long_for_the_fast_lag_fails_the_certificate(tmp_path):
    # one substep of 0.05 s: 200 x 0.05 = 10, far outside Euler-Heun's stability region
    costs, ic = _run(_task(tmp_path / "s1", PLANT, TASK.format(substeps=1)))
    assert (costs > 1e20).all()  # the fixed step runs away
    w = ic["worst"]
    assert w["cost_cvodes"] < 10 and ic["max_relative_difference"] > 1e10
    row = _row(ic)
    assert row["status"] == "FAIL" and "raise task.substeps" in row["evidence"]


def test_a_short_enough_step_passes_and_replays_the_costliest_trajectories(tmp_path):
    # 20 substeps of 2.5 ms: 200 x 0.0025 = 0.5
    costs, ic = _run(_task(tmp_path / "s20", PLANT, TASK.format(substeps=20)), k=3)
    assert np.isfinite(costs).all()
    replayed = [r["trajectory"] for r in ic["replays"]]
    assert replayed[:3] == np.argsort(-costs)[:3].tolist()  # the costliest, then as many others
    assert len(replayed) == 6 and len(set(replayed)) == 6
    for r in ic["replays"]:
        # the CasADi fixed-step loop is the simulator; CVODES differs by the step's error, a little
        assert r["cost_fixed_step"] == pytest.approx(r["cost_simulator"], rel=1e-9)
        assert 0 < r["relative_difference"] < 0.01
    row = _row(ic)
    assert row["status"] == "PASS" and row["value"] == ic["max_relative_difference"]


def test_relative_difference_of_diverging_replays():
    assert relative_difference(math.inf, math.inf) == 0.0  # both integrators diverge: the plant does
    assert relative_difference(math.inf, 2.0) == math.inf
    assert relative_difference(2.0, math.inf) == math.inf
    assert relative_difference(2.2, 2.0) == pytest.approx(0.1)  # relative to CVODES's cost
    assert relative_difference(2.2, 2.0, scale=20.0) == pytest.approx(0.01)  # or the mean cost, if larger


def test_a_discrete_time_plant_has_no_step_to_check():
    task = plants.get_task("pendulum/swingup")
    assert task.plant.time == "discrete"
    ic = integration_check(task, None, np.zeros(4), None, 4)
    assert "discrete" in ic["reason"]
    row = _row(ic)
    assert row["status"] == "NOT APPLICABLE"


TANK_PLANT = """
[plant]
name = "tank"
description = "A tank draining through an orifice (Torricelli) with an inflow pump"
time = "continuous"
states = [{ name = "h", unit = "m" }]
inputs = [{ name = "q", unit = "m/s" }]

[plant.dynamics]
h = "q - 0.5*sqrt(max(h, 0))"

[plant.diffusion]
h = 0.001
"""

TANK_TASK = """
[task]
name = "tank/drain"
plant = "plant.toml"
horizon = 10.0
dt = 0.1
substeps = 10
process_noise = 1.0

[task.observations]
y = { expr = "h", noise = 0.01 }

[task.initial]
h = { uniform = [0.2, 0.4] }

[task.input_limits]
q = [0.0, 1.0]

[task.cost]
Q = [1.0]
R = [0.0]
state_reference = [0]
input_reference = [0]
aggregate = "mean"
"""


def test_an_emptying_tank_is_replayed_without_a_jacobian_where_bdf_fails(tmp_path):
    # the pump stays off, the tank empties within 3 s, and sqrt(max(h, 0)) has no finite
    # derivative at h = 0: CVODES's BDF (Newton) fails there, Adams (fixed-point) integrates it
    _, ic = _run(_task(tmp_path / "tank", TANK_PLANT, TANK_TASK), k=2, n=4, gain=-1.0, key=0)
    assert [r["cvodes_method"] for r in ic["replays"]] == ["cvodes-nonstiff"] * 4
    assert all("cvodes:" in r["errors"][0] for r in ic["replays"])
    assert ic["compared"] == 4 and ic["max_relative_difference"] < 0.05


def test_a_failing_row_with_chaotic_replays_points_to_mean_costs():
    replay = {
        "trajectory": 0,
        "cost_fixed_step": 2.0,
        "cost_cvodes": 1.0,
        "cvodes_method": "cvodes",
        "relative_difference": 1.0,
        "chaotic": False,
        "errors": [],
    }
    chaotic = {**replay, "trajectory": 1, "relative_difference": None, "chaotic": True, "sensitivity": 0.2, "errors": []}
    ic = {
        "replays": [replay, chaotic],
        "of": 10,
        "compared": 1,
        "worst": replay,
        "max_relative_difference": 1.0,
        "cvodes_tolerance": 1e-9,
        "substeps": 1,
        "step": 0.02,
    }
    row = _row(ic)
    assert row["status"] == "FAIL" and "1 chaotic" in row["evidence"] and "compare mean costs" in row["evidence"]
    ic["replays"] = [replay]
    row = _row(ic)
    assert row["status"] == "FAIL" and "compare mean costs" not in row["evidence"]
