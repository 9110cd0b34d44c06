"""Sweeps: the batched VM evaluation and the compiled C give the scalar closed loop's costs."""

import shutil

import casadi as ca
import numpy as np
import pytest
import sympy as sp

import plants
import validation
from synth import Simulator, SymbolicPolicy
from synth._runfolder import stream_key
from validation._batch import batch_function
from validation._closedloop import NOMINAL_KNOBS, build_closed_loop, noise_from_simulator
from validation._sweep import Base, Dim, evaluate, parameter_box, point_function, sample


def _static(task):
    y = [plants.symbol(o.name) for o in task.observations]
    g = [-0.5 * sum(y) + 0.1 * sp.tanh(y[0])] * task.plant.nu
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


def _setup(name, kind, ticks, delay=0):
    task = plants.get_task(name)
    task = task.replace(horizon=ticks * task.dt)
    policy = validation.lqg(task, kind) if kind in validation.LQG_VARIANTS else _static(task)
    sim = Simulator(task)
    s = sim.scenarios(stream_key(5, "test"), 1).take(0)
    NY, NW = noise_from_simulator(sim.noise_sequence(s))
    base = Base(np.asarray(s.x0, float), np.asarray(s.r, float), task.nominal_parameters, NOMINAL_KNOBS.copy(), NY, NW)
    return task, policy, build_closed_loop(task, policy, delay=delay), base


CASES = [
    ("sho/noisy", "lqg", 120, 0),
    ("sho/noisy", "lqg-ss", 120, 2),
    ("cstr/varying", "lqg-ss", 30, 0),
    ("mountaincar/continuous", "static", 150, 0),
]


@pytest.mark.parametrize("name,kind,ticks,delay", CASES, ids=[f"{c[0]}-{c[1]}-delay{c[3]}" for c in CASES])
def test_batched_vm_equals_the_scalar_closed_loop(name, kind, ticks, delay):
    task, policy, cl, base = _setup(name, kind, ticks, delay)
    dims = parameter_box(task, widen=3.0)  # wide enough that some points diverge or fail
    dims += [
        Dim("knob", "gain", 0.2, 3.0),
        Dim("knob", "obs_scale", 0.0, 4.0),
        Dim("x0", task.plant.states[0], *task.initial_state[0].support),
    ]
    pts = sample(dims, 37, "lhs", seed=3)  # 37: two batches of 19, the last padded
    cost, succ, _, info = evaluate(cl, dims, base, pts, cores=2, backend="vm")
    assert (info["batches"], info["width"]) == (2, 19)
    point = point_function(cl, dims, base)
    ref = [point(p, base.NY, base.NW) for p in pts]
    ref_cost = np.array([float(c) for c, _ in ref])
    ref_succ = np.array([float(s) > 0.5 for _, s in ref])
    np.testing.assert_array_equal(cost, ref_cost)  # the same operations in the same order: bit for bit
    np.testing.assert_array_equal(succ, ref_succ)
    assert len(set(np.round(ref_cost[np.isfinite(ref_cost)], 9))) > 10  # the points really differ


def test_batch_function_replays_every_operation():
    x = ca.SX.sym("x", 3)
    w = ca.SX.sym("w", 2)
    e = ca.vertcat(
        ca.exp(-x[0]) * x[1] / (x[2] + 2),
        ca.fmin(ca.fmax(x[0] - w[0], -1), 1),
        ca.if_else(x[1] > w[1], ca.sin(x[2]), ca.sqrt(ca.fabs(x[0]))),
        0,
        ca.fmod(x[2], 0.7) ** 3,
    )
    f = ca.Function("f", [x, w], [e, ca.tanh(w[0])])
    fb = batch_function(f, 5, shared=(1,))
    X = np.random.default_rng(0).normal(size=(3, 5))
    W = np.array([[0.3], [-0.2]])
    out, out2 = fb(X, W)
    for j in range(5):
        a, b = f(X[:, j], W)
        np.testing.assert_array_equal(np.asarray(out)[:, j], np.asarray(a).ravel())
        assert float(np.asarray(out2)[0, j]) == float(b)
    with pytest.raises(TypeError, match="SX Function"):
        batch_function(ca.Function("g", [ca.MX.sym("m")], [ca.MX.sym("m") * 0]), 2)


@pytest.mark.compiler
def test_compiled_chunks_equal_the_vm_and_are_cached(tmp_path):
    if shutil.which("gcc") is None and shutil.which("cc") is None:
        pytest.skip("no C compiler on PATH")
    task, policy, cl, base = _setup("sho/noisy", "lqg", 100)
    dims = parameter_box(task, widen=3.0)
    pts = sample(dims, 23, "random", seed=1)
    a, sa, _, _ = evaluate(cl, dims, base, pts, 2, "vm")
    b, sb, _, info = evaluate(cl, dims, base, pts, 2, "c", cache=tmp_path)
    assert not info["cache_hit"] and info["library"].startswith(str(tmp_path))
    np.testing.assert_allclose(b, a, rtol=1e-12)
    np.testing.assert_array_equal(sa, sb)
    c, _, _, info2 = evaluate(cl, dims, base, pts, 2, "c", cache=tmp_path)
    assert info2["cache_hit"] and info2["library"] == info["library"]
    np.testing.assert_array_equal(c, b)
