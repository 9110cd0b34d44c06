"""Margins of the linearised sampled-data loop, cross-checked by independent computations."""

import math

import control
import numpy as np
import pytest

import plants
import validation
from validation._linearize import equilibrium, linearize_loop
from validation._margins import analyse, loop_at_input, lqr_margins, policy_margins, summary


@pytest.fixture(scope="module")
def sho():
    task = plants.get_task("sho/noisy")
    d = validation.design(task)
    return task, d


def test_stability_margin_equals_inverse_sensitivity_peak(sho):
    task, d = sho
    pol = validation.policy_from_design(task, d, "lqg-ss")
    xe, ze, ue = equilibrium(task, pol, d.x_op)
    lin = linearize_loop(task, pol, xe, ze, ue)
    L = loop_at_input(lin, 0)
    res = analyse(lin, crosscheck=True)["channels"][0]
    pc = res["python_control"]
    # ||S||inf on a dense grid up to Nyquist, independent of control.norm
    w = np.linspace(1e-5, math.pi / task.dt, 400001)
    S = 1.0 / (1.0 + L(np.exp(1j * w * task.dt)))
    s_peak = float(np.max(np.abs(np.asarray(S).ravel())))
    assert res["stability_margin"]["sm"] == pytest.approx(1.0 / s_peak, rel=1e-6)
    # python-control agrees: its H-infinity norm of S, stability_margins' sm and pm, balanced disk margins
    assert 1.0 / pc["S_hinf"] == pytest.approx(res["stability_margin"]["sm"], rel=1e-6)
    assert pc["sm"] == pytest.approx(res["stability_margin"]["sm"], rel=1e-4)
    assert pc["pm"] == pytest.approx(res["phase_margin"]["deg"], abs=1e-4)
    assert pc["disk_alpha"] == pytest.approx(res["disk_margin"]["alpha"], rel=1e-3)
    assert pc["disk_gain_dB"] == pytest.approx(res["disk_margin"]["gain_dB"], rel=1e-3)
    assert pc["disk_phase_deg"] == pytest.approx(res["disk_margin"]["phase_deg"], rel=1e-3)
    # the balanced disk margin lies within the classical margins
    gm = res["gain_margin"]["effective_dB"]
    assert 0 < res["disk_margin"]["gain_dB"] <= gm + 1e-9
    assert 0 < res["disk_margin"]["phase_deg"] <= res["phase_margin"]["deg"] + 1e-9


def test_gain_and_phase_margins_are_where_the_loop_goes_unstable(sho):
    task, d = sho
    pol = validation.policy_from_design(task, d, "lqg-ss")
    xe, ze, ue = equilibrium(task, pol, d.x_op)
    lin = linearize_loop(task, pol, xe, ze, ue)
    res = analyse(lin)
    assert res["spectral_radius"] < 1
    ch = res["channels"][0]
    gm = ch["gain_margin"]["absolute"]

    def rho(B):
        return analyse({**lin, "Bd": B})["spectral_radius"]

    assert rho(lin["Bd"] * gm * 0.999) < 1 < rho(lin["Bd"] * gm * 1.001)
    # this LQG loop has its gain margin at DC, which python-control's frequency-response method misses
    assert ch["gain_margin"]["at_dc"] and ch["gain_margin"]["frequency_rad_s"] == 0.0
    assert analyse(lin, crosscheck=True)["channels"][0]["python_control"]["gm"] > 2 * gm
    # a pure delay of (delay margin) at the crossover: L e^{-j w tau} = -1 there
    L = loop_at_input(lin, 0)
    wgc, pm = ch["phase_margin"]["frequency_rad_s"], ch["phase_margin"]["deg"]
    val = complex(np.asarray(L(np.exp(1j * wgc * task.dt))).ravel()[0])
    assert abs(val) == pytest.approx(1.0, abs=1e-6)
    assert math.degrees(np.angle(val)) + 180 == pytest.approx(pm, abs=1e-8)
    assert ch["delay_margin"]["s"] == pytest.approx(math.radians(pm) / wgc, rel=1e-12)


def test_spectral_radius_matches_the_lqg_separation_structure(sho):
    task, d = sho
    pol = validation.policy_from_design(task, d, "lqg-ss")
    m = policy_margins(task, pol, d.x_op)
    eig = np.concatenate([np.linalg.eigvals(d.Ad - d.Bd @ d.K), np.linalg.eigvals(d.Ad - d.L @ d.C)])
    assert m["spectral_radius"] == pytest.approx(float(np.max(np.abs(eig))), rel=1e-9)


def test_lqr_has_its_classical_guarantees_and_lqg_loses_robustness(sho):
    task, d = sho
    lqr = summary(lqr_margins(d))
    lqg = summary(policy_margins(task, validation.policy_from_design(task, d, "lqg"), d.x_op))
    assert lqr["phase_margin"]["deg"] > 60
    assert lqr["disk_margin"]["alpha"] > lqg["disk_margin"]["alpha"]


