"""The certificate: requirements, each PASS, FAIL or NOT APPLICABLE with its evidence.

Defaults are below; a user overrides them with a TOML file (`symctl validate --requirements
FILE.toml`, a flat table of the keys below) or the `requirements` entry of the settings dict. A
requirement set to `false` is switched off (NOT APPLICABLE).
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

from plants import UserInputError

DEFAULT_REQUIREMENTS: dict[str, float | bool | None] = {
    "cost_ratio_max": 1.25,  # upper 95% bound of mean cost / mean cost of the optimal LQG (oracle when parameters vary)
    "success_rate_min": 0.99,  # lower 95% Wilson bound of the success rate
    "worst_case_finite": True,  # the closed loop stays finite at the worst case found over the box
    "worst_case_cost_max": None,  # bound on the worst-case cost over the box (None: not required)
    "gain_margin_db_min": 6.0,  # |gain margin| in dB, worst input channel
    "phase_margin_deg_min": 30.0,
    "spectral_radius_max": 1.0,  # local stability: largest |eigenvalue| of the linearised closed loop (strict)
}


class RequirementsError(UserInputError):
    """A requirements file or entry is invalid."""


def load_requirements(source=None) -> dict:
    """Defaults updated by a dict or a TOML file (flat table, or under `[requirements]`)."""
    req = dict(DEFAULT_REQUIREMENTS)
    if source is None:
        return req
    where = "requirements"
    if isinstance(source, (str, Path)):
        where = str(source)
        try:
            data = tomllib.loads(Path(source).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RequirementsError(f"requirements file {where!r} does not exist") from None
        except tomllib.TOMLDecodeError as err:
            raise RequirementsError(f"requirements file {where!r}: not valid TOML: {err}") from None
        data = data.get("requirements", data)
    else:
        data = dict(source)
    for k, v in data.items():
        if k not in DEFAULT_REQUIREMENTS:
            raise RequirementsError(f"{where}: unknown requirement {k!r}; valid: {', '.join(DEFAULT_REQUIREMENTS)}")
        if v is not False and v is not None and not isinstance(v, (int, float)):
            raise RequirementsError(f"{where}: requirement {k!r} = {v!r} must be a number, true or false")
        req[k] = v
    return req


def _f(v) -> str:
    return "-" if v is None else (f"{v:.4g}" if isinstance(v, (int, float)) else str(v))


def _row(name, requirement, status, value, evidence):
    return {"name": name, "requirement": requirement, "status": status, "value": value, "evidence": evidence}


def certify(results: dict, requirements: dict, policy_name: str = "policy") -> dict:
    """Judge `results` (the sections of validation.json) against `requirements`."""
    rows = []
    mc = results.get("monte_carlo", {})
    pol = mc.get("policies", {}).get(policy_name)
    req = requirements

    v = req.get("cost_ratio_max")
    if v in (None, False) or pol is None:
        rows.append(_row("cost ratio to optimal LQG", f"<= {v}", "NOT APPLICABLE", None, "not required or no Monte Carlo"))
    else:
        oracle = mc.get("oracle")
        if oracle and oracle.get("ratio_of_policies"):
            rr = oracle["ratio_of_policies"][policy_name]
            ref = f"per-trajectory LQG oracle on {oracle['designed']} trajectories"
        else:
            rr = pol["ratio_to_lqg"]
            ref = f"LQG at the nominal parameters on {pol['n']} trajectories"
        hi = rr["ci95"][1]
        ok = hi is not None and math.isfinite(hi) and hi <= v
        rows.append(_row("cost ratio to optimal LQG", f"upper 95% bound <= {v}", "PASS" if ok else "FAIL", rr["ratio"],
                         f"ratio {rr['ratio']:.4g}, 95% CI [{rr['ci95'][0]:.4g}, {hi:.4g}] against the {ref}"))

    v = req.get("success_rate_min")
    if v in (None, False) or pol is None:
        rows.append(_row("success rate", f">= {v}", "NOT APPLICABLE", None, "not required or no Monte Carlo"))
    else:
        s = pol["success"]
        lo = s["wilson95"][0]
        rows.append(_row("success rate", f"lower 95% bound >= {v}", "PASS" if lo >= v else "FAIL", s["rate"],
                         f"{s['count']}/{pol['n']} = {s['rate']:.4f}, Wilson 95% [{lo:.4f}, {s['wilson95'][1]:.4f}]"))

    wc = results.get("worst_case") or {}
    worst = wc.get("worst")
    for key, label in (("worst_case_finite", "closed loop finite at the worst case"), ("worst_case_cost_max", "worst-case cost over the box")):
        v = req.get(key)
        if v in (None, False) or not worst:
            why = "not required" if v in (None, False) else (wc.get("reason") or "no parameter box to search")
            rows.append(_row(label, "-" if v in (None, False) else str(v), "NOT APPLICABLE", None, why))
            continue
        c = worst["cost"]
        conf = wc.get("confirmation", {})
        ev = (f"cost {c:.4g} at {dict(zip([d['name'] for d in wc['dims']], [round(x, 6) for x in worst['point']]))} "
              f"(found by {worst['found_by']}; CVODES {conf.get('cost_cvodes', float('nan')):.4g}, "
              f"confirmed: {conf.get('confirmed')})")
        if key == "worst_case_finite":
            ok = math.isfinite(c)
            rows.append(_row(label, "finite", "PASS" if ok else "FAIL", c, ev))
        else:
            ok = math.isfinite(c) and c <= v
            rows.append(_row(label, f"<= {v}", "PASS" if ok else "FAIL", c, ev))

    mg = (results.get("margins") or {}).get(policy_name) or {}
    summ = mg.get("summary") or {}
    rho = summ.get("spectral_radius")
    unstable = rho is not None and rho >= 1.0
    v = req.get("gain_margin_db_min")
    gm = summ.get("gain_margin")
    if unstable and v not in (None, False):
        rows.append(_row("gain margin", f">= {v} dB", "FAIL", None,
                         f"the linearised closed loop is not stable (spectral radius {rho:.6f}); margins do not apply"))
    elif v in (None, False) or not gm:
        rows.append(_row("gain margin", f">= {v} dB", "NOT APPLICABLE", None, mg.get("reason", "not required")))
    else:
        mag = gm["effective_dB"]
        ev = (f"upward {_f(gm['absolute'])} (absolute) = {_f(gm['dB'])} dB at {_f(gm['frequency_rad_s'])} rad/s"
              + (" (at DC)" if gm.get("at_dc") else "")
              + f"; downward {_f(gm['lower_absolute'])} = {_f(gm['lower_dB'])} dB at {_f(gm['lower_frequency_rad_s'])} rad/s")
        rows.append(_row("gain margin", f"min(up, down) >= {v} dB", "PASS" if mag >= v else "FAIL", mag, ev))
    v = req.get("phase_margin_deg_min")
    pm = summ.get("phase_margin")
    if unstable and v not in (None, False):
        rows.append(_row("phase margin", f">= {v} deg", "FAIL", None,
                         f"the linearised closed loop is not stable (spectral radius {rho:.6f}); margins do not apply"))
    elif v in (None, False) or not pm:
        rows.append(_row("phase margin", f">= {v} deg", "NOT APPLICABLE", None, mg.get("reason", "not required")))
    else:
        d = math.inf if pm["deg"] is None else pm["deg"]
        rows.append(_row("phase margin", f">= {v} deg", "PASS" if d >= v else "FAIL", pm["deg"],
                         f"{_f(pm['deg'])} deg at {_f(pm['frequency_rad_s'])} rad/s"))
    v = req.get("spectral_radius_max")
    if v in (None, False) or rho is None:
        rows.append(_row("local stability (spectral radius)", f"< {v}", "NOT APPLICABLE", None, mg.get("reason", "not required")))
    else:
        rows.append(_row("local stability (spectral radius)", f"< {v}", "PASS" if rho < v else "FAIL", rho,
                         f"largest |eigenvalue| of the discrete closed loop linearised at its equilibrium: {rho:.6f}"))
    statuses = [r["status"] for r in rows]
    verdict = "FAIL" if "FAIL" in statuses else "PASS"
    return {"verdict": verdict, "requirements": req, "rows": rows,
            "counts": {s: statuses.count(s) for s in ("PASS", "FAIL", "NOT APPLICABLE")}}
