"""Every task file in examples/ builds, has a steady-state LQG, and its reference LQG does its job.

The examples are what a new user copies, so each one must be a complete, realistic task (units,
parameter ranges, noise, limits, a quadratic cost, a success condition) on which the reference
controller works: the LQG-ss of each file (or the variant it names) is simulated on a few held-out trajectories and must
reach the success condition, cost about what it cost when the file was written (a drift in the
simulator, the LQG design or the file shows here), and clearly beat the trivial policy that holds
the equilibrium input open loop (the LQG's own feedforward, without feedback or estimation).
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import plants
from synth import Simulator, compile_policy
from synth._runfolder import stream_key
from validation import design, policy_from_design

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# file: (ny, nx, nu), the mean cost of its reference controller (LQG-ss unless a third entry names
# another LQG variant) on 200 held-out trajectories (seed 0) when written.
EXPECTED = {
    "dc_motor.toml": ((1, 2, 1), 1.266),
    "maglev.toml": ((1, 3, 1), 0.0260),
    "two_mass.toml": ((1, 4, 1), 0.274),
    "oven.toml": ((1, 3, 1), 23.2),
    "quadruple_tank.toml": ((2, 4, 2), 0.297),
    "ball_beam.toml": ((2, 4, 1), 0.341),
    "tank.toml": ((1, 1, 1), 0.289),
    # The converter's load is drawn over 15-30 ohm, and the nominal LQG-ss settles off the 0.3 V
    # band on a third of the trajectories: its reference is the LQG with integral action.
    "boost.toml": ((2, 2, 1), 0.365, "lqg-i"),
    # Mass and grade move the holding force by up to 700 N: LQG-ss ends off the 0.3 m/s band on most.
    "cruise.toml": ((1, 2, 1), 2.93, "lqg-i"),
    # The growth rate moves the holding dilution by up to 10 %: LQG-ss ends off the 0.1 g/L band
    # on a third; the LQG that estimates it meets it on all.
    "chemostat.toml": ((1, 2, 1), 0.00760, "lqg-p"),
}
TRAJECTORIES = 16
COST_BAND = (0.5, 2.0)  # the short run's mean, relative to the 200-trajectory figure above
HOLD_RATIO_MAX = 0.5  # LQG-ss must cost at most this fraction of holding the equilibrium input

FILES = sorted(p.name for p in EXAMPLES.glob("*.toml"))


def test_every_example_is_listed():
    assert FILES, f"no task files in {EXAMPLES}"
    missing = sorted(set(FILES) - set(EXPECTED))
    assert not missing, f"add {missing} to EXPECTED in {__file__} (dimensions and measured LQG-ss cost)"
    gone = sorted(set(EXPECTED) - set(FILES))
    assert not gone, f"EXPECTED lists files that are not in examples/: {gone}"


def _task(name):
    return plants.get_task(EXAMPLES / name)


@pytest.mark.parametrize("name", FILES)
def test_example_is_a_complete_task(name):
    task = _task(name)
    pl = task.plant
    assert (task.ny, pl.nx, pl.nu) == EXPECTED[name][0]
    assert all(pl.units.get(s) for s in pl.states + pl.inputs), f"{name}: every state and input needs a unit"
    assert any(q.range is not None for q in pl.parameters), f"{name}: no parameter has a range"
    assert task.process_noise > 0 and any(np.asarray(pl.diffusion, dtype=object) != 0), f"{name}: no process noise"
    assert all(o.noise > 0 for o in task.observations), f"{name}: a noise-free measurement"
    assert all(np.isfinite(lo) and np.isfinite(hi) and lo < hi for lo, hi in task.input_limits), f"{name}: unbounded input"
    assert task.cost.quadratic is not None, f"{name}: the cost is not quadratic"
    assert task.success is not None, f"{name}: no success condition"
    assert 100 <= task.n_ticks <= 1500, f"{name}: {task.n_ticks} ticks; keep a trajectory cheap to simulate"


@pytest.mark.parametrize("name", FILES)
def test_example_lqg_ss_designs_and_does_its_job(name):
    task = _task(name)
    pl = task.plant
    d = design(task)
    assert np.max(np.abs(np.linalg.eigvals(d.A_cl_state))) < 1.0
    assert np.max(np.abs(np.linalg.eigvals(d.A_cl_estimator))) < 1.0
    # LQG-ss, and the trivial policy u = u_op(r) (the equilibrium input held open loop): the same
    # design with its feedback gain scaled by 1e-9 (an exact 0 would let sympy drop the term). Written
    # with the gain factors, both share one structure, so one compiled program runs both.
    ones_k, ones_l = np.ones((pl.nu, pl.nx)), np.ones((pl.nx, task.ny))
    policy = policy_from_design(task, d, "lqg-ss", ones_k, ones_l)
    hold = policy_from_design(task, d, "lqg-ss", 1e-9 * ones_k, ones_l)
    assert policy.controls == pl.inputs and len(policy.latent) == pl.nx
    (controller, p_lqg), (other, p_hold) = compile_policy(policy, task), compile_policy(hold, task)
    assert other is controller
    params = jax.tree_util.tree_map(lambda *a: jnp.stack(a), p_lqg, p_hold)

    sim = Simulator(task)
    scen = sim.scenarios(stream_key(0, "test"), TRAJECTORIES)
    res = sim.run_population(controller, params, scen)
    cost, hold_cost = np.asarray(res.cost)
    success = np.asarray(res.success)[0]
    variant = EXPECTED[name][2] if len(EXPECTED[name]) > 2 else "lqg-ss"
    if variant != "lqg-ss":
        res = sim.simulate(policy_from_design(task, d, variant), scen)
        cost, success = np.asarray(res.cost), np.asarray(res.success)
    assert np.all(np.isfinite(cost)), f"{name}: {variant} diverged on {int((~np.isfinite(cost)).sum())} trajectories"
    assert success.all(), f"{name}: {variant} missed the success condition on {int((~success).sum())} trajectories"
    reference = EXPECTED[name][1]
    lo, hi = COST_BAND[0] * reference, COST_BAND[1] * reference
    assert lo <= cost.mean() <= hi, f"{name}: {variant} costs {cost.mean():.4g}, outside [{lo:.4g}, {hi:.4g}]"
    ratio = cost.mean() / np.mean(np.where(np.isfinite(hold_cost), hold_cost, np.inf))
    assert ratio <= HOLD_RATIO_MAX, f"{name}: {variant} costs {ratio:.3g} x holding the equilibrium input"
