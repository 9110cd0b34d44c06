"""The CasADi closed loop reproduces the JAX simulator (same sampled-data semantics, same noise)."""

import numpy as np
import pytest
import sympy as sp

import plants
import validation
from synth import Simulator, SymbolicPolicy
from synth._runfolder import stream_key
from validation import build_closed_loop, noise_from_simulator


def _static(task, gain=-0.5):
    y = [plants.symbol(o.name) for o in task.observations]
    g = [gain * sum(y) + 0.1 * sp.tanh(y[0])] * task.plant.nu
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


def _latent_euler(task):
    y = [plants.symbol(o.name) for o in task.observations]
    z = plants.symbol("z0")
    r = [plants.symbol(n) for n in task.targets]
    target = r[0] if r else 0
    return SymbolicPolicy(
        observations=tuple(o.name for o in task.observations),
        targets=task.targets,
        latent=("z0",),
        controls=task.plant.inputs,
        f=(-2 * z + y[0] - target,),
        g=(-1.5 * z - 0.3 * sp.sin(z),),
        dt=task.dt,
        integrator="rk4",
        input_limits=task.input_limits,
    )


CASES = [
    ("sho/noisy", "lqg", 150),
    ("sho/noisy", "euler-latent", 150),
    ("cstr/varying", "lqg-ss", 40),
    ("mountaincar/continuous", "static", 120),
]


PARAMS = [pytest.param(*c, True, id=f"{c[0]}-{c[1]}-noisy") for c in CASES] + [
    pytest.param(*c, False, id=f"{c[0]}-{c[1]}-noise-free", marks=() if i == 0 else pytest.mark.slow) for i, c in enumerate(CASES)
]


@pytest.mark.parametrize("name,kind,ticks,noisy", PARAMS)
def test_casadi_closed_loop_equals_jax_simulator(name, kind, ticks, noisy):
    task = plants.get_task(name)
    task = task.replace(horizon=ticks * task.dt)
    if not noisy:
        task = task.replace(
            process_noise=0.0, observations=tuple(plants.Observation(o.name, o.expr, 0.0) for o in task.observations)
        )
    if kind in validation.LQG_VARIANTS:
        policy = validation.lqg(task, kind)
    elif kind == "static":
        policy = _static(task)
    else:
        policy = _latent_euler(task)
    sim = Simulator(task)
    scen = sim.scenarios(stream_key(3, "test"), 2)
    ro = sim.simulate(policy, scen, save=True)
    cl = build_closed_loop(task, policy)
    for i in range(2):
        s = scen.take(i)
        out = cl.run(np.asarray(s.x0), np.asarray(s.r), np.asarray(s.p), noise=noise_from_simulator(sim.noise_sequence(s)))
        scale = 1.0 + np.max(np.abs(np.asarray(ro.x[i])))
        np.testing.assert_allclose(out["x"], np.asarray(ro.x[i]), rtol=0, atol=1e-8 * scale)
        np.testing.assert_allclose(out["u"], np.asarray(ro.u[i]), rtol=0, atol=1e-8 * (1 + np.max(np.abs(out["u"]))))
        np.testing.assert_allclose(out["y"], np.asarray(ro.y[i]), rtol=0, atol=1e-8 * scale)
        if policy.nz:
            np.testing.assert_allclose(out["z"], np.asarray(ro.z[i]), rtol=0, atol=1e-8 * (1 + np.max(np.abs(out["z"]))))
        assert out["cost"] == pytest.approx(float(ro.cost[i]), rel=1e-8, abs=1e-10)
        assert out["success"] == bool(ro.success[i])
        assert out["finite"] == bool(ro.finite[i])


def test_knobs_change_the_loop_and_nominal_knobs_do_not():
    task = plants.get_task("sho/noisy").replace(horizon=2.0)
    policy = validation.lqg(task, "lqg-ss")
    cl = build_closed_loop(task, policy)
    x0, r, p = np.array([1.0, 0.0]), np.array([0.5]), task.nominal_parameters
    a = cl.run(x0, r, p)
    b = cl.run(x0, r, p, knobs=[1.0, 1.0, 1.0])
    c = cl.run(x0, r, p, knobs=[0.5, 1.0, 1.0])
    assert a["cost"] == b["cost"]
    assert c["cost"] != pytest.approx(a["cost"], rel=1e-3)
    d = build_closed_loop(task, policy, delay=2).run(x0, r, p)
    # with a delay of two ticks the first two controls act on the pre-start measurement h(x0)
    np.testing.assert_allclose(d["u"][:3, 0], d["u"][:3, 0])
    assert d["cost"] != pytest.approx(a["cost"], rel=1e-6)


def test_cvodes_agrees_with_the_fixed_step_loop():
    task = plants.get_task("sho/noisy").replace(horizon=4.0)
    policy = validation.lqg(task, "lqg-ss")
    x0, r, p = np.array([1.0, 0.0]), np.array([0.5]), task.nominal_parameters
    a = build_closed_loop(task, policy).run(x0, r, p)
    b = build_closed_loop(task, policy, integrator="cvodes").run(x0, r, p)
    # Euler at h = 0.02 s against an adaptive integrator: agreement to the fixed step's discretisation error
    assert b["cost"] == pytest.approx(a["cost"], rel=0.05)
    assert b["cost"] != a["cost"]
