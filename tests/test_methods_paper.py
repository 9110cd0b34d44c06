"""The GP paper's other methods: random search (`--method rs`), GP-L (`--method gp-l`, a static
law of the last three observations) and GP-D from scratch (`--seed-policy none`).

The quick tests run in-process on tiny budgets; `symctl synth` on all ten built-in tasks and
`symctl run` with C are marked slow.
"""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

import plants
from synth import SymbolicPolicy

TINY_RS = dict(train_trajectories=4, validation_trajectories=8, max_nodes=9, max_depth=4)
TINY_SET = [
    "--set",
    "train_trajectories=2",
    "--set",
    "validation_trajectories=4",
    "--set",
    "polish_top=0",
    "--set",
    "max_nodes=9",
    "--set",
    "max_depth=4",
]


def _rs(tmp_path, name, generations, resume=False):
    from synth.gp._random_search import run_rs

    return run_rs(
        plants.get_task("sho/partial"),
        tmp_path / name,
        seed=3,
        options={"population": 8, "generations": generations},
        settings=TINY_RS,
        resume=resume,
    )


def test_random_search_keeps_the_best_draw_and_resumes_exactly(tmp_path):
    from synth._cost import finite_mean
    from synth.gp._context import context
    from synth.gp._random_search import _draw, load_checkpoint, rs_config

    full = _rs(tmp_path, "full", 2)
    assert full.kind == "dynamic" and full.provenance["method"] == "rs" and full.provenance["evaluated"] == 24
    with open(tmp_path / "full" / "history.csv") as fh:
        assert [int(r["generation"]) for r in csv.DictReader(fh)] == [0, 1, 2]
    # the archive's best is the cheapest of every individual drawn (costed again here, batch by batch)
    cfg = rs_config(
        plants.get_task("sho/partial"), budget="quick", seed=3, options={"population": 8, "generations": 2}, settings=TINY_RS
    )
    ctx = context(cfg)
    drawn = [finite_mean(ctx.evaluate(*_draw(ctx, cfg, b), ctx.train), axis=1) for b in range(3)]
    state = load_checkpoint(tmp_path / "full", cfg)
    assert state.generation == 2
    assert np.min(state.arrays["archive_cost"]) == pytest.approx(np.min(np.concatenate(drawn)), rel=1e-12)
    assert cfg.init_depth == cfg.max_depth and cfg.polish_top == 0 and cfg.linear_seeds == 0
    # interrupted after one batch, resumed: the same archive and the same exported policy
    _rs(tmp_path, "part", 0)
    resumed = _rs(tmp_path, "part", 2, resume=True)
    again = load_checkpoint(tmp_path / "part", cfg)
    for key in ("archive_code", "archive_const", "archive_cost"):
        np.testing.assert_array_equal(again.arrays[key], state.arrays[key])
    assert resumed.digest() == full.digest()


def test_gp_l_policy_is_a_shift_register_of_the_last_three_observations(tmp_path):
    from synth.gp import run

    task = plants.get_task("sho/noisy")
    policy = run(
        task,
        tmp_path / "gpl",
        seed=0,
        options={"population": 8, "islands": 1, "generations": 1},
        method="gp-l",
        settings={**TINY_RS, "polish_top": 0},
    )
    assert policy.integrator == "discrete" and policy.provenance["method"] == "gp-l"
    assert policy.latent == ("y_x_1", "y_v_1", "y_x_2", "y_v_2", "y_x_3", "y_v_3")
    assert [str(e) for e in policy.f] == ["y_x", "y_v", "y_x_1", "y_v_1", "y_x_2", "y_v_2"]
    assert SymbolicPolicy.load(tmp_path / "gpl").digest() == policy.digest()
    # the exported policy, run by the ordinary simulator, costs what the GP's population program scored
    from synth._cost import finite_mean
    from synth.gp._config import gp_config
    from synth.gp._context import context

    ctx = context(
        gp_config(task, "quick", method="gp-l", **{**TINY_RS, "polish_top": 0, "population": 8, "islands": 1, "generations": 1})
    )
    cost = finite_mean(np.asarray(ctx.sim.simulate(policy, ctx.train).cost, float))
    assert cost == pytest.approx(policy.provenance["train_cost"], rel=1e-4)


def test_gp_l_readout_reads_the_observations_of_the_three_ticks_before():
    from types import SimpleNamespace

    from synth.gp._config import make_layout
    from synth.gp._trees import Tokens, from_sympy, policy_of

    task = plants.get_task("sho/partial")
    lay = make_layout(task, "gp-l", 2)
    assert lay.lags == 3 and lay.names[:3] == ("y_x_1", "y_x_2", "y_x_3") and lay.n_trees == 1
    tok = Tokens(("add", "sub", "mul"), (1.0, 1.0, 1.0), lay.n_in, 9, 4)
    y1, y3 = plants.symbol("y_x_1"), plants.symbol("y_x_3")
    code, const = from_sympy(tok, lay.names, lay.allowed[0], y1 - 2.0 * y3, np.float64)
    ctx = SimpleNamespace(task=task, layout=lay, tok=tok, config=SimpleNamespace(method="gp-l"))
    policy = policy_of(ctx, code[None], const[None])
    ys = np.arange(1.0, 8.0)[:, None]  # y_k = k + 1
    u, _ = policy.run_reference(ys, np.zeros(1))
    assert u[:, 0].tolist() == [0.0, 1.0, 2.0, 3.0 - 2.0, 4.0 - 4.0, 5.0 - 6.0, 6.0 - 8.0]


