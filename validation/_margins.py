"""Local analysis: the closed loop linearised at its equilibrium, and its stability margins.

The loop is discrete (`validation._linearize`: the policy's tick map around the plant discretised
with a zero-order hold at the control period).
The loop is broken at the plant input, one input channel at a time with the others closed. For
that discrete loop transfer `L(z)` (negative-feedback convention, a python-control `StateSpace`)
the margins come from its exact frequency response on a dense grid up to Nyquist, DC and Nyquist
included, with crossings refined by root finding; python-control's `stability_margins`, `norm` and
`disk_margins` are run beside them as a cross-check (`crosscheck=True`; its frequency-response
method misses a gain-margin crossing at DC, which LQG loops often have). Reported:

* gain margin as an absolute ratio and in dB, with its phase-crossover frequency (it can be 0 rad/s:
  an LQG loop with negative DC gain has its gain margin at DC);
* phase margin in degrees with its gain-crossover frequency; delay margin `pm / wgc` in seconds and
  in control periods;
* stability margin `sm = 1 / ||S||inf`, cross-checked against `control.norm(S, "inf")`;
* balanced (skew 0) disk margin: disk size, gain margin in dB and phase margin in degrees.

Frequencies are in rad/s (up to the Nyquist frequency pi/dt).
"""

from __future__ import annotations

import math
import warnings

import control
import numpy as np

from plants import Task
from synth import SymbolicPolicy

from ._linearize import LoopLinearizer, NoEquilibrium, closed_loop_matrix


def _num(v):
    v = float(v)
    return v if math.isfinite(v) else (math.inf if v > 0 else -math.inf if v < 0 else None)


def loop_at_input(lin: dict, channel: int) -> control.StateSpace:
    """The loop transfer `L(z)` broken at plant input `channel` (others closed), negative-feedback
    convention: closing `L` with negative feedback gives back the closed loop."""
    Ad, Bd, Cp, Ak, Bk, Ck, Dk = (lin[k] for k in ("Ad", "Bd", "Cp", "Ak", "Bk", "Ck", "Dk"))
    nu = Bd.shape[1]
    others = [j for j in range(nu) if j != channel]
    Bo = Bd[:, others]
    A = np.block([[Ad + Bo @ Dk[others] @ Cp, Bo @ Ck[others]], [Bk @ Cp, Ak]])
    B = np.vstack([Bd[:, [channel]], np.zeros((Ak.shape[0], 1))])
    C = -np.hstack([Dk[[channel]] @ Cp, Ck[[channel]]])
    return control.ss(A, B, C, np.zeros((1, 1)), lin["dt"])


def frequency_response(L: control.StateSpace, w: np.ndarray) -> np.ndarray:
    """`L(e^{j w dt})` of a SISO discrete state-space loop at the frequencies `w` (rad/s), vectorised."""
    A, B, C, D = (np.asarray(m, float) for m in (L.A, L.B, L.C, L.D))
    z = np.exp(1j * np.asarray(w, float) * L.dt)
    if A.size == 0:
        return np.full(z.shape, complex(D[0, 0]))
    M = z[:, None, None] * np.eye(A.shape[0]) - A
    Bz = np.broadcast_to(B.astype(complex), (len(z),) + B.shape)
    try:
        X = np.linalg.solve(M, Bz)
    except np.linalg.LinAlgError:
        # A pole exactly on the grid (e.g. a pure integrator in the controller, pole z = 1 at w = 0):
        # the loop gain is unbounded there.
        out = np.empty(len(z), complex)
        for k in range(len(z)):
            try:
                out[k] = (C @ np.linalg.solve(M[k], Bz[k]))[0, 0] + D[0, 0]
            except np.linalg.LinAlgError:
                out[k] = complex(np.inf, 0.0)
        return out
    return (C[None] @ X)[:, 0, 0] + D[0, 0]


def _grid(dt: float, n: int) -> np.ndarray:
    w_nyq = math.pi / dt
    w = np.concatenate([[0.0], np.logspace(math.log10(w_nyq) - 7, math.log10(w_nyq), n)])
    w[-1] = w_nyq
    return w


def _roots(fun, w: np.ndarray, values: np.ndarray) -> list[float]:
    from scipy.optimize import brentq

    out = []
    for i in np.nonzero(np.sign(values[:-1]) * np.sign(values[1:]) < 0)[0]:
        out.append(brentq(fun, w[i], w[i + 1], xtol=1e-13, rtol=1e-14))
    return out


