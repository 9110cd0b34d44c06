"""The command line: output, JSON, run folders, and one-line errors with exit status 2."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def symctl(*args, check=False):
    proc = subprocess.run([sys.executable, "-m", "symctl", *args], capture_output=True, text=True, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_tasks_lists_every_builtin_task_as_json():
    import plants

    out = json.loads(symctl("tasks", "--json", check=True).stdout)
    assert [row["name"] for row in out] == plants.builtin_tasks()


def test_show_prints_equations_noise_and_cost():
    out = symctl("show", "sho/partial", check=True).stdout
    assert "dv/dt = -omega*x + u - v*zeta" in out.replace("  ", " ") or "dv/dt" in out
    assert "y_x = x + 0.3 n" in out
    assert "mean over a grid every 10 ticks" in out


def test_simulate_json_has_the_documented_keys():
    out = json.loads(symctl("simulate", "sho/noisy", "--policy", "lqg", "--trajectories", "64", "--json", check=True).stdout)
    assert {"task", "policy", "trajectories", "cost_mean", "cost_ci95"} <= set(out)
    lo, hi = out["cost_ci95"]
    assert lo < out["cost_mean"] < hi
    assert out["trajectories"] == 64


def test_synth_lqg_writes_a_run_folder_and_simulate_reads_it(tmp_path):
    run = tmp_path / "run"
    symctl("synth", "sho/partial", "--method", "lqg", "--out", str(run), "--quiet", check=True)
    assert {"policy.json", "config.toml", "manifest.json"} <= {p.name for p in run.iterdir()}
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["seed"] == 0 and "jax" in manifest["versions"] and len(manifest["config_hash"]) == 64
    out = json.loads(symctl("simulate", "sho/partial", "--policy", str(run), "--trajectories", "16", "--json", check=True).stdout)
    assert out["cost_mean"] > 0


def test_codegen_of_a_task_files_run_folder_finds_the_file_without_task(tmp_path):
    """A run folder made from a task file: its policy names the task ("tank/level"), which is no
    built-in; codegen --verify reads the file's path from the folder's config.toml instead of
    asking for --task (it failed with "unknown task 'tank/level'")."""
    run = tmp_path / "run"
    task = Path(__file__).resolve().parent.parent / "examples" / "tank.toml"
    symctl("synth", str(task), "--method", "lqg-ss", "--out", str(run), "--quiet", check=True)
    proc = symctl("codegen", str(run), "--out", str(tmp_path / "c"), "--verify", "--target", "host")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "PASS" in (tmp_path / "c" / "verification.log").read_text().splitlines()[0]


@pytest.mark.parametrize(
    "args, message",
    [
        (["show", "sho/nosy"], "unknown task 'sho/nosy' (did you mean 'sho/noisy'?)"),
        (["simulate", "sho/noisy", "--policy", "missing.json"], "--policy 'missing.json': no such file or run folder"),
        (
            ["synth", "sho/noisy", "--method", "lqr"],
            "--method 'lqr' is not valid (did you mean 'lqg'?); choose one of lqg, lqg-ss, lqg-i, lqg-p, gp-s",
        ),
        (["simulate", "sho/noisy", "--trajectories", "0"], "--trajectories"),
        (["show", "does/not/exist.toml"], "task file 'does/not/exist.toml' does not exist"),
        (
            ["synth", "sho/noisy", "--seed-policy", "missing.json"],
            "--seed-policy 'missing.json': no such file; give a policy.json, lqg, lqg-ss, lqg-i or none",
        ),
        (["synth", "sho/noisy", "--method", "gp-s", "--seed-policy", "lqg"], "option --seed-policy 'lqg' applies to gp-d only"),
        (
            ["synth", "sho/noisy", "--latent", "1", "--seed-policy", "lqg"],
            "it has 2 latent states, the run has 1; give --latent 2",
        ),
        (
            ["synth", "sho/noisy", "--method", "espl-s", "--seed-policy", "lqg"],
            "option --seed-policy does not apply to method 'espl-s'",
        ),
    ],
)
def test_user_errors_are_one_line_with_status_2(args, message):
    proc = symctl(*args)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_debug_shows_the_traceback():
    proc = symctl("--debug", "show", "sho/nosy")
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr


def test_bad_task_file_names_the_file_and_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[task]\nhorizon = 1.0\ndt = 0.1\nplant = "nowhere.toml"\n[task.cost]\nstage = "0"\n')
    proc = symctl("show", str(bad))
    assert proc.returncode == 2
    assert "nowhere.toml: file not found" in proc.stderr


def test_version_prints_the_package_version():
    from plants._version import __version__

    proc = symctl("--version", check=True)
    assert proc.stdout.strip() == f"symctl {__version__}"


@pytest.mark.parametrize(
    "args, option, valid",
    [
        (
            ["synth", "sho/noisy", "--method", "gp"],
            "--method",
            ["lqg", "lqg-ss", "lqg-i", "lqg-p", "gp-s", "gp-d", "gp-l", "rs", "espl-s", "espl-d", "nde"],
        ),
        (["run", "sho/noisy", "--method", "lqg"], "--method", ["gp-d", "gp-s", "gp-l", "rs", "espl-d", "espl-s", "nde"]),
        (["run", "sho/noisy", "--budget", "fast"], "--budget", ["quick", "paper"]),
        (["run", "sho/noisy", "--real", "half"], "--real", ["float", "double"]),
        (["codegen", "lqg", "--out", "x", "--target", "avr"], "--target", ["host", "cortex-m4"]),
        (["validate", "lqg", "--design", "halton"], "--design", ["lhs", "sobol", "grid", "random"]),
    ],
)
def test_a_value_outside_the_choices_exits_2_naming_the_valid_ones(args, option, valid):
    proc = symctl(*args)
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert line.startswith(f"symctl: error: {option} {args[args.index(option) + 1]!r} is not valid")
    assert line.endswith("choose one of " + ", ".join(valid))
    wide = dict(os.environ, COLUMNS="400")  # (--help lists them; at 80 columns a choice may be cut across lines)
    help_text = subprocess.run(
        [sys.executable, "-m", "symctl", args[0], "--help"], capture_output=True, text=True, env=wide
    ).stdout
    assert "<" + "|".join(valid) + ">" in help_text


def test_the_cli_sweep_designs_are_validations():
    from symctl._cmd_validate import DESIGNS as CLI_DESIGNS
    from validation._sweep import DESIGNS

    assert CLI_DESIGNS == DESIGNS


def test_synth_json_is_the_only_thing_on_stdout(tmp_path):
    from synth import SymbolicPolicy

    run = tmp_path / "run"
    proc = symctl("synth", "sho/partial", "--method", "lqg-ss", "--out", str(run), "--json", check=True)
    out = json.loads(proc.stdout)
    assert {"task", "method", "budget", "seed", "out", "policy"} <= set(out)
    assert out["task"] == "sho/partial" and out["method"] == "lqg-ss" and out["out"] == str(run)
    policy = SymbolicPolicy.load(run)
    assert out["policy"]["digest"] == policy.digest() and out["policy"]["file"] == str(run / "policy.json")
    assert out["policy"]["latent"] == list(policy.latent) and len(out["policy"]["f"]) == policy.nz
