"""The validation stage end to end on a deliberately bad policy: certificate, validation.json, report.html."""

import json
import math

import pytest
import sympy as sp

import plants
from synth import SymbolicPolicy
from validation import DEFAULT_REQUIREMENTS, certify, load_requirements, validate
from validation._certificate import RequirementsError

SMALL = {
    "trajectories": 64,
    "sweep": 16,
    "starts": 2,
    "oracle_trajectories": 0,
    "stress_points": 3,
    "max_delay": 1,
    "x0_grid": 3,
    "sweep_backend": "vm",
}


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory):
    task = plants.get_task("sho/noisy").replace(horizon=6.0)
    y = plants.symbol("y_x")
    # a weak proportional controller that ignores the target: it cannot hold x near r
    bad = SymbolicPolicy(
        observations=("y_x", "y_v"),
        targets=("r",),
        latent=(),
        controls=("u",),
        f=(),
        g=(sp.Float(-0.05) * y,),
        dt=task.dt,
        provenance={"method": "hand-written", "task": "sho/noisy"},
    )
    out = tmp_path_factory.mktemp("bad")
    res = validate(bad, task, out, SMALL)
    return out, res


def test_certificate_fails_for_a_bad_policy(bad_run):
    out, res = bad_run
    cert = res["certificate"]
    assert cert["verdict"] == "FAIL"
    rows = {r["name"]: r for r in cert["rows"]}
    assert rows["cost ratio to optimal LQG"]["status"] == "FAIL"
    assert rows["cost ratio to optimal LQG"]["value"] > 1.25
    assert rows["success rate"]["status"] == "FAIL"
    # the undamped loop is not stable: the disk margin (a requirement) fails, the classical margins are information
    assert rows["disk margin (balanced, at the plant input)"]["status"] == "FAIL"
    assert "not stable" in rows["disk margin (balanced, at the plant input)"]["evidence"]
    assert rows["gain margin"]["status"] == "INFO" and rows["phase margin"]["status"] == "INFO"
    assert rows["local stability (spectral radius)"]["status"] == "FAIL"
    assert rows["robust stability over the parameter box"]["status"] == "FAIL"
    assert rows["worst-case cost over the box"]["status"] == "NOT APPLICABLE"
    wc = res["worst_case"]
    ratio = rows["worst-case cost over the box / nominal cost"]
    assert ratio["value"] == pytest.approx(wc["worst"]["cost"] / wc["nominal"]["cost"])
    assert (
        wc["nominal"]["cost"] == res["monte_carlo"]["policies"]["policy"]["mean"]
    )  # fixed parameters: the Monte Carlo is nominal
    assert ratio["status"] == ("PASS" if ratio["value"] <= 10 else "FAIL")
    assert cert["counts"]["INFO"] == 2 and sum(cert["counts"].values()) == len(cert["rows"])


def test_validation_json_has_every_section(bad_run):
    out, res = bad_run
    data = json.loads((out / "validation.json").read_text())
    for key in ("monte_carlo", "sweep", "worst_case", "margins", "certificate", "settings", "versions"):
        assert key in data
    for key in ("gain_margin", "phase_margin", "delay_margin", "disk_margin"):
        assert key in data["margins"]
    mc = data["monte_carlo"]["policies"]
    assert set(mc) == {"policy", "lqg", "lqg-ss"}
    assert mc["lqg"]["ratio_to_lqg"]["ratio"] == 1.0
    lo, hi = mc["policy"]["success"]["wilson95"]
    assert 0 <= lo <= mc["policy"]["success"]["rate"] <= hi <= 1
    wc = data["worst_case"]
    assert wc["worst"]["cost"] >= max(c for c in data["sweep"]["parameter_box"]["cost"] if isinstance(c, float))


def test_requirements_override_and_errors(tmp_path):
    f = tmp_path / "req.toml"
    f.write_text("[requirements]\ncost_ratio_max = 2.0\nsuccess_rate_min = false\n")
    req = load_requirements(f)
    assert req["cost_ratio_max"] == 2.0 and req["success_rate_min"] is False
    assert req["phase_margin_deg_min"] == DEFAULT_REQUIREMENTS["phase_margin_deg_min"]
    f.write_text("cost_ratio = 2.0\n")
    with pytest.raises(RequirementsError, match="unknown requirement 'cost_ratio' \\(did you mean 'cost_ratio_max'\\?\\)"):
        load_requirements(f)
    # the retired requirement names its replacement
    f.write_text("worst_case_finite = true\n")
    with pytest.raises(RequirementsError, match="'worst_case_finite' no longer exists.*worst_case_ratio_max"):
        load_requirements(f)
    with pytest.raises(RequirementsError, match="must be a number, or false"):
        load_requirements({"disk_margin_min": True})
    assert load_requirements({"gain_margin_db_min": 6.0})["gain_margin_db_min"] == 6.0