def _peak(fun, w: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """Maximum of fun over [0, Nyquist] from the grid, refined around the best grid point."""
    from scipy.optimize import minimize_scalar

    i = int(np.argmax(values))
    lo, hi = w[max(i - 1, 0)], w[min(i + 1, len(w) - 1)]
    best = (float(values[i]), float(w[i]))
    if hi > lo:
        r = minimize_scalar(lambda x: -fun(x), bounds=(lo, hi), method="bounded", options={"xatol": 1e-12 * max(1.0, hi)})
        if -r.fun > best[0]:
            best = (float(-r.fun), float(r.x))
    return best


def critical_gains(L: control.StateSpace, dt: float, n_grid: int = 5001, w=None, Lw=None) -> list[tuple[float, float]]:
    """Every positive gain `k` at which `1 + k L` has a root on the unit circle, with its frequency:
    `k = -1 / L(e^{jw dt})` where the frequency response crosses the negative real axis. Frequencies
    0 and Nyquist (where the response is real) are included; crossings are refined by root finding."""
    if w is None:
        w = _grid(dt, n_grid)
        Lw = frequency_response(L, w)

    def resp(x):
        return complex(frequency_response(L, np.array([x]))[0])

    found = [(-1.0 / li.real, float(wi)) for wi, li in ((w[0], Lw[0]), (w[-1], Lw[-1])) if li.real < 0]
    for wc in _roots(lambda x: resp(x).imag, w[1:-1], Lw.imag[1:-1]):
        re = resp(wc).real
        if re < 0:
            found.append((-1.0 / re, float(wc)))
    return sorted(found)


def loop_margins(L: control.StateSpace, dt: float, n_grid: int = 5001, crosscheck: bool = False) -> dict:
    """Gain, phase, delay, stability and balanced disk margins of a SISO discrete loop `L`, explicit units.

    Computed from the exact frequency response on a dense grid up to Nyquist (DC and Nyquist
    included), crossings and peaks refined by root finding. With `crosscheck`, python-control's
    `stability_margins` and `disk_margins` are run on the same loop and reported beside them.
    """
    w = _grid(dt, n_grid)
    Lw = frequency_response(L, w)

    def resp(x):
        return complex(frequency_response(L, np.array([x]))[0])

    crit = critical_gains(L, dt, n_grid, w, Lw)
    up = [(k, f) for k, f in crit if k > 1]
    low = [(k, f) for k, f in crit if k < 1]
    g_up, w_up = up[0] if up else (math.inf, None)
    g_lo, w_lo = low[-1] if low else (0.0, None)
    # phase margin: at every gain crossover |L| = 1, the distance of the phase from -180 deg
    pms = []
    for wc in _roots(lambda x: abs(resp(x)) - 1.0, w, np.abs(Lw) - 1.0):
        ph = math.degrees(np.angle(resp(wc)))
        pms.append((((ph + 180.0) + 180.0) % 360.0 - 180.0, wc))
    pm, wgc = min(pms, key=lambda t: abs(t[0])) if pms else (math.inf, None)
    delay = math.radians(pm) / wgc if (pms and pm > 0 and wgc > 0) else (0.0 if pms and pm <= 0 else math.inf)
    # sensitivity peak and the balanced disk margin: alpha = 1 / max |S - 1/2|, S = 1 / (1 + L)
    s_peak, w_s = _peak(lambda x: abs(1.0 / (1.0 + resp(x))), w, np.abs(1.0 / (1.0 + Lw)))
    d_peak, w_d = _peak(lambda x: abs(1.0 / (1.0 + resp(x)) - 0.5), w, np.abs(1.0 / (1.0 + Lw) - 0.5))
    alpha = 1.0 / d_peak
    dgm = (2 + alpha) / (2 - alpha) if alpha < 2 else math.inf
    out = {
        "gain_margin": {
            "absolute": _num(g_up),
            "dB": _num(20 * math.log10(g_up)),
            "frequency_rad_s": w_up,
            "at_dc": w_up == 0.0,
            "lower_absolute": g_lo,
            "lower_dB": _num(20 * math.log10(g_lo)) if g_lo > 0 else -math.inf,
            "lower_frequency_rad_s": w_lo,
            # the smaller of the two distances (in dB) from the nominal gain to instability
            "effective_dB": _num(min(20 * math.log10(g_up), -20 * math.log10(g_lo) if g_lo > 0 else math.inf)),
        },
        "phase_margin": {
            "deg": _num(pm),
            "frequency_rad_s": wgc,
            "all_crossovers": [{"deg": p, "frequency_rad_s": f} for p, f in sorted(pms, key=lambda t: t[1])],
        },
        "delay_margin": {"s": _num(delay), "ticks": _num(delay / dt) if math.isfinite(delay) else None},
        "stability_margin": {"sm": 1.0 / s_peak, "S_hinf": s_peak, "frequency_rad_s": w_s},
        "disk_margin": {
            "skew": 0.0,
            "alpha": alpha,
            "gain_dB": _num(20 * math.log10(dgm)),
            "phase_deg": math.degrees(2 * math.atan(alpha / 2)),
            "frequency_rad_s": w_d,
        },
    }
    if crosscheck:
        out["python_control"] = python_control_margins(L, dt)
    return out


def python_control_margins(L: control.StateSpace, dt: float, n_freq: int = 2001) -> dict:
    """The same loop through python-control (`stability_margins`, `norm`, `disk_margins`), for cross-checks."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gm, pm, sm, wpc, wgc, wms = control.stability_margins(L)
        w_nyq = math.pi / dt
        omega = np.logspace(math.log10(w_nyq) - 5, math.log10(w_nyq) - 1e-9, n_freq)
        dm, dgm, dpm = control.disk_margins(L, omega, skew=0.0)
        S = control.feedback(control.ss([], [], [], [[1.0]], dt), L)
        s_inf = float(control.norm(S, "inf"))
    return {
        "gm": _num(gm),
        "wpc": _num(wpc),
        "pm": _num(pm),
        "wgc": _num(wgc),
        "sm": _num(sm),
        "wms": _num(wms),
        "S_hinf": s_inf,
        "disk_alpha": _num(dm),
        "disk_gain_dB": _num(dgm),
        "disk_phase_deg": _num(dpm),
        "notes": sorted({str(c.message) for c in caught}),
    }


def analyse(lin: dict, crosscheck: bool = False) -> dict:
    """Spectral radius of the closed loop and the margins of every input channel."""
    Acl = closed_loop_matrix(lin)
    eig = np.linalg.eigvals(Acl)
    rho = float(np.max(np.abs(eig))) if eig.size else 0.0
    channels = [loop_margins(loop_at_input(lin, i), lin["dt"], crosscheck=crosscheck) for i in range(lin["Bd"].shape[1])]
    return {
        "spectral_radius": rho,
        "stable": rho < 1.0,
        "eigenvalues": [[float(e.real), float(e.imag)] for e in eig],
        "channels": channels,
    }


def lqr_margins(d, crosscheck: bool = False) -> dict:
    """Margins of the full-state LQR loop of an LQG design `d` (`u = -K x`)."""
    nx, nu = d.Bd.shape
    lin = {
        "Ad": d.Ad,
        "Bd": d.Bd,
        "Cp": np.eye(nx),
        "Ak": np.zeros((0, 0)),
        "Bk": np.zeros((0, nx)),
        "Ck": np.zeros((nu, 0)),
        "Dk": -d.K,
        "dt": d.dt,
    }
    return analyse(lin, crosscheck)


def policy_margins(
    task: Task,
    policy: SymbolicPolicy,
    x_guess,
    p=None,
    r=None,
    crosscheck: bool = False,
    linearizer: LoopLinearizer | None = None,
) -> dict:
    """Linearise `policy` on `task` at its closed-loop equilibrium and analyse the loop (`linearizer`:
    one already built for this task and policy, to reuse its Functions)."""
    lz = linearizer or LoopLinearizer(task, policy)
    try:
        xe, ze, ue = lz.equilibrium(x_guess, p, r)
    except NoEquilibrium as err:
        return {"applicable": False, "reason": str(err), "no_equilibrium": True}
    lin = lz.linearize(xe, ze, ue, p, r)
    out = analyse(lin, crosscheck)
    out.update({"applicable": True, "equilibrium": {"x": xe.tolist(), "z": ze.tolist(), "u": ue.tolist()}})
    return out


def summary(result: dict) -> dict:
    """The worst channel's margins: gain margin (absolute, dB), phase margin, delay margin, disk margin."""
    if not result.get("applicable", True):
        return {}
    chans = result["channels"]

    def worst(key, sub):
        vals = [c[key][sub] for c in chans]
        vals = [math.inf if v is None else v for v in vals]
        i = int(np.argmin(vals))
        return chans[i][key], i

    gm, i_gm = worst("gain_margin", "effective_dB")
    pm, _ = worst("phase_margin", "deg")
    dm, _ = worst("delay_margin", "s")
    disk, _ = worst("disk_margin", "alpha")
    sm, _ = worst("stability_margin", "sm")
    return {
        "gain_margin": gm,
        "phase_margin": pm,
        "delay_margin": dm,
        "disk_margin": disk,
        "stability_margin": sm,
        "spectral_radius": result["spectral_radius"],
        "channel_of_gain_margin": i_gm,
    }