def _captured_config(monkeypatch, argv):
    from symctl.cli import main

    seen = {}

    class Stop(Exception):
        pass

    def stop(config, *args, **kwargs):
        seen["config"] = config
        raise Stop

    monkeypatch.setattr("synth.gp._runner.evolve", stop)
    with pytest.raises(Stop):
        main(argv)
    return seen["config"]


def test_seed_policy_none_starts_from_random_trees_only(tmp_path, monkeypatch):
    base = ["synth", "sho/partial", "--out", str(tmp_path / "r"), "--quiet"]
    scratch = _captured_config(monkeypatch, [*base, "--seed-policy", "none"])
    assert scratch.seed_policy == "" and scratch.linear_seeds == 0
    default = _captured_config(monkeypatch, base)
    assert default.seed_policy.endswith("seed_policy.json") and default.linear_seeds > 0 and default.scheduled_seeds
    kept = _captured_config(monkeypatch, [*base, "--seed-policy", "none", "--set", "linear_seeds=3"])
    assert kept.linear_seeds == 3
    run_config = tmp_path / "run.toml"
    run_config.write_text('task = "sho/partial"\nmethod = "gp-d"\n[gp]\nseed_policy = "none"\n')
    from symctl._config import resolve
    from symctl._methods import run_gp
    from symctl._pipeline import method_settings

    config = resolve({"task": None}, run_config)
    assert config["seed_policy"] == "none"
    seen = {}
    monkeypatch.setattr("synth.gp.run", lambda task, out, **kw: seen.update(kw))
    run_gp(
        plants.get_task("sho/partial"),
        tmp_path / "r2",
        seed=0,
        options={"seed_policy": config["seed_policy"]},
        settings=method_settings(config),
    )
    assert seen["linear_seeds"] == 0 and "seed_policy" not in seen


def _synth(tmp_path, task, method, *extra):
    out = tmp_path / f"{task.replace('/', '-')}-{method}"
    args = [
        "synth",
        task,
        "--method",
        method,
        "--out",
        str(out),
        "--population",
        "8",
        "--generations",
        "1",
        "--quiet",
        "--json",
        *(["--islands", "1"] if method == "gp-l" else []),
        *TINY_SET,
        *extra,
    ]
    return out, args


@pytest.mark.parametrize("task, method", [("acrobot/two-inputs", "rs"), ("pendulum/swingup", "gp-l")])
def test_symctl_synth_runs_the_new_methods(tmp_path, capsys, task, method):
    from symctl.cli import main

    out, args = _synth(tmp_path, task, method)
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    policy = SymbolicPolicy.load(out)
    assert summary["method"] == method and policy.provenance["method"] == method
    t = plants.get_task(task)
    assert policy.controls == tuple(t.plant.inputs) and policy.observations == tuple(o.name for o in t.observations)
    assert policy.nz == (3 * t.ny if method == "gp-l" else (3 if t.plant.nu > 1 else 2))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["rs", "gp-l"])
@pytest.mark.parametrize("task", plants.builtin_tasks())
def test_symctl_synth_on_every_builtin_task(tmp_path, task, method):
    out, args = _synth(tmp_path, task, method)
    proc = subprocess.run([sys.executable, "-m", "symctl", *args], capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr
    policy = SymbolicPolicy.load(out)
    assert policy.provenance["method"] == method and policy.provenance["task"] == task
    assert np.isfinite(policy.provenance["validation_cost"])


@pytest.mark.slow
@pytest.mark.parametrize("method", ["rs", "gp-l"])
def test_symctl_run_with_c(tmp_path, method):
    out = tmp_path / method
    args = [
        "run",
        "sho/partial",
        "--method",
        method,
        "--out",
        str(out),
        "--population",
        "8",
        "--generations",
        "1",
        *(["--islands", "1"] if method == "gp-l" else []),
        *TINY_SET,
        "--trajectories",
        "50",
        "--sweep",
        "8",
        "--starts",
        "1",
        "--no-cortex-m4",
        "--no-compile-cache",
        "--allow-fail",
        "--json",
    ]
    proc = subprocess.run([sys.executable, "-m", "symctl", *args], capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["method"] == method
    assert json.loads((out / "c" / "verification.json").read_text())["ok"] is True
    assert (out / "validation.json").exists() and SymbolicPolicy.load(out).provenance["method"] == method
