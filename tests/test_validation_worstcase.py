"""Sweeps and the worst-case search: a planted corner that random sampling misses."""

import math

import numpy as np
import pytest
import sympy as sp

import plants
from synth import SymbolicPolicy
from validation._closedloop import NOMINAL_KNOBS, build_closed_loop
from validation._sweep import Base, parameter_box, sample, sweep
from validation._worstcase import confirm, worst_case

PLANT = """
[plant]
name = "corner"
description = "Scalar plant that turns unstable only when a and b are both close to 1"
time = "continuous"
states = [{ name = "x" }]
inputs = [{ name = "u" }]

[plant.parameters]
a = { nominal = 0.5, range = [0.0, 1.0] }
b = { nominal = 0.5, range = [0.0, 1.0] }

[plant.dynamics]
x = "(-1 + 3*(a*b)**12)*x + u"

[plant.diffusion]
x = 0
"""

TASK = """
[task]
name = "corner/task"
plant = "plant.toml"
horizon = 5.0
dt = 0.05
substeps = 20

[task.observations]
y = { expr = "x", noise = 0.0 }

[task.initial]
x = { fixed = 1.0 }

[task.cost]
Q = [1.0]
R = [0.0]
state_reference = [0]
input_reference = [0]
aggregate = "mean"
"""


@pytest.fixture(scope="module")
def corner(tmp_path_factory):
    d = tmp_path_factory.mktemp("corner")
    (d / "plant.toml").write_text(PLANT)
    (d / "task.toml").write_text(TASK)
    task = plants.get_task(str(d / "task.toml"))
    y = plants.symbol("y")
    policy = SymbolicPolicy(
        observations=("y",), targets=(), latent=(), controls=("u",), f=(), g=(sp.Float(-0.5) * y,), dt=task.dt
    )
    cl = build_closed_loop(task, policy)
    base = Base(np.array([1.0]), np.zeros(0), task.nominal_parameters, NOMINAL_KNOBS.copy(), *cl.zero_noise())
    return task, policy, cl, base


def test_search_finds_the_corner_that_random_sampling_misses(corner):
    task, policy, cl, base = corner
    dims = parameter_box(task)
    assert [d.name for d in dims] == ["a", "b"]
    sw = sweep(cl, dims, base, 64, "random", seed=1, cores=2, backend="vm")
    sweep_max = max(sw["cost"])
    # the planted corner: the loop is unstable where 3 (a b)^12 > 1.5, about 0.2% of the box
    frac = np.mean([3 * (a * b) ** 12 > 1.5 for a, b in sample(dims, 20000, "random", seed=2)])
    assert frac < 0.005
    for vertices_on in (True, False):
        wc = worst_case(cl, dims, base, starts=4, seed=0, seed_points=np.array(sw["points"]), use_vertices=vertices_on)
        worst = wc["worst"]
        assert worst["cost"] >= sweep_max
        assert worst["cost"] > 100 * sweep_max  # far worse than anything the sampling saw
        np.testing.assert_allclose(worst["point"], [1.0, 1.0], atol=1e-6)
        if not vertices_on:
            assert worst["found_by"].startswith("ipopt")
            assert wc["converged_starts"] >= 1
        else:
            assert wc["vertices"]["max_cost"] == pytest.approx(worst["cost"], rel=1e-9)
    conf = confirm(task, policy, cl, dims, base, worst["point"], rtol=0.05)
    assert conf["confirmed"], conf
    assert math.isfinite(conf["cost_cvodes"]) and conf["cost_cvodes"] != conf["cost_fixed_step"]


def test_designs_cover_the_box(corner):
    task, *_ = corner
    dims = parameter_box(task, widen=2.0)
    assert (dims[0].low, dims[0].high) == (-0.5, 1.5)
    for design in ("lhs", "sobol", "grid", "random"):
        pts = sample(dims, 49, design, seed=0)
        assert pts.shape[1] == 2 and len(pts) >= 49
        assert pts.min() >= -0.5 and pts.max() <= 1.5
    with pytest.raises(ValueError, match="valid designs"):
        sample(dims, 4, "halton")


@pytest.mark.compiler
def test_generated_c_gives_the_vm_costs(corner):
    import shutil

    if shutil.which("gcc") is None and shutil.which("cc") is None:
        pytest.skip("no C compiler on PATH")
    task, policy, cl, base = corner
    dims = parameter_box(task)
    a = sweep(cl, dims, base, 16, "lhs", seed=0, backend="vm")
    b = sweep(cl, dims, base, 16, "lhs", seed=0, backend="c")
    np.testing.assert_allclose(b["cost"], a["cost"], rtol=1e-12)
