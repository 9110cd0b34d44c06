"""The Python API (`symctl.synthesize`, `validate`, `generate_c`, `run`): the commands' code with the
commands' defaults, and the README's example, which gives the policy of `symctl run`."""

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_pipeline import TINY, _capture_method_config, _Resolved

import symctl
from symctl.cli import main

ROOT = Path(__file__).resolve().parents[1]
# LQG on sho/noisy with few trajectories and no sweep or worst case: seconds (tests/test_exit_codes.py).
CHEAP = {"trajectories": 20, "sweep": 0, "starts": 0, "oracle_trajectories": 0}


def test_import_symctl_loads_neither_jax_nor_casadi():
    code = "import sys, symctl; symctl.synthesize; print(sorted({'jax', 'casadi', 'validation'} & set(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: symctl.synthesize("sho/partial", generation=3),
            "unexpected keyword argument 'generation' (did you mean 'generations'?)",
        ),
        (lambda: symctl.synthesize("sho/partial", trajectories=50), "unexpected keyword argument 'trajectories'"),
        (lambda: symctl.run("sho/partial", sweeps=8), "unexpected keyword argument 'sweeps' (did you mean 'sweep'?)"),
        (
            lambda: symctl.validate("lqg", "sho/noisy", trajectory=20),
            "unexpected keyword argument 'trajectory' (did you mean 'trajectories'?)",
        ),
    ],
)
def test_unknown_keyword_arguments_are_refused_with_the_nearest_name(call, message):
    with pytest.raises(TypeError, match=re.escape(message)):
        call()


def test_bad_values_are_user_errors_that_name_the_value(tmp_path):
    from plants import UserInputError

    with pytest.raises(UserInputError, match="'gp' is not a method"):
        symctl.synthesize("sho/partial", method="gp", out=tmp_path / "a")
    with pytest.raises(UserInputError, match="unknown task 'sho/nosy'"):
        symctl.run("sho/nosy", out=tmp_path / "b")
    with pytest.raises(UserInputError, match="needs a task"):
        symctl.generate_c("lqg", tmp_path / "c")


@pytest.mark.parametrize("method, budget", [("gp-d", "quick"), ("espl-s", "paper")])
def test_synthesize_gives_the_method_the_config_of_symctl_run(tmp_path, monkeypatch, method, budget):
    """The same method config as the synthesis stage of `symctl run` with the same options and settings."""
    from symctl import _pipeline
    from symctl._config import resolve

    setting = {"gp-d": ("polish_lr", 0.01), "espl-s": ("finetune_lr", 0.002)}[method]
    seen = _capture_method_config(monkeypatch, method)
    cli = {
        "task": "sho/partial",
        "method": method,
        "budget": budget,
        "seed": 3,
        "out": str(tmp_path / "cli"),
        "compile_cache": False,
        "quiet": True,
    }
    with pytest.raises(_Resolved):
        _pipeline.run(resolve(cli, None, [f"{setting[0]}={setting[1]}"]), say=lambda line: None)
    from_cli = seen.pop("config")
    with pytest.raises(_Resolved):
        symctl.synthesize(
            "sho/partial", method, budget=budget, seed=3, out=tmp_path / "api", compile_cache=False, settings=dict([setting])
        )
    mine = seen["config"]
    assert getattr(from_cli, setting[0]) == setting[1]
    if method == "gp-d":  # the LQG seed, each in its own run folder
        from synth import SymbolicPolicy

        assert SymbolicPolicy.load(mine.seed_policy).digest() == SymbolicPolicy.load(from_cli.seed_policy).digest()
        mine, from_cli = dataclasses.replace(mine, seed_policy=""), dataclasses.replace(from_cli, seed_policy="")
    assert mine == from_cli


