"""Normalised units: `plants.normalise` gives an exactly equivalent task, `synth.denormalise` folds
the scaling back into a policy, and `plants.over_box` draws the parameters over their box."""

import dataclasses
import math
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp

import plants
from plants import Distribution, Scaling, normalise, over_box, symbol
from plants._normalise import _rewrite
from plants._scaling import power_of_ten
from synth import PolicyError, Scenarios, Simulator, SymbolicPolicy, denormalise
from validation import lqg

EXAMPLES = plants.task_path("sho/noisy").parents[3] / "examples"

# A spring-loaded voice-coil positioner in SI units: centimetre travel, volts; the equilibrium
# input is not zero (the spring and gravity need holding).
POSITIONER = """
[plant]
name = "positioner"
time = "continuous"
states = [{ name = "pos", unit = "m" }, { name = "vel", unit = "m/s" }]
inputs = [{ name = "volt", unit = "V" }]

[plant.parameters]
m = { nominal = 0.05, range = [0.04, 0.06], unit = "kg" }
k = { nominal = 20.0, range = [18.0, 22.0], unit = "N/m" }
c = { nominal = 0.4, unit = "N s/m" }
kf = { nominal = 2.0, unit = "N/A" }
R = { nominal = 4.0, unit = "ohm" }
g = { nominal = 9.81, unit = "m/s^2" }

[plant.dynamics]
pos = "vel"
vel = "(kf*volt/R - k*pos - c*vel)/m - g"

[plant.diffusion]
vel = 0.01

[task]
name = "positioner/track"
horizon = 1.0
dt = 0.005
process_noise = 1.0

[task.observations]
y_pos = { expr = "pos", noise = 1.0e-4 }

[task.targets]
r_pos = { uniform = [0.005, 0.015] }

[task.initial]
pos = { uniform = [0.0, 0.02] }
vel = { normal = [0.0, 0.05] }

[task.input_limits]
volt = [-7.0, 7.0]

[task.cost]
Q = [1.0e4, 0.0]
R = [0.01]
state_reference = ["r_pos", 0]
input_reference = "equilibrium"
every = 0.01

[task.success]
condition = "abs(pos - r_pos) < 0.001"
when = "final"
"""

# A heated room stepped once a minute (a discrete-time plant): kelvin and watts, a general stage
# cost, termination and success that use the target, and LQG weights given in the file.
ROOM = """
[plant]
name = "room"
time = "discrete"
states = [{ name = "T", unit = "K" }]
inputs = [{ name = "P", unit = "W" }]

[plant.parameters]
C = { nominal = 1.0e5, range = [0.8e5, 1.2e5], unit = "J/K" }
Rth = { nominal = 0.01, range = [0.008, 0.012], unit = "K/W" }
Ta = { nominal = 283.0, unit = "K" }
h = { nominal = 60.0, unit = "s" }

[plant.dynamics]
T = "T + h/C*(P - (T - Ta)/Rth)"

[plant.diffusion]
T = 0.05

[task]
name = "room/setpoint"
horizon = 7200.0
dt = 60.0
process_noise = 1.0

[task.observations]
y_T = { expr = "T", noise = 0.1 }

[task.targets]
T_set = { uniform = [291.0, 297.0] }

[task.initial]
T = { uniform = [285.0, 300.0] }

[task.parameters]
C = "range"

[task.input_limits]
P = [0.0, 3000.0]

[task.target_state]
T = "T_set"

[task.cost]
stage = "(T - T_set)**2 + 1.0e-6*P**2"
terminate_when = "abs(T - T_set) > 20"
terminal_cost = 100.0
aggregate = "sum"

[task.success]
condition = "abs(T - T_set) < 0.5"
when = "final"

[task.lqg]
Q = [1.0]
R = [1.0e-6]
"""

