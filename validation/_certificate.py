"""The certificate: requirements, each PASS, FAIL, INFO or NOT APPLICABLE with its evidence.

Defaults are below; a user overrides them with a TOML file (`symctl validate --requirements
FILE.toml`, a flat table of the keys below) or the `requirements` entry of the settings dict. A
requirement set to `false` is switched off (NOT APPLICABLE). Only FAIL rows fail the verdict.

* `worst_case_ratio_max` (k, default 10): the worst-case cost found over the parameter box is at
  most k times the nominal cost, the policy's Monte Carlo mean cost at the nominal parameters; a
  non-finite worst case fails it. It replaces `worst_case_finite` ("the closed loop stays finite at
  the worst case"), which a requirements file can no longer name: loading one says what to write.
* `disk_margin_min` (alpha, default 0.5): the balanced (skew 0) disk margin of the loop broken at
  the plant input, worst channel, computed from the closed-loop sensitivity (the peak of
  |S - 1/2|, S = 1/(1 + L)), so it holds whatever the open-loop poles of plant and controller; it
  needs the nominal loop stable, which the row checks first. alpha = 0.5 tolerates gain changes of
  -4.4/+4.4 dB and phase changes of +-28 deg at the same time, about the classical 6 dB / 30 deg
  rule whose margins are each taken alone (alpha = 0.536 is exactly +-30 deg, alpha = 0.667 exactly
  +-6 dB).
* `robust_spectral_radius_max` (default 1): the linearised closed loop is stable (spectral radius
  below it) at the equilibrium of every vertex of the parameter box and of the worst case found;
  above `validation._box_stability.MAX_VERTICES` vertices, a seeded subset of them (said in the evidence).
* `integration_rtol_max` (default 0.05): on each of the policy's costliest held-out trajectories
  and as many others drawn at random (`validation._integration`), the fixed-step simulator's cost
  is within this distance of CVODES's on the same noise, relative to the larger of CVODES's cost
  and the replays' mean CVODES cost. Every other figure rests on the fixed step; where it fails,
  the task needs more `substeps`.
* `gain_margin_db_min`, `phase_margin_deg_min` (default None): the classical margins are reported
  as INFO rows; giving a number makes either a requirement again.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

from plants import UserInputError, did_you_mean

DEFAULT_REQUIREMENTS: dict[str, float | bool | None] = {
    "cost_ratio_max": 1.25,  # upper 95% bound of mean cost / mean cost of the optimal LQG (oracle when parameters vary)
    "success_rate_min": 0.99,  # lower 95% Wilson bound of the success rate
    "worst_case_ratio_max": 10.0,  # worst-case cost over the box <= k x the policy's mean cost at the nominal parameters
    "worst_case_cost_max": None,  # bound on the worst-case cost over the box (None: not required)
    "integration_rtol_max": 0.05,  # fixed step vs CVODES on replayed held-out trajectories, relative cost difference
    "disk_margin_min": 0.5,  # balanced disk margin alpha, worst input channel (0.5: +-4.4 dB and +-28 deg together)
    "spectral_radius_max": 1.0,  # local stability: largest |eigenvalue| of the linearised closed loop (strict)
    "robust_spectral_radius_max": 1.0,  # the same at every vertex of the parameter box and at the worst case found
    "gain_margin_db_min": None,  # classical margins: information only unless a number is given
    "phase_margin_deg_min": None,
}

# Requirements that existed once, and what to write instead.
RETIRED_REQUIREMENTS = {
    "worst_case_finite": "it was replaced by 'worst_case_ratio_max' (the worst-case cost over the box at most k times "
    "the nominal mean cost, default 10, which a non-finite worst case fails too): write "
    "worst_case_ratio_max = K, or false to switch the bound off",
}

STATUSES = ("PASS", "FAIL", "INFO", "NOT APPLICABLE")


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
        if k in RETIRED_REQUIREMENTS:
            raise RequirementsError(f"{where}: requirement {k!r} no longer exists; {RETIRED_REQUIREMENTS[k]}")
        if k not in DEFAULT_REQUIREMENTS:
            raise RequirementsError(
                f"{where}: unknown requirement {k!r}{did_you_mean(k, list(DEFAULT_REQUIREMENTS))}; "
                f"valid: {', '.join(DEFAULT_REQUIREMENTS)}"
            )
        if v is True or (v is not False and v is not None and not isinstance(v, (int, float))):
            raise RequirementsError(f"{where}: requirement {k!r} = {v!r} must be a number, or false to switch it off")
        req[k] = v
    return req


def _f(v) -> str:
    return "-" if v is None else (f"{v:.4g}" if isinstance(v, (int, float)) else str(v))


def _row(name, requirement, status, value, evidence):
    return {"name": name, "requirement": requirement, "status": status, "value": value, "evidence": evidence}


def describe_box_stability(bs: dict) -> str:
    """One line of evidence for a `box_stability` result."""
    if bs["sampled"]:
        which = f"{bs['vertices_checked']} of the {bs['vertices_total']} vertices (a seeded random subset, seed {bs['seed']})"
    else:
        which = f"all {bs['vertices_total']} vertices"
    extra = "".join(f" and the {label}" for label in bs.get("extra_labels", []))
    w = bs["worst"]
    text = (
        f"{which}{extra} checked; largest spectral radius {w['radius']:.6f} at "
        f"{ {k: round(v, 6) for k, v in w['point'].items()} } ({w['label']})"
    )
    if bs["not_stable_count"]:
        text += f"; {bs['not_stable_count']} of {bs['checked']} points not stable"
        if bs["no_equilibrium_count"]:
            text += f" ({bs['no_equilibrium_count']} without an equilibrium: the loop diverges)"
    return text


def _integration_row(ic: dict, v) -> dict:
    label = "fixed step against CVODES"
    thr = "-" if v in (None, False) else f"relative cost difference <= {v} on each"
    if v in (None, False) or not ic.get("replays"):
        why = "not required" if v in (None, False) else ic.get("reason", "not run")
        return _row(label, thr, "NOT APPLICABLE", None, why)
    chaotic = [r for r in ic["replays"] if r["chaotic"]]
    failed = [r for r in ic["replays"] if not r["chaotic"] and r["relative_difference"] is None]
    lost = ""
    if chaotic:
        lost += (
            f"; {len(chaotic)} chaotic (CVODES's own cost moves by up to {max(r['sensitivity'] for r in chaotic):.3g} "
            f"at a 10 x looser tolerance), not compared"
        )
    if failed:
        lost += (
            f"; CVODES could not integrate {len(failed)} (trajectories {', '.join(str(r['trajectory']) for r in failed)}: "
            f"{'; '.join(failed[0]['errors'])}), not compared"
        )
    if not ic.get("compared"):
        return _row(label, thr, "INFO", None, f"{len(ic['replays'])} held-out trajectories replayed{lost}")
    adams = sum(r["cvodes_method"] == "cvodes-nonstiff" for r in ic["replays"])
    if adams:
        lost += f"; {adams} integrated by Adams without a Jacobian, where BDF failed"
    w, d = ic["worst"], ic["max_relative_difference"]
    ev = (
        f"{len(ic['replays'])} of {ic['of']} held-out trajectories (the costliest half, the rest at random) replayed with CVODES (tolerance "
        f"{ic['cvodes_tolerance']:g}); largest difference {d:.3g} on trajectory {w['trajectory']}: fixed step "
        f"{w['cost_fixed_step']:.6g}, CVODES {w['cost_cvodes']:.6g}{lost}"
    )
    if d > v:
        ev += (
            f". The fixed step ({ic['substeps']} substeps of {ic['step']:.3g} per tick) misrepresents the plant "
            f"there, and every other figure rests on it: raise task.substeps"
        )
        if chaotic:  # a chaotic plant parts single trajectories under any two integrators
            ev += ", or, as some replays are chaotic, compare mean costs over many trajectories (README, 'More example plants')"
    return _row(label, thr, "PASS" if d <= v else "FAIL", d, ev)


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
        rows.append(
            _row(
                "cost ratio to optimal LQG",
                f"upper 95% bound <= {v}",
                "PASS" if ok else "FAIL",
                rr["ratio"],
                f"ratio {rr['ratio']:.4g}, 95% CI [{rr['ci95'][0]:.4g}, {hi:.4g}] against the {ref}",
            )
        )

    v = req.get("success_rate_min")
    if v in (None, False) or pol is None:
        rows.append(_row("success rate", f">= {v}", "NOT APPLICABLE", None, "not required or no Monte Carlo"))
    else:
        s = pol["success"]
        lo = s["wilson95"][0]
        rows.append(
            _row(
                "success rate",
                f"lower 95% bound >= {v}",
                "PASS" if lo >= v else "FAIL",
                s["rate"],
                f"{s['count']}/{pol['n']} = {s['rate']:.4f}, Wilson 95% [{lo:.4f}, {s['wilson95'][1]:.4f}]",
            )
        )

    rows.append(_integration_row(results.get("integration") or {}, req.get("integration_rtol_max")))

    wc = results.get("worst_case") or {}
    worst = wc.get("worst")
    nominal = wc.get("nominal") or {}
    ev_wc = ""
    if worst:
        conf = wc.get("confirmation", {})
        ev_wc = (
            f"cost {worst['cost']:.4g} at {dict(zip([d['name'] for d in wc['dims']], [round(x, 6) for x in worst['point']]))} "
            f"(found by {worst['found_by']}; CVODES {conf.get('cost_cvodes', float('nan')):.4g}, confirmed: {conf.get('confirmed')})"
        )
    v = req.get("worst_case_ratio_max")
    label = "worst-case cost over the box / nominal cost"
    if v in (None, False) or not worst or nominal.get("cost") is None:
        if v in (None, False):
            why = "not required"
        elif not worst:
            why = wc.get("reason") or "no parameter box to search"
        else:
            why = nominal.get("reason") or "no nominal cost"
        rows.append(_row(label, "-" if v in (None, False) else f"<= {v}", "NOT APPLICABLE", None, why))
    elif not nominal["cost"] > 0:
        rows.append(
            _row(
                label,
                f"<= {v}",
                "NOT APPLICABLE",
                None,
                f"the nominal cost {nominal['cost']:.4g} is not positive (a reward-based cost?), so a ratio to it "
                f"bounds nothing; {ev_wc}; bound the cost itself with worst_case_cost_max",
            )
        )
    else:
        c, n = worst["cost"], nominal["cost"]
        ratio = c / n if math.isfinite(c) and math.isfinite(n) else math.inf
        ev = f"{ev_wc}; nominal {n:.4g} ({nominal.get('source', 'nominal cost')})"
        if nominal.get("base_scenario_cost") is not None:
            ev += f"; the worst case's own scenario at the nominal parameters costs {nominal['base_scenario_cost']:.4g}"
        rows.append(_row(label, f"<= {v}", "PASS" if ratio <= v else "FAIL", ratio, ev))
    v = req.get("worst_case_cost_max")
    label = "worst-case cost over the box"
    if v in (None, False) or not worst:
        why = "not required" if v in (None, False) else (wc.get("reason") or "no parameter box to search")
        rows.append(_row(label, "-" if v in (None, False) else f"<= {v}", "NOT APPLICABLE", None, why))
    else:
        c = worst["cost"]
        rows.append(_row(label, f"<= {v}", "PASS" if math.isfinite(c) and c <= v else "FAIL", c, ev_wc))

    mg = (results.get("margins") or {}).get(policy_name) or {}
    summ = mg.get("summary") or {}
    rho = summ.get("spectral_radius")
    unstable = rho is not None and not rho < 1.0
    no_margins = f"the linearised closed loop is not stable (spectral radius {rho:.6f}); margins do not apply" if unstable else ""
    # the noise-free loop reaches no equilibrium from the operating point (it runs away or keeps
    # moving): nothing is stable to linearise, so the stability rows and the margin fail
    # (validation.json files written before the flag existed say so in the reason only)
    settles_nowhere = mg.get("applicable") is False and (
        bool(mg.get("no_equilibrium")) or "equilibrium" in str(mg.get("reason", ""))
    )
    nowhere = f"the noise-free closed loop reaches no equilibrium from the operating point ({mg.get('reason')})"
    v = req.get("spectral_radius_max")
    if v not in (None, False) and rho is None and settles_nowhere:
        rows.append(_row("local stability (spectral radius)", f"< {v}", "FAIL", None, nowhere))
    elif v in (None, False) or rho is None:
        rows.append(_row("local stability (spectral radius)", f"< {v}", "NOT APPLICABLE", None, mg.get("reason", "not required")))
    else:
        rows.append(
            _row(
                "local stability (spectral radius)",
                f"< {v}",
                "PASS" if rho < v else "FAIL",
                rho,
                f"largest |eigenvalue| of the discrete closed loop linearised at its equilibrium: {rho:.6f}",
            )
        )

    v = req.get("robust_spectral_radius_max")
    bs = results.get("robust_stability") or {}
    label = "robust stability over the parameter box"
    if (
        v not in (None, False)
        and bs.get("radius_max") is None
        and settles_nowhere
        and bs.get("reason", "").startswith("no closed-loop")
    ):
        rows.append(_row(label, f"spectral radius < {v} at every vertex and the worst case", "FAIL", None, nowhere))
    elif v in (None, False) or bs.get("radius_max") is None:
        why = "not required" if v in (None, False) else bs.get("reason", "no parameter box")
        rows.append(_row(label, f"spectral radius < {v} at every vertex and the worst case", "NOT APPLICABLE", None, why))
    else:
        r = bs["radius_max"]
        rows.append(
            _row(
                label,
                f"spectral radius < {v} at every vertex and the worst case",
                "PASS" if r < v else "FAIL",
                r,
                describe_box_stability(bs),
            )
        )

    v = req.get("disk_margin_min")
    disk = summ.get("disk_margin")
    label = "disk margin (balanced, at the plant input)"
    if v not in (None, False):
        need = (2 + v) / (2 - v) if v < 2 else math.inf
        thr = f"alpha >= {v} (+-{20 * math.log10(need):.2f} dB and +-{math.degrees(2 * math.atan(v / 2)):.1f} deg at once)"
    else:
        thr = "-"
    if v not in (None, False) and unstable:
        rows.append(_row(label, thr, "FAIL", None, no_margins))
    elif v not in (None, False) and not disk and settles_nowhere:
        rows.append(_row(label, thr, "FAIL", None, nowhere))
    elif v in (None, False) or not disk:
        rows.append(_row(label, thr, "NOT APPLICABLE", None, mg.get("reason", "not required")))
    else:
        a = disk["alpha"]
        ev = (
            f"alpha {a:.4g}: gain -{_f(disk['gain_dB'])}/+{_f(disk['gain_dB'])} dB and phase +-{disk['phase_deg']:.4g} deg together, "
            f"at {_f(disk['frequency_rad_s'])} rad/s, worst input channel; from the closed-loop sensitivity (1 / max |S - 1/2|), "
            f"valid for open-loop unstable plants and controllers since the loop is stable"
        )
        rows.append(_row(label, thr, "PASS" if a >= v else "FAIL", a, ev))

    gm = summ.get("gain_margin")
    v = req.get("gain_margin_db_min")
    thr = f"min(up, down) >= {v} dB" if v not in (None, False) else "information"
    if unstable:
        rows.append(_row("gain margin", thr, "FAIL" if v not in (None, False) else "INFO", None, no_margins))
    elif not gm:
        rows.append(_row("gain margin", thr, "NOT APPLICABLE", None, mg.get("reason", "not computed")))
    else:
        mag = gm["effective_dB"]
        ev = (
            f"upward {_f(gm['absolute'])} (absolute) = {_f(gm['dB'])} dB at {_f(gm['frequency_rad_s'])} rad/s"
            + (" (at DC)" if gm.get("at_dc") else "")
            + f"; downward {_f(gm['lower_absolute'])} = {_f(gm['lower_dB'])} dB at {_f(gm['lower_frequency_rad_s'])} rad/s"
        )
        st = "INFO" if v in (None, False) else ("PASS" if mag is not None and mag >= v else "FAIL")
        rows.append(_row("gain margin", thr, st, mag, ev))
    pm = summ.get("phase_margin")
    v = req.get("phase_margin_deg_min")
    thr = f">= {v} deg" if v not in (None, False) else "information"
    if unstable:
        rows.append(_row("phase margin", thr, "FAIL" if v not in (None, False) else "INFO", None, no_margins))
    elif not pm:
        rows.append(_row("phase margin", thr, "NOT APPLICABLE", None, mg.get("reason", "not computed")))
    else:
        d = math.inf if pm["deg"] is None else pm["deg"]
        st = "INFO" if v in (None, False) else ("PASS" if d >= v else "FAIL")
        rows.append(_row("phase margin", thr, st, pm["deg"], f"{_f(pm['deg'])} deg at {_f(pm['frequency_rad_s'])} rad/s"))
    statuses = [r["status"] for r in rows]
    verdict = "FAIL" if "FAIL" in statuses else "PASS"
    return {"verdict": verdict, "requirements": req, "rows": rows, "counts": {s: statuses.count(s) for s in STATUSES}}