def test_validate_gives_what_symctl_validate_prints(tmp_path, capsys):
    report = symctl.validate("lqg", "sho/noisy", out=tmp_path / "api", **CHEAP)
    assert report.out == tmp_path / "api" and (report.out / "report.html").exists()
    assert (
        main(
            [
                "validate",
                "lqg",
                "--task",
                "sho/noisy",
                "--trajectories",
                "20",
                "--sweep",
                "0",
                "--starts",
                "0",
                "--oracle",
                "0",
                "--out",
                str(tmp_path / "cli"),
                "--json",
                "--allow-fail",
            ]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    mine = report.to_dict()
    assert printed["verdict"] == mine["verdict"] == report.verdict
    assert [(r["name"], r["status"]) for r in printed["rows"]] == [(r["name"], r["status"]) for r in mine["rows"]]
    assert printed["cost"] == mine["cost"] and 0.99 < mine["cost"]["ratio_to_lqg"] < 1.01  # LQG against itself


def test_generate_c_writes_the_files_of_symctl_codegen(tmp_path, capsys):
    c = symctl.generate_c("lqg-ss", tmp_path / "api", task="sho/noisy", real="double")
    assert c.ok is None and c.verification is None
    assert main(["codegen", "lqg-ss", "--task", "sho/noisy", "--real", "double", "--out", str(tmp_path / "cli"), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["prefix"] == c.code.prefix == "sho_noisy_lqg_ss" and printed["real"] == "double"
    assert printed["verified"] is False and printed["ok"] is None
    assert [Path(f).name for f in printed["files"]] == [p.name for p in c.files]
    for mine, theirs in zip(c.files, printed["files"]):
        assert mine.read_bytes() == Path(theirs).read_bytes()


def _readme_example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- python-api:start -->\s*```python\n(.*?)```\s*<!-- python-api:end -->", readme, re.S)
    assert block, "README has no python-api block"
    return block.group(1)


def test_the_readme_example_uses_only_the_api():
    code = _readme_example()
    assert (
        "import symctl" in code and "symctl.synthesize(" in code and "symctl.validate(" in code and "symctl.generate_c(" in code
    )
    compile(code, "README.md", "exec")


# The README example on a tiny budget: the options of TINY (tests/test_pipeline.py) as keyword arguments.
_TINY_PRELUDE = """
import functools, symctl
def _tiny(f, **fixed):
    @functools.wraps(f)
    def call(*args, **kwargs):
        return f(*args, **{**kwargs, **fixed})
    return call
symctl.synthesize = _tiny(symctl.synthesize, population=40, islands=1, generations=3)
symctl.validate = _tiny(symctl.validate, trajectories=50, sweep=8, starts=1)
"""


@pytest.mark.slow
def test_the_readme_example_gives_the_policy_of_symctl_run(tmp_path):
    """The README's Python example, on TINY's budget, and `symctl run` with the same seed and options:
    the same policy (digest), the same Monte Carlo costs; `symctl.run` on the CLI's folder finds every
    stage up to date (its config hashes as the CLI's). Both processes share a compilation cache, so the
    second skips most of JAX's compilation. About 6 minutes on 2 busy cores."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    cli_out = tmp_path / "cli"
    args = [a for a in TINY if a != "--no-compile-cache"]
    proc = subprocess.run(
        [sys.executable, "-m", "symctl", "run", "sho/partial", "--seed", "0", "--out", str(cli_out), "--json", *args],
        capture_output=True,
        text=True,
        timeout=1500,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    cli = json.loads(proc.stdout)

    script = tmp_path / "example.py"
    script.write_text(
        _TINY_PRELUDE + _readme_example() + "\nimport json\nprint('RESULT', json.dumps({'digest': policy.digest(), "
        "'cost': report.cost, 'verdict': report.verdict, 'c_ok': c.ok}))\n"
    )
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=1500, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    api = json.loads(proc.stdout.split("RESULT ", 1)[1])

    assert api["digest"] == cli["policy"]["digest"]
    assert api["cost"]["policy"] == pytest.approx(cli["cost"]["policy"], rel=1e-9)
    assert api["verdict"] == cli["certificate"]["verdict"]
    if api["c_ok"] is not None:  # (None: no C compiler on this machine)
        assert api["c_ok"] is True

    # `symctl.run` resolves the CLI's config: on the CLI's folder every stage is up to date.
    messages = []
    summary = symctl.run(
        "sho/partial",
        seed=0,
        out=cli_out,
        population=40,
        islands=1,
        generations=3,
        trajectories=50,
        sweep=8,
        starts=1,
        cortex_m4=False,
        compile_cache=False,
        log=messages.append,
    )
    assert summary.policy.digest() == cli["policy"]["digest"] and summary.seconds == {}
    assert sum("up to date" in m for m in messages) == 3, messages
    assert summary.to_dict()["policy"] == cli["policy"]