def test_certify_passes_when_every_requirement_holds():
    stats = {
        "n": 1000,
        "ratio_to_lqg": {"ratio": 1.01, "ci95": [1.0, 1.02]},
        "success": {"count": 1000, "rate": 1.0, "wilson95": [0.9962, 1.0]},
    }
    gm = {
        "absolute": 3.0,
        "dB": 9.54,
        "frequency_rad_s": 1.0,
        "at_dc": False,
        "lower_absolute": 0.0,
        "lower_dB": -math.inf,
        "lower_frequency_rad_s": None,
        "effective_dB": 9.54,
    }
    results = {
        "monte_carlo": {"policies": {"policy": stats}},
        "worst_case": {
            "dims": [{"name": "a"}],
            "worst": {"cost": 3.0, "point": [1.0], "found_by": "vertex"},
            "confirmation": {"cost_cvodes": 3.0, "confirmed": True},
        },
        "margins": {
            "policy": {
                "summary": {"gain_margin": gm, "phase_margin": {"deg": 45.0, "frequency_rad_s": 1.0}, "spectral_radius": 0.9}
            }
        },
    }
    cert = certify(results, load_requirements({"worst_case_cost_max": 5.0}))
    assert cert["verdict"] == "PASS", cert["rows"]
    cert = certify(results, load_requirements({"worst_case_cost_max": 2.0}))
    assert cert["verdict"] == "FAIL"


def _results(worst=3.0, nominal=1.0, alpha=0.8, rho=0.9, box_rho=0.95, gm_db=2.0, pm=20.0):
    gm = {
        "absolute": 10 ** (gm_db / 20),
        "dB": gm_db,
        "frequency_rad_s": 1.0,
        "at_dc": False,
        "lower_absolute": 0.0,
        "lower_dB": -math.inf,
        "lower_frequency_rad_s": None,
        "effective_dB": gm_db,
    }
    disk = {
        "skew": 0.0,
        "alpha": alpha,
        "gain_dB": 20 * math.log10((2 + alpha) / (2 - alpha)),
        "phase_deg": math.degrees(2 * math.atan(alpha / 2)),
        "frequency_rad_s": 1.0,
    }
    box = {
        "vertices_total": 4,
        "vertices_checked": 4,
        "sampled": False,
        "seed": 0,
        "checked": 4,
        "radius_max": box_rho,
        "worst": {"label": "vertex", "point": {"a": 1.0}, "radius": box_rho},
        "not_stable_count": int(box_rho >= 1),
        "no_equilibrium_count": 0,
        "extra_labels": [],
    }
    return {
        "worst_case": {
            "dims": [{"name": "a"}],
            "worst": {"cost": worst, "point": [1.0], "found_by": "vertex"},
            "confirmation": {"cost_cvodes": worst, "confirmed": True},
            "nominal": {"cost": nominal, "source": "test"},
        },
        "robust_stability": box,
        "margins": {
            "policy": {
                "summary": {
                    "gain_margin": gm,
                    "phase_margin": {"deg": pm, "frequency_rad_s": 1.0},
                    "disk_margin": disk,
                    "spectral_radius": rho,
                }
            }
        },
    }


def _status(cert):
    return {r["name"]: r["status"] for r in cert["rows"]}


def test_classical_margins_are_information_and_the_disk_margin_is_required():
    """Gain margin 2 dB and phase margin 20 deg are below the classical rule, but by default they
    are INFO rows: the verdict rests on the disk margin (alpha 0.8 >= 0.5). Asking for them again
    makes them requirements."""
    req = load_requirements({"cost_ratio_max": False, "success_rate_min": False})
    cert = certify(_results(), req)
    st = _status(cert)
    assert st["gain margin"] == st["phase margin"] == "INFO"
    assert st["disk margin (balanced, at the plant input)"] == "PASS"
    assert cert["verdict"] == "PASS" and cert["counts"]["INFO"] == 2
    cert = certify(_results(), {**req, "gain_margin_db_min": 6.0, "phase_margin_deg_min": 30.0})
    assert _status(cert)["gain margin"] == _status(cert)["phase margin"] == "FAIL" and cert["verdict"] == "FAIL"
    cert = certify(_results(alpha=0.3), req)
    assert _status(cert)["disk margin (balanced, at the plant input)"] == "FAIL" and cert["verdict"] == "FAIL"
    # an unstable nominal loop fails the disk margin whatever its value, and the classical margins say why
    cert = certify(_results(rho=1.01), req)
    st = _status(cert)
    assert st["disk margin (balanced, at the plant input)"] == "FAIL" and st["gain margin"] == "INFO"
    assert st["local stability (spectral radius)"] == "FAIL"


@pytest.mark.parametrize(
    "worst, nominal, expected", [(9.9, 1.0, "PASS"), (10.1, 1.0, "FAIL"), (math.inf, 1.0, "FAIL"), (50.0, 10.0, "PASS")]
)
def test_worst_case_is_bounded_relative_to_the_nominal_cost(worst, nominal, expected):
    req = load_requirements({"cost_ratio_max": False, "success_rate_min": False})
    cert = certify(_results(worst=worst, nominal=nominal), req)
    row = [r for r in cert["rows"] if r["name"] == "worst-case cost over the box / nominal cost"][0]
    assert row["status"] == expected and row["value"] == pytest.approx(worst / nominal)
    assert cert["verdict"] == expected
    off = certify(_results(worst=worst, nominal=nominal), {**req, "worst_case_ratio_max": False})
    assert off["verdict"] == "PASS"


