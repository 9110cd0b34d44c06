"""The certificate-aware final choice of `symctl run` (`symctl._choice`)."""

import csv

import sympy as sp

import plants
from synth import SymbolicPolicy

KEEP = ("observations", "targets", "latent", "controls", "dt", "integrator", "latent_init", "input_limits")


def test_a_near_singular_candidate_loses_the_choice_to_a_costlier_regular_one(tmp_path):
    """The steady-state LQG with a scheduled observer gain `0.002 / (xhat1**2 + 0.0029)` (small
    while the velocity estimate moves, 0.7 at rest) is cheaper than the same LQG with half its
    feedback gain; it is screened first, flagged near-singular, and the regular one is exported."""
    from symctl._choice import choose
    from validation import load_requirements, lqg

    task = plants.get_task("sho/noisy")
    ss = lqg(task, "lqg-ss")
    f = list(ss.f)
    f[0] = f[0] + sp.Float(0.002) / (ss.z[1] ** 2 + sp.Float(0.0029)) * (ss.y[0] - ss.z[0])
    near = SymbolicPolicy(**{k: getattr(ss, k) for k in KEEP}, f=tuple(f), g=ss.g)
    weak = SymbolicPolicy(**{k: getattr(ss, k) for k in KEEP}, f=ss.f, g=(ss.g[0] * 0.5,))
    (tmp_path / "candidates").mkdir()
    weak.with_provenance(validation_cost=1.0).save(tmp_path / "candidates" / "00.json")
    # sho's box holds the undamped double integrator (omega = 0), where no design made at omega = 1
    # is stable, and half the gain (its feedforward halved too) costs 3 x LQG and ends within the
    # band on 41 % of the choice trajectories: those rows are off here, this test is about the
    # near-singular term.
    req = load_requirements(
        {"robust_spectral_radius_max": False, "worst_case_ratio_max": False, "cost_ratio_max": False, "success_rate_min": False}
    )
    said = []
    chosen, record = choose(task, tmp_path, near, seed=0, requirements=req, say=said.append)
    assert chosen.g == weak.g and chosen.f == weak.f
    assert record["candidate"] == "candidate 00" and record["passes_screen"]
    with open(tmp_path / "choice.csv", encoding="utf-8") as fh:
        rows = {r["candidate"]: r for r in csv.DictReader(fh)}
    assert float(rows["method's choice"]["choice_cost"]) < float(rows["candidate 00"]["choice_cost"])
    assert rows["method's choice"]["screened"] == "True" and rows["method's choice"]["passes"] == "False"
    assert rows["method's choice"]["near_singular"] == "True" and "near_singular" in rows["method's choice"]["failed"]
    assert rows["candidate 00"]["chosen"] == "1" and "passes the certificate's cheap checks" in said[-1]


def test_when_nothing_passes_the_export_is_the_one_failing_least_and_the_run_says_why(tmp_path):
    """On sho/noisy with the default requirements the box's omega = 0 corner fails every design
    made at omega = 1: the choice still exports one and names what it fails."""
    from symctl._choice import choose
    from validation import lqg

    task = plants.get_task("sho/noisy")
    ss = lqg(task, "lqg-ss")
    said = []
    chosen, record = choose(task, tmp_path, ss, seed=0, say=said.append)
    assert not record["passes_screen"] and chosen.f == ss.f
    assert "robust_spectral_radius_max" in record["failed"] and "no candidate passes" in said[-1]
    with open(tmp_path / "choice.csv", encoding="utf-8") as fh:
        row = next(csv.DictReader(fh))
    # the steady-state LQG against the time-varying one on the same trajectories: 1.137 on 1,000
    assert 1.0 < float(row["ratio_to_lqg"]) < 1.25 and "cost_ratio_max" not in row["failed"]


def test_a_candidate_whose_success_rate_is_under_the_bar_fails_the_screen(tmp_path):
    """The certificate bounds the success rate from below: a candidate already under the bar on
    the choice trajectories is screened out. Here the success condition is a coin flip (the
    velocity's sign at the end), so every candidate fails it; with the task's own condition the
    same LQG succeeds on every choice trajectory and passes that check."""
    from plants import Success
    from symctl._choice import choose
    from validation import load_requirements, lqg

    task = plants.get_task("sho/noisy")
    ss = lqg(task, "lqg-ss")
    req = load_requirements({"robust_spectral_radius_max": False, "worst_case_ratio_max": False})
    coin = task.replace(success=Success(sp.sympify("v > 0", locals={"v": plants.symbol("v")}), "final"))
    for t, folder, fails in ((coin, "coin", True), (task, "own", False)):
        (tmp_path / folder).mkdir()
        _, record = choose(t, tmp_path / folder, ss, seed=0, requirements=req, say=lambda _: None)
        with open(tmp_path / folder / "choice.csv", encoding="utf-8") as fh:
            row = next(csv.DictReader(fh))
        assert ("success_rate_min" in record["failed"]) is fails and ("success_rate_min" in row["failed"]) is fails
        rate = float(row["success_rate"])
        assert 0.3 < rate < 0.7 if fails else rate == 1.0
