"""The validation stage end to end on a deliberately bad policy: certificate, validation.json, report.html."""

import json
import math

import pytest
import sympy as sp

import plants
from synth import SymbolicPolicy
from validation import DEFAULT_REQUIREMENTS, certify, load_requirements, validate
from validation._certificate import RequirementsError

SMALL = {"trajectories": 64, "sweep": 16, "starts": 2, "oracle_trajectories": 0, "stress_points": 3,
         "max_delay": 1, "x0_grid": 3, "sweep_backend": "vm"}


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory):
    task = plants.get_task("sho/noisy").replace(horizon=6.0)
    y = plants.symbol("y_x")
    # a weak proportional controller that ignores the target: it cannot hold x near r
    bad = SymbolicPolicy(observations=("y_x", "y_v"), targets=("r",), latent=(), controls=("u",), f=(),
                         g=(sp.Float(-0.05) * y,), dt=task.dt, provenance={"method": "hand-written", "task": "sho/noisy"})
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
    assert rows["gain margin"]["status"] == "FAIL"  # the undamped loop is not stable: margins do not apply
    assert rows["worst-case cost over the box"]["status"] == "NOT APPLICABLE"


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
    with pytest.raises(RequirementsError, match="unknown requirement 'cost_ratio'"):
        load_requirements(f)


def test_certify_passes_when_every_requirement_holds():
    stats = {"n": 1000, "ratio_to_lqg": {"ratio": 1.01, "ci95": [1.0, 1.02]},
             "success": {"count": 1000, "rate": 1.0, "wilson95": [0.9962, 1.0]}}
    gm = {"absolute": 3.0, "dB": 9.54, "frequency_rad_s": 1.0, "at_dc": False, "lower_absolute": 0.0,
          "lower_dB": -math.inf, "lower_frequency_rad_s": None, "effective_dB": 9.54}
    results = {"monte_carlo": {"policies": {"policy": stats}},
               "worst_case": {"dims": [{"name": "a"}], "worst": {"cost": 3.0, "point": [1.0], "found_by": "vertex"},
                              "confirmation": {"cost_cvodes": 3.0, "confirmed": True}},
               "margins": {"policy": {"summary": {"gain_margin": gm, "phase_margin": {"deg": 45.0, "frequency_rad_s": 1.0},
                                                  "spectral_radius": 0.9}}}}
    cert = certify(results, load_requirements({"worst_case_cost_max": 5.0}))
    assert cert["verdict"] == "PASS", cert["rows"]
    cert = certify(results, load_requirements({"worst_case_cost_max": 2.0}))
    assert cert["verdict"] == "FAIL"


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