def test_a_ratio_to_a_non_positive_nominal_cost_is_not_applicable():
    """Reward-based costs can be negative at the nominal point: k x nominal would bound nothing."""
    req = load_requirements({"cost_ratio_max": False, "success_rate_min": False})
    cert = certify(_results(worst=5.0, nominal=-2.0), req)
    row = [r for r in cert["rows"] if r["name"] == "worst-case cost over the box / nominal cost"][0]
    assert row["status"] == "NOT APPLICABLE" and "worst_case_cost_max" in row["evidence"]


def test_robust_stability_fails_on_an_unstable_vertex():
    req = load_requirements({"cost_ratio_max": False, "success_rate_min": False})
    assert _status(certify(_results(box_rho=0.999), req))["robust stability over the parameter box"] == "PASS"
    cert = certify(_results(box_rho=1.001), req)
    assert _status(cert)["robust stability over the parameter box"] == "FAIL" and cert["verdict"] == "FAIL"
    cert = certify({**_results(), "robust_stability": {"reason": "the task's plant has no parameter ranges"}}, req)
    assert _status(cert)["robust stability over the parameter box"] == "NOT APPLICABLE" and cert["verdict"] == "PASS"


@pytest.mark.chromium
def test_report_renders_in_headless_chromium(bad_run, tmp_path):
    from _browser import open_report

    out, _ = bad_run
    html = (out / "report.html").read_text()
    low = html.lower()
    assert "<script" not in low  # self-contained: nothing runs, nothing is fetched
    for fetch in ('src="http', "src='http", 'href="http', "href='http", "url(http", "@import"):
        assert fetch not in low
    assert html.count("<math") >= 1 and html.count("<svg") >= 4
    page = open_report(out / "report.html", tmp_path)
    assert not page["console_errors"], page["console_errors"]
    assert page["dom"].count("<math") >= 1 and page["dom"].count("<svg") >= 4
    assert "Certificate" in page["dom"] and "FAIL" in page["dom"]
    assert page["width"] >= 800 and page["height"] >= 800
    assert page["non_white"] > 500  # text, tables and figures drawn


def test_a_loop_that_reaches_no_equilibrium_fails_the_stability_rows_and_the_disk_margin():
    """A closed loop that runs away or keeps moving from the operating point has nothing stable to
    linearise: local stability, robust stability and the disk margin fail (they used to read NOT
    APPLICABLE, which let such a controller through on the other rows)."""
    reason = "no closed-loop equilibrium near the settled state (residual 0.0245)"
    res = {
        "margins": {"policy": {"applicable": False, "reason": reason}},
        "robust_stability": {"reason": f"no closed-loop equilibrium at the nominal parameters: {reason}"},
    }
    cert = certify(res, load_requirements())
    status = {r["name"]: r["status"] for r in cert["rows"]}
    assert status["local stability (spectral radius)"] == "FAIL"
    assert status["robust stability over the parameter box"] == "FAIL"
    assert status["disk margin (balanced, at the plant input)"] == "FAIL"
    assert cert["verdict"] == "FAIL"
    # switched off, they stay out of the verdict
    off = certify(
        res, load_requirements({"spectral_radius_max": False, "robust_spectral_radius_max": False, "disk_margin_min": False})
    )
    assert off["verdict"] == "PASS"


def test_a_loop_that_keeps_moving_fails_the_stability_rows_whatever_the_reason_says():
    """A latent state the control never reads creeping towards 100 from 0 keeps the loop from
    settling within the analysis ("does not settle from the operating point", no word of an
    equilibrium in it): the rows fail all the same. Before, they read NOT APPLICABLE and the
    verdict could PASS with no stability evidence (a Kalman filter of constant parameters, whose
    covariance shrinks as 1/t, did)."""
    import dataclasses

    from plants import get_task, operating_point, symbol
    from validation import lqg
    from validation.margins import policy_margins

    task = get_task("sho/noisy")
    ss = lqg(task, "lqg-ss")
    clock = symbol("clock")
    creeping = dataclasses.replace(
        ss, latent=ss.latent + ("clock",), f=ss.f + (clock + sp.Float(1e-4) * (100 - clock),), latent_init=ss.latent_init + (0.0,)
    )
    mg = policy_margins(task, creeping, operating_point(task)[0])
    assert mg["applicable"] is False and mg["no_equilibrium"] and "does not settle" in mg["reason"], mg
    cert = certify({"margins": {"policy": mg}}, load_requirements())
    status = {r["name"]: r["status"] for r in cert["rows"]}
    assert status["local stability (spectral radius)"] == "FAIL"
    assert status["disk margin (balanced, at the plant input)"] == "FAIL"
    assert cert["verdict"] == "FAIL"
