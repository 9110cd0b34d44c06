"""`validation.screen`: the certificate's cheap checks for choosing among candidate policies."""

import math

import numpy as np
import pytest
import scipy.linalg
import sympy as sp

import plants
import validation
from synth import SymbolicPolicy
from validation import box_stability, screen
from validation._singular import denominators, near_singular_terms
from validation._sweep import parameter_box, vertex_subset, vertices


def _with_f0(seed: SymbolicPolicy, extra) -> SymbolicPolicy:
    """`seed` with `extra(z, y)` added to the first latent update."""
    f = list(seed.f)
    f[0] = f[0] + extra(seed.z, seed.y)
    keep = ("observations", "targets", "latent", "controls", "g", "dt", "integrator", "latent_init", "input_limits")
    return SymbolicPolicy(**{k: getattr(seed, k) for k in keep}, f=tuple(f))


@pytest.fixture(scope="module")
def sho():
    task = plants.get_task("sho/noisy")
    seed = validation.lqg(task, "lqg-ss")
    return task, seed, screen(task, seed)


def test_lqg_is_locally_stable_with_a_disk_margin_and_its_vertex_radii_are_exact(sho):
    """The steady-state LQG on sho/noisy: stable at the nominal point with the disk margin of the
    validation's margins; at every vertex of the (omega, zeta) box the spectral radius equals the
    one of the closed loop written from the design's matrices (plant at the vertex, ZOH by scipy)."""
    task, seed, s = sho
    assert s["spectral_radius_nominal"] < 1
    m = validation._margins.policy_margins(task, seed, validation.design(task).x_op)
    assert s["disk_margin"] == pytest.approx(validation._margins.summary(m)["disk_margin"]["alpha"], rel=1e-12)
    assert s["disk_margin"] >= 0.5 and "disk_margin_min" not in s["failed"]
    d = validation.design(task)
    names = [q.name for q in task.plant.parameters]
    rows = {tuple(r["point"].values()): r["radius"] for r in s["box_stability"]["not_stable"]}
    checked = vertices(parameter_box(task))
    radii = []
    for v in checked:
        p = dict(zip(names, task.nominal_parameters))
        p.update(zip([dm.name for dm in parameter_box(task)], v))
        A = np.array([[0.0, 1.0], [-p["omega"], -p["zeta"]]])
        M = np.zeros((3, 3))
        M[:2, :2], M[:2, 2] = A, [0.0, 1.0]
        E = scipy.linalg.expm(M * task.dt)
        Av, Bv = E[:2, :2], E[:2, 2:]
        acl = np.block([[Av, -Bv @ d.K], [d.L @ d.C, d.Ad - d.Bd @ d.K - d.L @ d.C]])
        radii.append(max(abs(np.linalg.eigvals(acl))))
    assert s["spectral_radius_vertices_max"] == pytest.approx(max(radii), abs=1e-9)
    # the undamped, spring-less corner (a double integrator) is outside what the nominal LQG holds
    unstable = {tuple(v) for v, r in zip(checked, radii) if r >= 1}
    assert set(rows) == unstable and (0.0, 0.0) in unstable
    assert ("robust_spectral_radius_max" in s["failed"]) == bool(unstable)


def test_worst_vertex_ratio_is_the_worst_vertex_mean_over_the_nominal(sho):
    task, seed, s = sho
    assert s["vertices"] == {"total": 4, "simulated": 4, "trajectories": 4}
    assert s["worst_vertex_ratio"] == pytest.approx(s["worst_vertex_cost"] / s["nominal_cost"])
    assert s["worst_vertex_cost"] >= s["nominal_cost"] > 0
    assert ("worst_case_ratio_max" in s["failed"]) == (s["worst_vertex_ratio"] > 10)
    # a reference cost from the caller replaces the screen's own nominal cost in the ratio
    s2 = screen(task, seed, {"robust_spectral_radius_max": False}, cost=2 * s["nominal_cost"])
    assert s2["worst_vertex_ratio"] == pytest.approx(s["worst_vertex_cost"] / (2 * s["nominal_cost"]))
    assert "robust_spectral_radius_max" not in s2["failed"]


