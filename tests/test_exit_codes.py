"""Exit status of `symctl run` and `symctl validate`: 3 when the certificate or the C verification
fails, 0 with --allow-fail; the summary names the failed rows and what to try."""

import json
import subprocess
import sys

import pytest
from rich.console import Console

from symctl._cmd_run import print_summary
from symctl._verdict import EXIT_FAILED, exit_status, failure_lines, hint_kind
from symctl.cli import main

# LQG on sho/noisy, few trajectories, no sweep or worst case: about 10 s. The cost ratio of LQG to
# itself is 1 and its margins pass, so the verdict follows the cost-ratio requirement.
CHEAP = ["validate", "lqg", "--task", "sho/noisy", "--trajectories", "20", "--sweep", "0", "--starts", "0", "--oracle", "0"]


def _requirements(tmp_path, text):
    path = tmp_path / "requirements.toml"
    # 20 trajectories cannot bound a success rate at 0.99; the sho plant's box reaches omega = zeta = 0,
    # where the LQG designed at the nominal point is not stable.
    path.write_text("success_rate_min = false\nrobust_spectral_radius_max = false\n" + text)
    return str(path)


def test_validate_exits_3_when_the_certificate_fails_and_0_with_allow_fail(tmp_path, capsys):
    req = _requirements(tmp_path, "cost_ratio_max = 0.5\n")
    assert main([*CHEAP, "--requirements", req, "--out", str(tmp_path / "v")]) == EXIT_FAILED
    out = capsys.readouterr().out
    assert "cost ratio to optimal LQG: 1 (required: upper 95% bound <= 0.5)" in out
    assert "cost: a larger synthesis budget: --budget paper" in out
    assert "exit status 3 (--allow-fail keeps 0)" in out
    cert = json.loads((tmp_path / "v" / "validation.json").read_text())["certificate"]
    assert cert["verdict"] == "FAIL" and [r["name"] for r in cert["rows"] if r["status"] == "FAIL"] == [
        "cost ratio to optimal LQG"
    ]

    assert main([*CHEAP, "--requirements", req, "--out", str(tmp_path / "v"), "--allow-fail", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "symctl: certificate FAIL: cost ratio to optimal LQG" not in err  # allowed: nothing to report on stderr

    assert main([*CHEAP, "--requirements", req, "--out", str(tmp_path / "v"), "--json"]) == EXIT_FAILED
    captured = capsys.readouterr()
    assert json.loads(captured.out)["verdict"] == "FAIL"  # stdout stays pure JSON
    assert "symctl: certificate FAIL: cost ratio to optimal LQG" in captured.err


def test_validate_exits_0_when_the_certificate_passes(tmp_path, capsys):
    req = _requirements(tmp_path, "cost_ratio_max = 1.25\n")
    assert main([*CHEAP, "--requirements", req, "--out", str(tmp_path / "v")]) == 0
    out = capsys.readouterr().out
    assert "certificate: PASS" in out and "what failed" not in out and "exit status" not in out


@pytest.mark.slow
def test_the_exit_status_reaches_the_shell(tmp_path):
    """`python -m symctl` (and the `symctl` script) turn the command's status into the process's.
    (Slow suite: the fast one has status 3 from `main` above and status 2 through the shell in
    tests/test_cli.py.)"""
    req = _requirements(tmp_path, "cost_ratio_max = 0.5\n")
    proc = subprocess.run(
        [sys.executable, "-m", "symctl", *CHEAP, "--requirements", req, "--out", str(tmp_path / "v"), "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == EXIT_FAILED, proc.stderr
    assert proc.stderr.strip().startswith("symctl: certificate FAIL: cost ratio to optimal LQG")


def _row(name, status, value=1.0, requirement="r"):
    return {"name": name, "requirement": requirement, "status": status, "value": value, "evidence": "because"}


@pytest.mark.parametrize(
    "name, kind",
    [
        ("cost ratio to optimal LQG", "cost"),
        ("success rate", "success"),
        ("gain margin", "margin"),
        ("disk margin (balanced, at the plant input)", "margin"),
        ("fixed step against CVODES", "integration"),
        ("robust stability over the parameter box", "robustness"),
        ("local stability (spectral radius)", "robustness"),
        ("worst-case cost <= k x nominal", "worst case"),
        ("closed loop finite at the worst case", "worst case"),
        ("settling time", "other"),
    ],
)
def test_hints_are_keyed_by_words_of_the_row_name(name, kind):
    assert hint_kind(name)[0] == kind


def test_failure_lines_list_each_failed_row_and_one_hint_per_kind():
    cert = {
        "verdict": "FAIL",
        "rows": [
            _row("cost ratio to optimal LQG", "PASS"),
            _row("gain margin", "FAIL", 0.9153968937703822, "min(up, down) >= 6.0 dB"),
            _row("phase margin", "FAIL", -29.1, ">= 30.0 deg"),
            _row("disk margin", "FAIL", None, ">= 6 dB"),
            _row("settling time", "FAIL", 12.0, "<= 5 s"),
            _row("worst-case cost over the box", "NOT APPLICABLE", None),
        ],
    }
    lines = failure_lines(cert, {"ok": True}, task="sho/partial")
    assert lines[0] == "what failed"
    assert "  gain margin: 0.9154 (required: min(up, down) >= 6.0 dB)" in lines
    assert "  phase margin: -29.1 (required: >= 30.0 deg)" in lines
    assert "  disk margin: - (required: >= 6 dB; because)" in lines  # no value: the evidence says why
    hints = lines[lines.index("what to try") + 1 :]
    assert [h.split(":")[0].strip() for h in hints] == ["margin", "other"]
    assert "symctl validate lqg --task sho/partial" in hints[0] and "disk_margin_min" in hints[0]
    assert not any("cost ratio" in line or "worst-case" in line for line in lines)


def test_c_verification_failure_alone_fails_the_run():
    cert = {"verdict": "PASS", "rows": [_row("cost ratio to optimal LQG", "PASS")]}
    assert exit_status(cert, {"ok": True}) == 0
    assert exit_status(cert, {"ok": False}) == EXIT_FAILED
    assert exit_status(cert, {"ok": False}, allow_fail=True) == 0
    assert exit_status(cert, {}) == 0  # not run (no report) is not a failure
    lines = failure_lines(cert, {"ok": False}, "runs/x/c/verification.log")
    assert lines == ["what failed", "  C verification: FAIL", "what to try", "  C: see runs/x/c/verification.log"]
    # a float build that misses its tolerance on the trajectory (the quadruple tank's lqg-p, whose
    # covariance recursion loses 1.6e-5 in float32 where the tolerance is 1e-5): the hint says double
    gcc = {"ok": False, "reasons": ["trajectory error above ..."], "over_tolerance": {"z:P0_2": 1.58e-05}}
    report = {"ok": False, "real": "float", "host": {"gcc": gcc}}
    assert failure_lines(cert, report, "runs/x/c/verification.log")[-1].endswith("generate double (--real double)")
    report["real"] = "double"
    assert failure_lines(cert, report, "runs/x/c/verification.log")[-1] == "  C: see runs/x/c/verification.log"


def test_run_summary_ends_with_the_failures_and_the_status(sho_noisy):
    import io

    from validation import lqg

    cert = {"verdict": "FAIL", "rows": [_row("success rate", "FAIL", 0.5, "lower 95% bound >= 0.99")]}
    summary = {
        "out": "runs/x",
        "task": "sho/noisy",
        "policy": lqg(sho_noisy, "lqg-ss"),
        "validation": {"certificate": cert},
        "codegen": {"ok": False, "files": ["controller.c", "controller.h"]},
    }
    for allow_fail, last in ((False, "exit status 3 (--allow-fail keeps 0)"), (True, "exit status 0 (--allow-fail)")):
        buf = io.StringIO()
        print_summary(summary, Console(file=buf, width=200, highlight=False), allow_fail=allow_fail)
        lines = buf.getvalue().splitlines()
        tail = lines[lines.index("what failed") :]
        assert tail == [
            "what failed",
            "  success rate: 0.5 (required: lower 95% bound >= 0.99)",
            "  C verification: FAIL",
            "what to try",
            "  success: a larger synthesis budget (--budget paper); where the trajectories end still settling, a longer "
            "horizon (`horizon` in the task file); where they settle off the target, integral action (`symctl validate "
            "lqg-i --task sho/noisy`, and GP-D started from it with --seed-policy lqg-i)",
            "  C: see runs/x/c/verification.log",
            last,
        ]


def test_run_summary_names_the_oracle_when_the_certificate_judges_against_it(sho_noisy):
    import io

    from validation import lqg

    def stats(mean, ratio):
        return {"mean": mean, "ratio_to_lqg": {"ratio": ratio, "ci95": [ratio - 0.01, ratio + 0.01]}}

    mc = {"policies": {"policy": stats(0.443, 1.015), "lqg": stats(0.4363, 1.0)}}
    summary = {
        "out": "runs/x",
        "task": "sho/noisy",
        "policy": lqg(sho_noisy, "lqg-ss"),
        "validation": {"certificate": {"verdict": "PASS", "rows": []}, "monte_carlo": mc},
        "codegen": {"ok": True, "files": []},
    }

    def printed():
        buf = io.StringIO()
        print_summary(summary, Console(file=buf, width=300, highlight=False))
        return buf.getvalue()

    assert "cost 0.443 against LQG 0.4363: ratio 1.015 (95% CI 1.005 to 1.025)" in printed()
    assert "oracle" not in printed()  # fixed parameters: the certificate judges against that LQG
    mc["oracle"] = {"designed": 50, "ratio_of_policies": {"policy": {"ratio": 1.263, "ci95": [1.136, 1.391]}}}
    text = printed()
    assert "cost 0.443 against LQG at the nominal parameters 0.4363: ratio 1.015" in text
    assert (
        "  against the per-trajectory LQG oracle (each trajectory's own parameters; the certificate's reference): "
        "ratio 1.263 (95% CI 1.136 to 1.391) on 50 trajectories"
    ) in text


TINY = [
    "--population",
    "40",
    "--islands",
    "1",
    "--generations",
    "3",
    "--trajectories",
    "50",
    "--sweep",
    "8",
    "--starts",
    "1",
    "--no-cortex-m4",
    "--no-compile-cache",
]


@pytest.mark.slow
def test_run_exits_3_when_the_certificate_fails_then_0_with_allow_fail(tmp_path):
    """A tiny GP run (about 2 minutes on 2 cores): 50 trajectories cannot bound the success rate at 0.99,
    so the certificate fails; the same command with --allow-fail finds every stage up to date."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "symctl", "run", "sho/partial", "--out", str(out), *TINY]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert (out / "validation.json").exists(), first.stderr[-3000:]
    cert = json.loads((out / "validation.json").read_text())["certificate"]
    assert cert["verdict"] == "FAIL", first.stdout[-3000:]
    assert first.returncode == EXIT_FAILED, first.stderr[-3000:]
    assert "what failed" in first.stdout and "  success rate: 1 (required: lower 95% bound >= 0.99)" in first.stdout
    assert first.stdout.rstrip().endswith("exit status 3 (--allow-fail keeps 0)")
    second = subprocess.run([*cmd, "--allow-fail"], capture_output=True, text=True, timeout=900)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "validation: up to date" in second.stderr and "code generation: up to date" in second.stderr


def test_the_success_hint_reads_the_monte_carlo_when_integral_action_succeeds_more_often():
    """The boost converter's first run: the policy met the band on 742 of 1,000 trajectories, the
    LQG with integral action on all of them; the hint says the misses are offsets, not settling."""
    cert = {"verdict": "FAIL", "rows": [_row("success rate", "FAIL", 0.742, "lower 95% bound >= 0.99")]}
    mc = {"policies": {"policy": {"success": {"rate": 0.742}}, "lqg-i": {"success": {"rate": 1.0}}}}
    lines = failure_lines(cert, task="boost/voltage", monte_carlo=mc)
    assert lines[-1] == (
        "  success: the steady-state LQG with integral action succeeds on 1.000 of the same trajectories (this policy "
        "0.742): the misses are offsets; start GP-D from it (--seed-policy lqg-i), or validate it alone "
        "(`symctl validate lqg-i --task boost/voltage`)"
    )
    # where the LQG estimating the parameters succeeds more often still, the hint names it
    mc["policies"]["lqg-p"] = {"success": {"rate": 1.0}}
    mc["policies"]["lqg-i"]["success"]["rate"] = 0.95
    assert failure_lines(cert, task="boost/voltage", monte_carlo=mc)[-1] == (
        "  success: the LQG estimating the varying parameters succeeds on 1.000 of the same trajectories (this policy "
        "0.742): the misses are offsets; validate it (`symctl validate lqg-p --task boost/voltage`)"
    )
    mc["policies"]["lqg-i"]["success"]["rate"] = 0.7  # no better: the general hint
    mc["policies"]["lqg-p"]["success"]["rate"] = 0.7
    assert failure_lines(cert, task="boost/voltage", monte_carlo=mc)[-1].startswith("  success: a larger synthesis budget")


def test_the_cost_hint_names_a_cheaper_lqg_variant_from_the_monte_carlo():
    """The chemostat's first run exported a GP-D law at 0.009126 where the LQG estimating the
    parameters cost 0.006859 on the same 1,000 trajectories: the hint names it and how to certify it."""
    cert = {"verdict": "FAIL", "rows": [_row("cost ratio to optimal LQG", "FAIL", 1.393, "upper 95% bound <= 1.25")]}
    mc = {"policies": {"policy": {"mean": 0.009126}, "lqg-ss": {"mean": 0.01834}, "lqg-i": {"mean": 0.01079}}}
    mc["policies"]["lqg-p"] = {"mean": 0.006859}
    lines = failure_lines(cert, task="chemostat/substrate", monte_carlo=mc)
    assert lines[-1] == (
        "  cost: the LQG estimating the varying parameters costs 0.006859 on the same trajectories (this policy "
        "0.009126): validate it (`symctl validate lqg-p --task chemostat/substrate`); or a larger synthesis budget "
        "(--budget paper)"
    )
    mc["policies"]["lqg-p"]["mean"] = 0.02  # no variant cheaper than the policy: the general hint
    assert failure_lines(cert, task="chemostat/substrate", monte_carlo=mc)[-1].startswith("  cost: a larger synthesis budget")