def test_unstable_loop_is_reported_and_diverging_loop_has_no_margins():

    from synth import SymbolicPolicy

    task = plants.get_task("sho/noisy")
    y = plants.symbol("y_x")

    def static(expr):
        return SymbolicPolicy(
            observations=("y_x", "y_v"), targets=("r",), latent=(), controls=("u",), f=(), g=(expr,), dt=task.dt
        )

    m = policy_margins(task, static(5 * y), np.zeros(2))  # positive feedback: x = 0 is an unstable equilibrium
    assert m["applicable"] and m["spectral_radius"] > 1
    m = policy_margins(task, static(1 + y**2), np.zeros(2))  # -x + 1 + x**2 = 0 has no real root: it blows up
    assert m["applicable"] is False and "diverges" in m["reason"]
    assert control is not None


def test_frequency_response_of_a_pure_integrator_is_unbounded_at_dc_only():
    """A controller latent that integrates (pole z = 1) makes the loop singular at w = 0: the
    response there is infinite instead of an exception, and finite elsewhere."""
    import control

    from validation._margins import frequency_response

    dt = 0.02
    L = control.ss([[1.0]], [[dt]], [[1.0]], [[0.0]], dt)
    h = frequency_response(L, np.array([0.0, 1.0, 10.0]))
    assert np.isinf(h[0].real)
    z = np.exp(1j * np.array([1.0, 10.0]) * dt)
    assert np.allclose(h[1:], dt / (z - 1.0), rtol=1e-12)


def _open_loop_unstable_cases():
    """(label, lin): loops whose plant (and controller) are unstable on their own, closed-loop stable."""
    both = {
        "Ad": np.array([[1.05]]),
        "Bd": np.array([[1.0]]),
        "Cp": np.array([[1.0]]),
        "Ak": np.array([[1.2]]),
        "Bk": np.array([[-0.2]]),
        "Ck": np.array([[1.0]]),
        "Dk": np.array([[-0.9]]),
        "dt": 0.1,
    }
    task = plants.get_task("cartpole/balance")
    pol = validation.lqg(task, "lqg-ss")
    xe, ze, ue = equilibrium(task, pol, validation.design(task).x_op)
    return [("plant 1.05 and controller 1.2", both), ("cartpole/balance lqg-ss", linearize_loop(task, pol, xe, ze, ue))]


@pytest.mark.parametrize("case", range(2))
def test_disk_margin_is_exact_for_open_loop_unstable_plants_and_controllers(case):
    """The disk margin comes from the closed-loop sensitivity, not from counting Nyquist crossings,
    so it holds when the plant or the controller is unstable by itself: every complex gain
    f = (2 + d) / (2 - d) with |d| < alpha keeps the closed loop stable (eigenvalues, no frequency
    response involved), and the gain on the disk's edge at the critical frequency puts a closed-loop
    pole on the unit circle (just outside, the loop is unstable)."""
    label, lin = _open_loop_unstable_cases()[case]
    assert max(abs(np.linalg.eigvals(lin["Ad"]))) > 1  # the plant is open-loop unstable
    if case == 0:
        assert max(abs(np.linalg.eigvals(lin["Ak"]))) > 1  # and so is the controller
    from validation._linearize import closed_loop_matrix
    from validation._margins import frequency_response

    L = loop_at_input(lin, 0)
    A, B, C = (np.asarray(m) for m in (L.A, L.B, L.C))
    assert np.allclose(A - B @ C, closed_loop_matrix(lin), atol=1e-14)  # gain f = 1 is the loop itself

    def rho(f):
        return max(abs(np.linalg.eigvals(A - f * B @ C)))

    res = analyse(lin, crosscheck=True)
    assert res["spectral_radius"] < 1
    disk = res["channels"][0]["disk_margin"]
    alpha = disk["alpha"]
    f_star = -1.0 / frequency_response(L, np.array([disk["frequency_rad_s"]]))[0]
    d_star = 2 * (f_star - 1) / (f_star + 1)
    assert abs(d_star) == pytest.approx(alpha, rel=1e-9)
    ring = 0.99 * alpha * np.exp(1j * np.linspace(0, 2 * np.pi, 361))
    assert max(rho((2 + d) / (2 - d)) for d in ring) < 1
    assert rho((2 + 1.01 * d_star) / (2 - 1.01 * d_star)) > 1
    assert res["channels"][0]["python_control"]["disk_alpha"] == pytest.approx(alpha, rel=1e-3)


def test_numpy_expm_equals_scipy():
    import scipy.linalg

    from validation._linearize import expm

    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 4, 6):
        for scale in (1e-3, 0.3, 3.0, 30.0):
            M = rng.standard_normal((n, n)) * scale
            ref = scipy.linalg.expm(M)
            assert np.max(np.abs(expm(M) - ref)) <= 1e-11 * max(1.0, np.max(np.abs(ref)))
    assert np.array_equal(expm(np.zeros((3, 3))), np.eye(3))