INLINE = {"positioner": POSITIONER, "room": ROOM}
TASKS = ["dc_motor", "positioner", "room"]
N_SCENARIOS = 32


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    """Per task: the task, its normalised twin, the scaling, scenarios drawn on the original task
    and the same scenarios with the targets in normalised units."""
    folder = tmp_path_factory.mktemp("tasks")
    out = {}
    for name in TASKS:
        if name in INLINE:
            path = folder / f"{name}.toml"
            path.write_text(textwrap.dedent(INLINE[name]), encoding="utf-8")
        else:
            path = EXAMPLES / f"{name}.toml"
        task = plants.load_task(path)
        norm, scaling = normalise(task)
        scen = Simulator(task).scenarios(jax.random.key(11), N_SCENARIOS)
        scen_norm = Scenarios(x0=scen.x0, r=jnp.asarray(scaling.to_normalised("targets", scen.r)), p=scen.p, key=scen.key)
        out[name] = (task, norm, scaling, scen, scen_norm)
    return out


def _dynamic_policy(task) -> SymbolicPolicy:
    """A nonlinear dynamic policy written in the task's units (an integrator with a leak, at a rate
    of 1/20 per tick)."""
    (y,), (r,), (u,) = task.y, task.r, task.plant.u
    z = symbol("z0")
    f = sp.Float(1 / (20 * task.dt)) * (3.0 * (r - y) + 0.2 * sp.tanh(u) - 0.5 * z)
    g = 1.5 * z + 0.8 * r + 0.1 * sp.sin(z)
    return SymbolicPolicy(
        observations=(task.observations[0].name,),
        targets=task.targets,
        latent=("z0",),
        controls=task.plant.inputs,
        f=(f,),
        g=(g,),
        dt=task.dt,
        integrator="rk4",
        input_limits=task.input_limits,
        latent_init=(0.1,),
        provenance={"task": task.name, "method": "test"},
    )


def _static_policy(task) -> SymbolicPolicy:
    (y,), (r,), _ = task.y, task.r, task.plant.u
    g = 0.8 * sp.tanh(1.3 * (r - y)) + 0.1 * r
    return SymbolicPolicy(
        observations=(task.observations[0].name,),
        targets=task.targets,
        latent=(),
        controls=task.plant.inputs,
        f=(),
        g=(g,),
        dt=task.dt,
        input_limits=task.input_limits,
    )


def _close(a, b, rtol=1e-9):
    a, b = np.asarray(a), np.asarray(b)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * max(1.0, float(np.max(np.abs(b), initial=0.0))))


@pytest.mark.parametrize("name", TASKS)
def test_these_tasks_are_scaled(cases, name):
    task, norm, scaling, _, _ = cases[name]
    assert not scaling.is_identity
    assert norm.name == task.name and norm.source == task.source
    # The normalised task is O(1) and normalising it again changes nothing.
    again, second = normalise(norm)
    assert second.is_identity and again is norm


def test_the_si_positioner_gets_round_numbers(cases):
    _, norm, scaling, _, _ = cases["positioner"]
    assert (scaling.y0, scaling.sy) == ((0.01,), (0.01,))
    assert (scaling.r0, scaling.sr) == ((0.01,), (0.01,))
    assert (scaling.u0, scaling.su) == ((1.4,), (10.0,))  # the equilibrium 1.38 V, to a hundredth of 10 V
    pos = symbol("pos")
    assert norm.observations[0].expr == 100 * pos - 1
    assert norm.observations[0].noise == pytest.approx(0.01, rel=1e-12)
    assert norm.input_limits[0] == pytest.approx((-0.84, 0.56), rel=1e-12)


