"""LQG with integral action (`lqg-i`): no steady-state offset where the parameters are off nominal,
on the outputs it integrates, and an error that says why where nothing can be integrated."""

from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import plants
from plants import linearize, operating_point
from synth import Simulator
from synth._runfolder import stream_key
from validation import LQGError, design, lqg
from validation._integral import integral_design, setpoint_outputs


def _steady_state_offset(task, policy, p, r):
    """The closed loop's fixed point, as the deviation of the plant's state from the equilibrium
    `x_op(r, p)` that holds the target at parameters `p`: zero where the loop has no offset.
    The plant is linearised at that equilibrium (exact for a linear plant), the policy is linear."""
    x_op, u_op = operating_point(task, r, p)
    lin = linearize(task, x_op, u_op, p, r)
    d = design(task, p, r)  # only for the discretisation of this plant at these parameters
    dx = sp.Matrix(sp.symbols(f"dx0:{task.plant.nx}"))
    du = sp.Matrix(sp.symbols(f"du0:{task.plant.nu}"))
    y_op = np.asarray(d.y_op, float)
    at = dict(zip(policy.y, sp.Matrix(y_op) + sp.Matrix(lin.C) * dx)) | dict(zip(policy.r, r))
    at |= dict(zip(policy.u, sp.Matrix(u_op) + du))
    eqs = [e for e in sp.Matrix(d.Ad) * dx + sp.Matrix(d.Bd) * du - dx]
    eqs += [f.subs(at) - z for f, z in zip(policy.f, policy.z)]
    eqs += [g.subs(at) - (u_op[i] + du[i]) for i, g in enumerate(policy.g)]
    unknowns = list(dx) + list(policy.z) + list(du)
    (solution,) = sp.linsolve(eqs, unknowns)
    return np.array([float(v) for v in solution[: task.plant.nx]])


@pytest.mark.parametrize("omega", [0.7, 1.3])
def test_integral_action_removes_the_offset_the_steady_state_lqg_leaves(omega):
    task = plants.get_task("sho/varying")
    p = task.nominal_parameters.copy()
    p[[q.name for q in task.plant.parameters].index("omega")] *= omega
    r = np.array([2.0])
    with_integral = _steady_state_offset(task, lqg(task, "lqg-i"), p, r)
    without = _steady_state_offset(task, lqg(task, "lqg-ss"), p, r)
    assert abs(without[0]) > 0.05  # the nominal design is off the target at these parameters
    assert abs(with_integral[0]) < 1e-9  # the integrated output (position) is on it


def test_integral_action_changes_nothing_at_the_nominal_parameters():
    task = plants.get_task("sho/varying")
    offset = _steady_state_offset(task, lqg(task, "lqg-i"), task.nominal_parameters, np.array([-1.5]))
    assert np.max(np.abs(offset)) < 1e-9


def test_only_outputs_with_a_known_set_point_are_integrated():
    """Position is held at the target and measured: integrated. Velocity is not weighted: not. On
    a task whose position reference depends on a varying parameter, nothing qualifies."""
    task = plants.get_task("sho/varying")
    assert setpoint_outputs(task, design(task)) == [0]
    omega = plants.symbol("omega")
    r = task.r[0]
    moved = task.replace(target_state=(r / omega, sp.Integer(0)))
    assert setpoint_outputs(moved, design(moved)) == []
    with pytest.raises(LQGError, match="no observation has a set point independent of the varying parameters"):
        lqg(moved, "lqg-i")
    swing = plants.get_task("pendulum/swingup")  # no quadratic cost: no state is held at a target
    with pytest.raises(LQGError, match="nothing to integrate"):
        integral_design(swing, design(swing))


def test_integral_action_pays_off_where_the_parameters_vary():
    """On held-out trajectories of sho/varying the integrator is worth its noise: the median cost
    and the success rate both better than the steady-state LQG's. (The mean is dominated by the
    few lightly damped draws that neither design settles within the horizon.)"""
    task = plants.get_task("sho/varying")
    sim = Simulator(task)
    scen = sim.scenarios(stream_key(5, "test"), 200)
    runs = {v: sim.simulate(lqg(task, v), scen) for v in ("lqg-ss", "lqg-i")}
    cost = {v: float(np.median(np.asarray(res.cost))) for v, res in runs.items()}
    success = {v: float(np.mean(np.asarray(res.success))) for v, res in runs.items()}
    assert cost["lqg-i"] < 0.7 * cost["lqg-ss"], cost
    assert success["lqg-i"] > success["lqg-ss"] + 0.2, success


