"""Every built-in task: the JAX, CasADi and numpy backends agree; linearize is exact; JAX is jit/vmap/grad-able."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import plants

TASKS = plants.builtin_tasks()
_LOADED = {name: plants.get_task(name) for name in TASKS}
_JAX = {name: plants.to_jax(t) for name, t in _LOADED.items()}
_NUMPY = {name: plants.to_numpy(t) for name, t in _LOADED.items()}
_CASADI = {name: plants.to_casadi(t) for name, t in _LOADED.items()}


def _draw_point(task, u01):
    """A random state, input, target and parameter vector inside the task's typical region."""
    rng = np.random.default_rng(u01)
    lo = np.array([d.support[0] for d in task.initial_state])
    hi = np.array([d.support[1] for d in task.initial_state])
    span = np.maximum(hi - lo, 1.0)
    x = lo - 0.5 * span + 2.0 * span * rng.random(task.plant.nx)
    ulo = np.array([max(lo_, -5.0) for lo_, _ in task.input_limits])
    uhi = np.array([min(hi_, 5.0) for _, hi_ in task.input_limits])
    u = ulo + (uhi - ulo) * rng.random(task.plant.nu)
    r = np.array([d.support[0] + (d.support[1] - d.support[0]) * rng.random() for d in task.target_distribution])
    p = np.array([q.range[0] + (q.range[1] - q.range[0]) * rng.random() if q.range else q.nominal for q in task.plant.parameters])
    return x, u, r, p


def _close(a, b, what):
    a = np.asarray(a, float).ravel()
    b = np.asarray(b, float).ravel()
    assert a.shape == b.shape, what
    scale = np.maximum(1.0, np.abs(b))
    both_nan = np.isnan(a) & np.isnan(b)
    assert np.all(both_nan | (np.abs(a - b) <= 1e-10 * scale)), f"{what}: {a} vs {b}"


@pytest.mark.parametrize("name", TASKS)
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_backends_agree(name, seed):
    task = _LOADED[name]
    x, u, r, p = _draw_point(task, seed)
    jx, nf, cf = _JAX[name], _NUMPY[name], _CASADI[name]
    ref = nf.dynamics(0.0, x, u, p)
    _close(jx.dynamics(0.0, jnp.asarray(x), jnp.asarray(u), jnp.asarray(p)), ref, f"{name} dynamics jax")
    _close(np.array(cf["dynamics"](x, u, p)), ref, f"{name} dynamics casadi")
    obs = nf.observe(x, p)
    _close(jx.observe(jnp.asarray(x), jnp.asarray(p)), obs, f"{name} observe jax")
    _close(np.array(cf["observe"](x, p)), obs, f"{name} observe casadi")
    cost = nf.stage_cost(x, u, r, p)
    _close(jx.stage_cost(jnp.asarray(x), jnp.asarray(u), jnp.asarray(r), jnp.asarray(p)), cost, f"{name} cost jax")
    _close(np.array(cf["stage_cost"](x, u, r, p)), cost, f"{name} cost casadi")
    _close(jx.diffusion(jnp.asarray(p)), nf.diffusion(p), f"{name} diffusion jax")
    if nf.terminate is not None:
        ev = bool(nf.terminate(x, r, p))
        assert bool(jx.terminate(jnp.asarray(x), jnp.asarray(r), jnp.asarray(p))) == ev
        assert bool(float(cf["terminate"](x, r, p))) == ev


@pytest.mark.parametrize("name", TASKS)
def test_jax_backend_jits_vmaps_and_differentiates(name):
    task = _LOADED[name]
    fns = _JAX[name]
    pts = [_draw_point(task, s) for s in range(8)]
    xs, us, rs, ps = (jnp.asarray(np.stack(a)) for a in zip(*pts))
    f = jax.jit(jax.vmap(lambda x, u, p: fns.dynamics(0.0, x, u, p)))
    out = f(xs, us, ps)
    assert out.shape == (8, task.plant.nx)
    ref = np.stack([_NUMPY[name].dynamics(0.0, *[np.asarray(a[i]) for a in (xs, us, ps)]) for i in range(8)])
    np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-12, atol=1e-12)
    grad = jax.grad(lambda u: jnp.sum(fns.dynamics(0.0, xs[0], u, ps[0]) ** 2))(us[0])
    assert grad.shape == (task.plant.nu,)
    assert np.all(np.isfinite(np.asarray(grad)))


@pytest.mark.parametrize("name", [n for n in TASKS if _LOADED[n].plant.time == "continuous"] + ["cartpole/balance"])
@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_linearize_matches_finite_differences(name, seed):
    task = _LOADED[name]
    x, u, r, p = _draw_point(task, seed)
    lin = plants.linearize(task, x, u, p, r)
    f = _NUMPY[name].dynamics
    h = _NUMPY[name].observe
    for j in range(task.plant.nx):
        e = np.zeros(task.plant.nx)
        step = 1e-6 * max(1.0, abs(x[j]))
        e[j] = step
        col = (f(0.0, x + e, u, p) - f(0.0, x - e, u, p)) / (2 * step)
        np.testing.assert_allclose(lin.A[:, j], col, rtol=1e-5, atol=1e-6 * max(1.0, np.max(np.abs(col))))
        ccol = (h(x + e, p) - h(x - e, p)) / (2 * step)
        np.testing.assert_allclose(lin.C[:, j], ccol, rtol=1e-5, atol=1e-6)
    for j in range(task.plant.nu):
        e = np.zeros(task.plant.nu)
        step = 1e-6 * max(1.0, abs(u[j]))
        e[j] = step
        col = (f(0.0, x, u + e, p) - f(0.0, x, u - e, p)) / (2 * step)
        np.testing.assert_allclose(lin.B[:, j], col, rtol=1e-5, atol=1e-6 * max(1.0, np.max(np.abs(col))))


def test_operating_point_holds_the_target():
    task = _LOADED["cstr/varying"]
    x, u = plants.operating_point(task, r=[400.0])
    assert x[1] == pytest.approx(400.0)
    residual = _NUMPY["cstr/varying"].dynamics(0.0, x, u, task.nominal_parameters)
    assert np.max(np.abs(residual)) < 1e-8
    assert not math.isnan(u[0])