@pytest.mark.parametrize(("name", "kind"), [(n, k) for n in TASKS for k in ("lqg-ss", "dynamic", "static")])
def test_denormalised_policy_on_the_task_equals_the_policy_on_the_normalised_task(cases, name, kind):
    task, norm, scaling, scen, scen_norm = cases[name]
    if kind == "lqg-ss":
        policy = lqg(norm, "lqg-ss")
    elif kind == "dynamic":
        policy = _dynamic_policy(norm)
    else:
        policy = _static_policy(norm)
    exported = denormalise(policy, scaling)
    assert exported.provenance["scaling"] == scaling.to_dict()
    assert exported.input_limits == task.input_limits  # back to the numbers of the task file
    assert exported.latent_init == policy.latent_init
    learnt = Simulator(norm).simulate(policy, scen_norm, save=True)
    shipped = Simulator(task).simulate(exported, scen, save=True)
    assert np.all(np.isfinite(np.asarray(shipped.cost)))
    _close(shipped.cost, learnt.cost)
    _close(shipped.x, learnt.x)
    _close(shipped.z, learnt.z)
    _close(shipped.u, scaling.to_original("inputs", np.asarray(learnt.u)))
    _close(shipped.y, scaling.to_original("observations", np.asarray(learnt.y)))
    np.testing.assert_array_equal(shipped.success, learnt.success)
    np.testing.assert_array_equal(shipped.terminated, learnt.terminated)
    # The exported policy is what policy.json keeps.
    assert SymbolicPolicy.from_json(exported.to_json()).digest() == exported.digest()


@pytest.mark.parametrize("name", TASKS)
def test_lqg_of_the_normalised_task_is_the_lqg_of_the_task(cases, name):
    # The same design computed in other units: gains and filter differ only by the round-off of the
    # Riccati solvers (observed up to 6e-9 relative on the positioner, whose covariances are 1e-8).
    task, norm, scaling, scen, _ = cases[name]
    sim = Simulator(task)
    direct = np.asarray(sim.simulate(lqg(task, "lqg-ss"), scen).cost)
    via = np.asarray(sim.simulate(denormalise(lqg(norm, "lqg-ss"), scaling), scen).cost)
    assert np.all(np.isfinite(direct))
    np.testing.assert_allclose(via, direct, rtol=1e-7)


@pytest.mark.parametrize(
    "name", ["sho/noisy", "sho/partial", "sho/varying", "acrobot/noisy", "acrobot/two-inputs", "pendulum/swingup"]
)
def test_tasks_in_unit_sizes_are_left_exactly_as_they_are(name):
    task = plants.get_task(name)
    norm, scaling = normalise(task)
    assert scaling.is_identity and scaling == Scaling.identity(task)
    assert norm == task
    # The rewrite itself keeps what the scaling leaves alone: forced through, it gives an equal task.
    assert _rewrite(task, scaling) == task
    policy = lqg(task, "lqg-ss") if name.startswith("sho") else _static_like(task)
    assert denormalise(policy, scaling) is policy


def _static_like(task) -> SymbolicPolicy:
    g = [sp.Float(0.5) * task.y[0] for _ in task.plant.inputs]
    return SymbolicPolicy(
        observations=tuple(o.name for o in task.observations),
        targets=task.targets,
        latent=(),
        controls=task.plant.inputs,
        f=(),
        g=tuple(g),
        dt=task.dt,
        input_limits=task.input_limits,
    )


def test_built_in_tasks_in_other_units_get_round_scalings():
    cstr = normalise(plants.get_task("cstr/varying"))[1]
    assert (cstr.y0, cstr.sy) == ((324.0, 375.0), (100.0, 100.0))
    assert (cstr.r0, cstr.sr, cstr.u0, cstr.su) == ((375.0,), (100.0,), (176.0,), (100.0,))
    assert normalise(plants.get_task("cartpole/balance"))[1].sy == (0.1,) * 4
    car = normalise(plants.get_task("mountaincar/continuous"))[1]
    assert (car.y0, car.sy, car.su) == ((-0.5, 0.0), (0.1, 1.0), (1.0,))


