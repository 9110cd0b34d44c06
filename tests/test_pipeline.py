"""`symctl run`: run configs, stage skipping, interruption and resume, exports."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from symctl._config import RunConfigError, load_run_config, resolve
from synth import SymbolicPolicy

# Too small for the certificate to pass (50 trajectories cannot bound the success rate at 0.99): these
# tests are about the run folder, so --allow-fail keeps the exit status 0 (tests/test_exit_codes.py).
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
    "--allow-fail",
]


def symctl(*args, timeout=900, **kw):
    return subprocess.run([sys.executable, "-m", "symctl", *args], capture_output=True, text=True, timeout=timeout, **kw)


def test_run_config_keys_are_the_cli_options(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text('task = "sho/partial"\nmethod = "gp-s"\ngenerations = 7\ntime-budget = 30\n')
    loaded = load_run_config(cfg)
    assert loaded == {"task": "sho/partial", "method": "gp-s", "generations": 7, "time_budget": 30.0}
    resolved = resolve({"generations": 9, "task": None}, cfg)
    assert resolved["generations"] == 9 and resolved["method"] == "gp-s" and resolved["budget"] == "quick"


@pytest.mark.parametrize(
    "text, message",
    [
        ('task = "sho/partial"\ngenerationz = 3\n', r"\[generationz\] unknown key \(did you mean 'generations'\?\)"),
        ('task = "sho/partial"\nmethod = "gp"\n', r"\[method\] 'gp' is not a method"),
        ('task = "sho/partial"\nbudget = "fast"\n', r"\[budget\] 'fast' is not a budget; valid: quick, paper"),
        ('task = "sho/partial"\npopulation = "many"\n', r"\[population\] expected int, got 'many'"),
        ('task = "sho/partial"\ntrajectories = 0\n', r"\[trajectories\] 0 must be > 0"),
    ],
)
def test_bad_run_configs_are_refused_with_the_key(tmp_path, text, message):
    cfg = tmp_path / "run.toml"
    cfg.write_text(text)
    with pytest.raises(RunConfigError, match=message):
        resolve({}, cfg)


class _Resolved(Exception):
    """Raised where a method has resolved its settings: these tests need the settings, not the run."""


def _capture_method_config(monkeypatch, method: str) -> dict:
    """Make the method stop, recording its resolved config, where its training would start."""
    seen: dict = {}

    def stop(config, *args, **kwargs):
        seen["config"] = config
        raise _Resolved

    if method.startswith("gp"):
        monkeypatch.setattr("synth.gp._runner.evolve", stop)
    else:
        monkeypatch.setattr("synth.espl._run.synthesise", lambda task, config, *a, **k: stop(config))
    return seen


def _expected_method_config(method: str, budget: str, config):
    """The config the budget's preset gives for sho/partial, and another preset's, for comparison."""
    import plants
    from synth.espl import RUN_BUDGETS, espl_config
    from synth.gp import gp_config

    if method.startswith("gp"):
        task = plants.get_task("sho/partial")
        make = lambda b: gp_config(
            task, b, method=method, seed=0, normalised=True, robust=True, linear_seeds=0
        )  # (--seed-policy none: from scratch)
    else:
        task = plants.training_task(plants.get_task("sho/partial"), True, True)[0]
        make = lambda b: espl_config(task, RUN_BUDGETS[b], method=method, latent=config.latent)
    return make(budget), make({"quick": "paper", "paper": "quick"}[budget])


@pytest.mark.parametrize("method", ["gp-s", "gp-d", "espl-s", "espl-d"])
@pytest.mark.parametrize("budget", ["quick", "paper"])
def test_the_run_budget_reaches_the_method_config(tmp_path, monkeypatch, method, budget):
    from symctl import _pipeline
    from symctl._config import METHODS

    assert method in METHODS
    seen = _capture_method_config(monkeypatch, method)
    config = resolve(
        {
            "task": "sho/partial",
            "method": method,
            "budget": budget,
            "out": str(tmp_path / "run"),
            "seed_policy": "none" if method.startswith("gp") else None,
            "compile_cache": False,
            "quiet": True,
        },
        None,
    )
    with pytest.raises(_Resolved):
        _pipeline.run(config, say=lambda line: None)
    expected, other = _expected_method_config(method, budget, seen["config"])
    assert seen["config"] == expected and expected != other


@pytest.mark.parametrize("method", ["gp-d", "espl-s"])
def test_symctl_synth_passes_its_budget_to_the_method(tmp_path, monkeypatch, method):
    from symctl.cli import main

    seen = _capture_method_config(monkeypatch, method)
    with pytest.raises(_Resolved):
        main(
            [
                "synth",
                "sho/partial",
                "--method",
                method,
                "--budget",
                "paper",
                "--out",
                str(tmp_path / "run"),
                "--quiet",
                *(["--seed-policy", "none"] if method == "gp-d" else []),
            ]
        )
    if method == "gp-d":
        from synth.gp import BUDGETS

        assert seen["config"].population == BUDGETS["paper"]["population"]
    else:
        import plants
        from synth.espl import espl_config

        assert seen["config"] == espl_config(plants.get_task("sho/partial"), "paper", method=method)


# The GP's gradient tuning (of its linear seeds, during the run, the final polish) is tested in
# tests/test_gp_*.py; off here, where the run folder is the subject, it saves half a minute.
UNTUNED = ["--set", "linear_seeds=0", "--set", "tune_every=0", "--set", "polish_top=0"]


def test_run_writes_the_folder_then_skips_up_to_date_stages(tmp_path):
    out = tmp_path / "run"
    first = symctl("run", "sho/partial", "--out", str(out), *TINY, *UNTUNED)
    assert first.returncode == 0, first.stderr[-3000:]
    names = {p.name for p in out.iterdir()}
    assert {
        "config.toml",
        "manifest.json",
        "policy.json",
        "history.csv",
        "pareto.csv",
        "validation.json",
        "report.html",
        "c",
    } <= names
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["stages"]) == {"synth", "validate", "codegen"}
    assert "certificate" in first.stdout and "report" in first.stdout
    second = symctl("run", "sho/partial", "--out", str(out), *TINY, *UNTUNED, "--json")
    assert second.returncode == 0, second.stderr[-3000:]
    for stage in ("synthesis: up to date", "validation: up to date", "code generation: up to date"):
        assert stage in second.stderr
    # --json: the summary alone on stdout, the messages on stderr.
    summary = json.loads(second.stdout)
    assert summary["out"] == str(out) and summary["task"] == "sho/partial" and summary["method"] == "gp-d"
    assert summary["policy"]["digest"] == SymbolicPolicy.load(out).digest()
    assert summary["certificate"]["verdict"] == json.loads((out / "validation.json").read_text())["certificate"]["verdict"]
    assert set(summary["cost"]) >= {"policy", "lqg", "ratio_to_lqg", "ratio_ci95"}
    assert summary["c"]["ok"] == json.loads((out / "c" / "verification.json").read_text())["ok"]
    # Changing a validation setting reruns validation and what follows, not synthesis.
    third = symctl("run", "sho/partial", "--out", str(out), *[a if a != "50" else "60" for a in TINY], *UNTUNED)
    assert "synthesis: up to date" in third.stderr and "validation: up to date" not in third.stderr


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_same_policy(tmp_path):
    args = [
        "sho/partial",
        "--population",
        "40",
        "--islands",
        "1",
        "--generations",
        "5",
        "--trajectories",
        "50",
        "--sweep",
        "8",
        "--starts",
        "1",
        "--no-cortex-m4",
        "--no-compile-cache",
        "--allow-fail",
    ]
    whole = tmp_path / "whole"
    assert symctl("run", *args, "--out", str(whole)).returncode == 0
    cut = tmp_path / "cut"
    proc = subprocess.Popen(
        [sys.executable, "-m", "symctl", "run", *args, "--out", str(cut)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 600
    history = cut / "history.csv"
    while time.time() < deadline:  # interrupt once two generations are checkpointed
        if history.exists() and len(history.read_text().splitlines()) >= 3:
            break
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    interrupted = proc.poll() is None
    if interrupted:
        proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=600)
    assert interrupted, "the run finished before it could be interrupted"
    assert not (cut / "validation.json").exists()
    resumed = symctl("run", *args, "--out", str(cut), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a = json.loads((whole / "policy.json").read_text())
    b = json.loads((cut / "policy.json").read_text())
    assert a["f"] == b["f"] and a["g"] == b["g"]


def test_export_formats(tmp_path):
    run = tmp_path / "lqg"
    assert symctl("synth", "sho/noisy", "--method", "lqg-ss", "--out", str(run), "--quiet").returncode == 0
    latex = symctl("export", str(run), "--latex")
    assert latex.returncode == 0 and "\\begin{aligned}" in latex.stdout
    py = tmp_path / "policy_step.py"
    assert symctl("export", str(run), "--python", str(py)).returncode == 0
    ss = symctl("export", str(run), "--statespace")
    assert ss.returncode == 0 and "dt = 0.02" in ss.stdout
    # The exported Python module computes the same tick as the reference.
    import importlib.util

    import numpy as np

    from synth import SymbolicPolicy

    spec = importlib.util.spec_from_file_location("policy_step", py)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    pol = SymbolicPolicy.load(run)
    z = np.array(pol.latent_init) + 0.3
    u_ref, z_ref = pol.reference().step(z, np.array([0.4, -0.2]), np.array([1.5]))
    u, zn = mod.step(list(z), [0.4, -0.2], [1.5])
    np.testing.assert_allclose(u, u_ref, rtol=1e-13)
    np.testing.assert_allclose(zn, z_ref, rtol=1e-13)


def test_statespace_export_equals_the_policy_tick():
    import numpy as np

    import plants
    from synth._export import to_statespace
    from validation import lqg

    task = plants.get_task("sho/noisy")
    pol = lqg(task, "lqg-ss")
    # The offsets of the target make it affine, not linear, unless the target is part of the inputs:
    sys_ = to_statespace(pol)
    z = np.array([0.3, -0.1])
    w = np.array([0.5, 0.2, 1.0])
    u_ref, z_ref = pol.reference().step(z, w[:2], w[2:])
    np.testing.assert_allclose(sys_.C @ z + sys_.D @ w, u_ref, rtol=1e-12)
    np.testing.assert_allclose(sys_.A @ z + sys_.B @ w, z_ref, rtol=1e-12)


def test_unwritable_output_folder_is_one_line(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    proc = symctl("run", "sho/partial", "--out", str(blocked / "run"), *TINY)
    assert proc.returncode == 2
    assert "cannot create run folder" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_readme_walkthrough_runs_as_written(tmp_path):
    """Every command of the README walkthrough, in a fresh folder holding the example plant."""
    import re
    import shutil

    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    block = re.search(r"<!-- walkthrough:start -->\s*```sh\n(.*?)```\s*<!-- walkthrough:end -->", readme, re.S)
    assert block, "README has no walkthrough block"
    commands = [c for c in block.group(1).splitlines() if c.strip()]
    assert any("examples/dc_motor.toml" in c for c in commands)
    shutil.copytree(root / "examples", tmp_path / "examples")
    venv_bin = Path(sys.executable).parent
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "bin").symlink_to(venv_bin)
    for command in commands:
        proc = subprocess.run(command, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=1500)
        assert proc.returncode == 0, f"{command}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    assert (tmp_path / "runs" / "motor" / "report.html").exists()


@pytest.mark.slow
@pytest.mark.chromium
def test_demo_finishes_within_the_quick_budget_and_its_report_opens(tmp_path):
    """`make demo` runs `symctl run examples/dc_motor.toml --budget quick`: certificate PASS and C
    verification PASS (exit status 0), a policy within 1.25 x LQG, and a report that renders. (Its
    wall time is a benchmark figure: bench/pipeline_RESULTS.md.)"""
    from _browser import open_report

    out = tmp_path / "demo"
    proc = symctl(
        "run",
        "examples/dc_motor.toml",
        "--budget",
        "quick",
        "--out",
        str(out),
        "--no-compile-cache",
        timeout=1800,
        cwd=Path(__file__).parent.parent,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    val = json.loads((out / "validation.json").read_text())
    assert val["certificate"]["verdict"] == "PASS"
    assert json.loads((out / "c" / "verification.json").read_text())["ok"]
    assert val["monte_carlo"]["policies"]["policy"]["ratio_to_lqg"]["ratio"] <= 1.25
    page = open_report(out / "report.html", tmp_path)
    assert not page["console_errors"], page["console_errors"]
    assert page["dom"].count("<math") >= 1 and page["dom"].count("<svg") >= 4
    assert page["non_white"] > 500