def test_gp_d_starts_from_the_lqg_variant_that_costs_less(tmp_path):
    """GP-D's default seed is the steady-state LQG with integral action where the parameters vary
    (sho/varying: the offset costs more than the integrator's noise) and without it where they do
    not (sho/noisy); asking for lqg-i where nothing can be integrated is an error that says why."""
    from plants import UserInputError
    from symctl._methods import _seed_policy
    from synth import SymbolicPolicy

    varying, noisy = plants.get_task("sho/varying"), plants.get_task("sho/noisy")
    path, fit = _seed_policy(varying, tmp_path / "varying", None, "quick", {})
    assert SymbolicPolicy.load(path).provenance["method"] == "lqg-i" and fit["latent"] == 3
    path, fit = _seed_policy(noisy, tmp_path / "noisy", "lqg", "quick", {})
    assert SymbolicPolicy.load(path).provenance["method"] == "lqg-ss" and fit == {}
    path, fit = _seed_policy(noisy, tmp_path / "asked", "lqg-i", "quick", {})
    assert SymbolicPolicy.load(path).provenance["method"] == "lqg-i"
    with pytest.raises(UserInputError, match="--seed-policy lqg-i: .*nothing to integrate"):
        _seed_policy(plants.get_task("pendulum/swingup"), tmp_path / "swing", "lqg-i", "quick", {})


def test_the_integrator_tracks_the_clipped_control_instead_of_winding_up():
    """Where the readout asks for more than the input's limit, the integrator's update is pulled
    back toward the clipped control (back-calculation): its part of the next readout asks for less
    than the plain integrator's would. Inside the limits the filter rows still see the control."""
    task = plants.load_task(Path(__file__).resolve().parent.parent / "examples" / "oven.toml")
    policy = lqg(task, "lqg-i")
    (lo, hi), u = task.input_limits[0], policy.u[0]
    d = design(task)
    at = dict(zip(policy.z, policy.latent_init)) | dict(zip(policy.y, d.y_op)) | dict(zip(policy.r, d.r0))
    q = policy.z[-1]
    readout = policy.g[0]
    for value in (-1e4, 1e4):  # an integrator far out on either side drives the readout past a limit
        at[q] = value
        asked = float(readout.subs(at))
        if not asked > hi:
            continue
        clipped = policy.f[-1].subs(at | {u: hi})  # the integrator's update as the loop runs it
        unclipped = policy.f[-1].subs(at | {u: asked})  # as if the limit were not there: no pull-back
        assert float(readout.subs(at | {q: clipped})) < float(readout.subs(at | {q: unclipped})) - 1e-3 * (asked - hi)
        break
    else:
        pytest.fail("no integrator value drove the readout past the upper limit")
    at[q] = 0.0
    inside = float(readout.subs(at))
    assert lo < inside < hi
    moved = [float(f.subs(at | {u: inside}) - f.subs(at | {u: inside + 1e-3})) for f in policy.f[:-1]]
    assert any(moved)  # the filter rows see u, as they must


def test_the_seed_choice_ranks_by_trajectories_lost_then_by_cost_on_the_common_ones():
    """A seed that runs away loses to one that keeps its trajectories (fewest lost first, then the
    cost on the trajectories both keep: on the CSTR a plain mean was inf for both seeds, each
    losing an ignition, and the tie went to whichever came first)."""
    from symctl._methods import _seed_choice

    task = plants.get_task("sho/noisy")
    ss = lqg(task, "lqg-ss")
    runaway = ss.__class__(
        **{
            **{
                k: getattr(ss, k)
                for k in ("observations", "targets", "latent", "controls", "f", "dt", "integrator", "latent_init")
            },
            "g": (-3 * ss.g[0],),
        }
    )
    assert _seed_choice(task, 0, [(runaway, "runaway"), (ss, "lqg-ss")])[1] == "lqg-ss"
    assert _seed_choice(task, 0, [(ss, "lqg-ss"), (lqg(task, "lqg-i"), "lqg-i")])[1] == "lqg-ss"  # as measured on sho/noisy