def test_fixed_targets_unbounded_inputs_and_zero_spreads(cases):
    task = cases["positioner"][0]
    task = task.replace(
        target_distribution=(Distribution("fixed", 0.012),),
        input_limits=((-math.inf, math.inf),),
        initial_state=(Distribution("fixed", 0.0), Distribution("fixed", 0.0)),
    )
    norm, s = normalise(task)
    assert (s.r0, s.sr) == ((0.012,), (0.01,))  # a fixed target: its own size
    assert norm.target_distribution == (Distribution("fixed", 0.0),)
    assert s.su == (1.0,) and s.u0 == (1.46,)  # unbounded: the size of the input holding the target (1.461 V)
    assert norm.input_limits == ((-math.inf, math.inf),)
    assert (s.y0, s.sy) == ((0.012,), (0.01,))  # the distance from the initial state to the target
    noiseless = task.replace(
        observations=(plants.Observation("y_pos", symbol("pos"), 0.0),),
        initial_state=(Distribution("fixed", 0.012), Distribution("fixed", 0.0)),
    )
    assert normalise(noiseless)[1].sy == (1.0,)  # nothing moves: nothing to scale by


def test_power_of_ten():
    assert [power_of_ten(v) for v in (1.0, 3.0, 3.2, 7.0, 24.0, 0.05, 0.01, 150.0)] == [
        1.0,
        1.0,
        10.0,
        10.0,
        10.0,
        0.1,
        0.01,
        100.0,
    ]
    assert power_of_ten(0.0) == power_of_ten(math.inf) == power_of_ten(math.nan) == 1.0


def test_scaling_record_round_trips_and_mismatches_are_refused(cases):
    task, norm, scaling, _, _ = cases["room"]
    assert Scaling.from_dict(scaling.to_dict()) == scaling
    other = cases["dc_motor"][2]
    with pytest.raises(plants.ModelError, match="does not fit task"):
        normalise(task, other)
    with pytest.raises(PolicyError, match="are not the policy's"):
        denormalise(_static_policy(norm), other)
    with pytest.raises(plants.ModelError, match="scale"):
        Scaling(("y",), (0.0,), (0.0,), (), (), (), (), (), ())


def test_over_box_draws_ranged_parameters_over_their_box_and_keeps_the_others():
    task = plants.get_task("acrobot/noisy")
    boxed = over_box(task)
    assert boxed.name == task.name
    sim = Simulator(boxed)
    p = np.asarray(sim.scenarios(jax.random.key(0), 512).p)
    for j, q in enumerate(task.plant.parameters):
        if q.range is None:
            assert boxed.parameter_distribution[j] == task.parameter_distribution[j]
            assert np.all(p[:, j] == q.nominal)
        else:
            assert boxed.parameter_distribution[j] == Distribution("uniform", *q.range)
            assert np.all((p[:, j] >= q.range[0]) & (p[:, j] <= q.range[1]))
            assert np.ptp(p[:, j]) > 0.9 * (q.range[1] - q.range[0])
    # Parameters already drawn over their box: nothing changes.
    varying = plants.get_task("sho/varying")
    assert over_box(varying) is varying
    # A task drawing a parameter from its own distribution is moved onto the box (cstr: Cp).
    cstr = over_box(plants.get_task("cstr/varying"))
    assert cstr.parameter_distribution[1] == Distribution("uniform", 239.0, 350.0)
    # No parameter with a range: the task itself.
    sho = plants.get_task("sho/noisy")
    bare = sho.replace(
        plant=dataclasses.replace(sho.plant, parameters=tuple(dataclasses.replace(q, range=None) for q in sho.plant.parameters))
    )
    assert over_box(bare) is bare


def test_a_limit_at_zero_comes_back_as_zero():
    """The tank's pump limit 0 V goes to -0.34 in normalised units (3.4 + 10 V') and came back as
    3.4 + 10 * -0.34 = 4.4e-16, printed and generated as such; it must be the file's 0 again."""
    task = plants.load_task(EXAMPLES / "tank.toml")
    norm, scaling = normalise(task)
    assert (scaling.u0, scaling.su) == ((3.4,), (10.0,)) and 3.4 + 10.0 * norm.input_limits[0][0] != 0.0
    assert denormalise(lqg(norm, "lqg-ss"), scaling).input_limits == task.input_limits == ((0.0, 12.0),)