@pytest.mark.parametrize("kind", ["scheduled gain", "bounded switch"])
def test_a_near_singular_policy_is_flagged_and_does_not_pass(sho, kind):
    """The scheduled observer gain of issue 22 (`0.125 / (a2**2 + 0.0029)`, huge at rest) and a
    bounded but steep switch `0.01 x1^2 / (x1^2 + 1e-6)` (its linearisation at rest is the LQG's):
    both are flagged on the denominator, and fail where the LQG passes."""
    task, seed, base = sho
    if kind == "scheduled gain":
        pol = _with_f0(seed, lambda z, y: sp.Float(0.125) / (z[1] ** 2 + sp.Float(0.0029)) * (y[0] - z[0]))
        den = z1sq = seed.z[1] ** 2 + sp.Float(0.0029)
    else:
        pol = _with_f0(seed, lambda z, y: sp.Float(0.01) * z[1] ** 2 / (z[1] ** 2 + sp.Float(1e-6)))
        den = z1sq = seed.z[1] ** 2 + sp.Float(1e-6)
    assert [d for _, d in denominators(pol)] == [z1sq]
    s = screen(task, pol)
    assert s["near_singular"] is True and not s["passes"]
    assert "near_singular" in s["failed"] and "near_singular" not in base["failed"]
    t = s["near_singular_term"]
    assert t["denominator"] == sp.sstr(den) and t["where"].startswith("f[0]")
    assert t["ratio"] < 0.02 and t["min_abs"] >= float(den.subs(seed.z[1], 0)) - 1e-15
    assert "spectral_radius" in t["linearisation_there"]
    if kind == "bounded switch":  # at rest the extra term has zero slope: the nominal loop is the LQG's
        assert s["spectral_radius_nominal"] == pytest.approx(base["spectral_radius_nominal"], abs=1e-9)
        assert set(s["failed"]) - set(base["failed"]) <= {"near_singular", "worst_case_ratio_max"}


def test_denominator_measures():
    x, y = plants.symbol("x"), plants.symbol("y")
    samples = {x: np.linspace(-1, 1, 201), y: np.linspace(2, 4, 201)}
    pol = SymbolicPolicy(
        observations=("x", "y"),
        targets=(),
        latent=(),
        controls=("u",),
        f=(),
        g=(1 / (x**2 + 1) + sp.sqrt(1 / y) + x / (x + 0.5) + 3 / sp.Integer(7),),
        dt=0.1,
    )
    out = {d["denominator"]: d for d in near_singular_terms(pol, samples, ratio=0.02)}
    assert set(out) == {"x**2 + 1", "y", "x + 0.5"}  # constants are not denominators
    assert not out["x**2 + 1"]["near_singular"] and out["x**2 + 1"]["min_abs"] == pytest.approx(1.0)
    assert not out["y"]["near_singular"]
    assert out["x + 0.5"]["changes_sign"] and out["x + 0.5"]["near_singular"] and out["x + 0.5"]["ratio"] == 0.0


def test_screening_is_deterministic(sho):
    task, seed, s = sho
    again = screen(task, seed)
    drop = ("seconds", "box_stability")
    assert {k: v for k, v in again.items() if k not in drop} == {k: v for k, v in s.items() if k not in drop}
    assert {k: v for k, v in again["box_stability"].items() if k != "seconds"} == {
        k: v for k, v in s["box_stability"].items() if k != "seconds"
    }


def test_many_vertices_are_sampled_and_said_so():
    """cstr/varying has 8 parameter ranges (256 vertices): with a cap of 8, a seeded subset of 8
    distinct vertices is linearised, and the evidence says so."""
    task = plants.get_task("cstr/varying")
    dims = parameter_box(task)
    assert len(dims) == 8
    pts, total = vertex_subset(dims, 8, seed=3)
    assert total == 256 and len({tuple(p) for p in pts}) == 8
    allv = {tuple(v) for v in vertices(dims)}
    assert all(tuple(p) in allv for p in pts)
    assert np.array_equal(pts, vertex_subset(dims, 8, seed=3)[0])
    pol = validation.lqg(task, "lqg-ss")
    bs = box_stability(
        task,
        pol,
        dims,
        validation.design(task).x_op,
        max_vertices=8,
        seed=3,
        extra=[("centre", [(dm.low + dm.high) / 2 for dm in dims])],
    )
    assert bs["sampled"] and bs["vertices_checked"] == 8 and bs["checked"] == 9 and bs["vertices_total"] == 256
    assert math.isfinite(bs["radius_max"])
    text = validation._certificate.describe_box_stability(bs)
    assert "8 of the 256 vertices" in text and "seed 3" in text and "the centre" in text


def test_a_loop_that_reaches_no_equilibrium_fails_the_screen_as_it_fails_the_certificate(sho):
    """A latent state the control never reads creeping towards 100 from 0: the loop does not settle
    within the analysis, and the screen fails the rows the certificate would fail for it (it used
    to pass them by leaving them out)."""
    task, seed, _ = sho
    creep = plants.symbol("creep")
    creeping = SymbolicPolicy(
        **{k: getattr(seed, k) for k in ("observations", "targets", "controls", "g", "dt", "integrator", "input_limits")},
        latent=seed.latent + ("creep",),
        f=seed.f + (creep + sp.Float(1e-4) * (100 - creep),),
        latent_init=seed.latent_init + (0.0,),
    )
    s = screen(task, creeping)
    assert s["spectral_radius_nominal"] is None and "does not settle" in s["local_analysis"]
    assert {"spectral_radius_max", "disk_margin_min", "robust_spectral_radius_max"} <= set(s["failed"])
    assert not s["passes"]
