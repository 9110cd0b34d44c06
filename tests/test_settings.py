"""Method settings: one convention for GPConfig and ESPLConfig, every field settable from `--set`
and the run config's tables, and ESPL's per-task settings found by the task's content. (Their
documentation: test_settings_docs.py.)"""

import dataclasses
import json
import re
import shutil
from pathlib import Path

import pytest

import plants
from symctl._config import RunConfigError, resolve
from synth.espl._config import ESPLConfig, ESPLConfigError, checkpoint_dicts, espl_config, task_settings
from synth.gp._config import GPConfig, GPConfigError, gp_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"gp": GPConfig, "espl": ESPLConfig}

# A valid value for every settable field, unlike its default and unlike what the task and budget
# below give without it (GP: sho/partial, gp-d, quick; ESPL: sho/noisy, espl-d, run budget quick).
GP_VALUES = {
    "population": 240,
    "islands": 4,
    "generations": 7,
    "time_budget": 30.5,
    "latent": 3,
    "train_trajectories": 16,
    "validation_trajectories": 128,
    "max_nodes": 19,
    "max_depth": 8,
    "init_depth": 3,
    "operators": {"add": 0.5, "sub": 0.5, "mul": 0.3, "div": 0.1, "sin": 0.2},
    "const_prob": 0.4,
    "const_sd": 2.0,
    "const_mutation_sd": 0.25,
    "tournament": 5,
    "elite": 3,
    "migration_every": 4,
    "migration_size": 6,
    "crossover_rate": (0.8, 0.2),
    "tree_change_prob": 0.5,
    "immigrant_rate": (0.05, 0.05),
    "simplify_rate": (0.01, 0.01),
    "crossover_kinds": (0.6, 0.2, 0.2),
    "mutation_kinds": (1.0, 2.0, 1.0, 1.0, 1.0, 1.0),
    "selection": "penalty",
    "complexity_penalty": 0.01,
    "punish_duplicates": False,
    "const_search": False,
    "const_search_sd": 0.3,
    "const_every": 3,
    "const_top": 2,
    "polish_top": 1,
    "tune_every": 3,
    "tune_top": 1,
    "tune_steps": 30,
    "polish_steps": 100,
    "polish_lr": 0.01,
    "polish_trajectories": 64,
    "polish_batch": 16,
    "linear_seeds": 1,
    "seed_steps": 200,
    "seed_lr": 0.02,
    "seed_budget": 1e6,
    "seed_policy": "my_seed.json",
    "seed_policy_steps": 100,
    "seed_policy_trajectories": 128,
    "scheduled_seeds": False,
    "cost_every_tick": False,
    "integrator": "rk4",
    "dtype": "float64",
    "devices": 1,
}
ESPL_VALUES = {
    "iterations": 300,
    "batch": 4,
    "lr": 0.01,
    "lr_p": 0.01,
    "lr_final": 0.2,
    "clip": 2.0,
    "decay": 0.9,
    "layout": (("mul", "mul"), ("sin", "cos")),
    "tau_target": 0.3,
    "hard_fraction": 0.8,
    "warmup_fraction": 0.3,
    "retrain_lr": 0.01,
    "target_ratio": 0.2,
    "spls": 0.05,
    "regu": 0.5,
    "latent": 3,
    "latent_rate": 0.5,
    "eval_every": 10,
    "eval_batch": 32,
    "drop": 0.01,
    "max_paths": 40,
    "finetune_iterations": 100,
    "finetune_lr": 0.01,
    "finetune_batch": 8,
    "finetune_decay": 0.9,
    "stratified_batches": True,
    "stratified_finetune": True,
    "shaping": "x**2",
    "shaping_weight": 0.5,
    "cost_scale": 2.0,
    "dtype": "float64",
    "time_budget": 60.0,
    "restarts": 2,
    "train_ticks": 100,
    "augment_degree": 2,
    "augment_odd": ("z0",),
    "finetune_ticks": 100,
    "finetune_restore": 0.1,
    "finetune_critic": 1.0,
    "tune_chosen": True,
}
VALUES = {"gp": GP_VALUES, "espl": ESPL_VALUES}
RUN = {"gp": ("sho/partial", "gp-d"), "espl": ("sho/noisy", "espl-d")}
CASES = [(t, name) for t in CONFIGS for name in CONFIGS[t].settable()]


class _Captured(Exception):
    """Raised where a command hands over its resolved settings: these tests need them, not the run."""


def _toml(value) -> str:
    """`value` as a TOML literal (inline tables and arrays on one line)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


def _method_config(table: str, options: dict, settings: dict):
    """The config the method's runner builds from the CLI's options and settings (its own
    `resolve_config`), without running it. GP-D's runner turns the `seed_policy` option into the
    path of the run folder's copy: here the path given stands for it."""
    from synth.espl._config import resolve_config as espl_resolve
    from synth.gp._config import resolve_config as gp_resolve

    task_name, method = RUN[table]
    task = plants.get_task(task_name)
    options = {k: v for k, v in options.items() if v is not None}
    if table == "gp":
        extra = {"seed_policy": options.pop("seed_policy")} if "seed_policy" in options else {}
        return gp_resolve(
            task, method=method, budget="quick", seed=0, options=options, settings=settings, normalised=True, robust=True, **extra
        )
    return espl_resolve(task, method=method, budget="quick", options=options, settings=settings)


def _options(cfg: dict) -> dict:
    from symctl._config import SYNTH_KEYS

    return {k: cfg[k] for k in SYNTH_KEYS}


def test_every_settable_field_has_a_test_value():
    for table, cls in CONFIGS.items():
        assert set(VALUES[table]) == set(cls.settable()), table


@pytest.mark.parametrize("table, name", CASES)
def test_every_field_is_settable_from_the_run_config_and_from_set(tmp_path, monkeypatch, table, name):
    from symctl import _pipeline
    from symctl.cli import main

    value = VALUES[table][name]
    task, method = RUN[table]
    baseline = getattr(_method_config(table, {}, {}), name)
    assert baseline != value, "the test value must differ from what the run gives without it"

    # The run config's table.
    path = tmp_path / "run.toml"
    path.write_text(f'task = "{task}"\nmethod = "{method}"\n\n[{table}]\n{name} = {_toml(value)}\n', encoding="utf-8")
    cfg = resolve({}, path)
    by_file = _method_config(table, _options(cfg), cfg[table])

    # symctl run --set (the pipeline records its config and stops where it would start).
    seen = {}

    def record(key):
        def stop(*args, **kwargs):
            seen[key] = kwargs if key == "synth" else args[0]
            raise _Captured

        return stop

    monkeypatch.setattr(_pipeline, "run", record("run"))
    with pytest.raises(_Captured):
        main(["run", task, "--method", method, "--set", f"{name}={_toml(value)}", "--quiet"])
    by_run = _method_config(table, _options(seen["run"]), seen["run"][table])

    # symctl synth --set (the runner records what it was given).
    monkeypatch.setattr("symctl._methods.get_method", lambda m: record("synth"))
    with pytest.raises(_Captured):
        main(["synth", task, "--method", method, "--set", f"{name}={_toml(value)}", "--out", str(tmp_path / "s"), "--quiet"])
    by_synth = _method_config(table, seen["synth"]["options"], seen["synth"]["settings"])

    for config in (by_file, by_run, by_synth):
        assert getattr(config, name) == value


def test_set_and_run_config_refuse_unknown_keys_and_bad_values_with_exit_status_2(tmp_path, capsys):
    from symctl.cli import main

    cases = [
        (["--set", "tournamnet=5"], r"unknown GP setting 'tournamnet' \(did you mean 'tournament'\?\)"),
        (["--set", "tournament=5.5"], r"GP setting tournament = 5.5: expected an integer"),
        (["--set", "iterations=5"], r"unknown GP setting 'iterations' \(it is an ESPL setting\)"),
        (["--set", "seed=3"], r"seed is set by the run, not here: use --seed"),
        (["--set", "population"], r"write KEY=VALUE"),
        (["--set", "polish_lr=fast"], r"'fast' is not a TOML value"),
        (["--set", "population=300", "--population", "200"], r"population is given twice"),
        (["--method", "espl-s", "--set", "discount=0.9"], r"discount = 0.9 is no longer available: a discounted training loss"),
    ]
    for args, message in cases:
        assert main(["run", "sho/partial", *args]) == 2, args
        assert re.search(message, capsys.readouterr().err), (args, message)
    assert main(["synth", "sho/partial", "--method", "lqg", "--set", "population=3"]) == 2
    assert "method 'lqg' has no settings" in capsys.readouterr().err
    cfg = tmp_path / "run.toml"
    cfg.write_text('task = "sho/partial"\n[espl]\nfinetune_lrr = 0.1\n')
    with pytest.raises(RunConfigError, match=r"\[espl\]: unknown ESPL setting 'finetune_lrr' \(did you mean 'finetune_lr'\?\)"):
        resolve({}, cfg)
    cfg.write_text('task = "sho/partial"\ngp = 3\n')
    with pytest.raises(RunConfigError, match=r"\[gp\] must be a table"):
        resolve({}, cfg)


def test_a_value_out_of_range_stops_the_run_before_training_with_exit_status_2(tmp_path, monkeypatch, capsys):
    from symctl.cli import main

    def never(*a, **k):
        raise AssertionError("training started")

    monkeypatch.setattr("synth.gp._runner.evolve", never)
    monkeypatch.setattr("synth.espl._run.synthesise", never)
    common = ["--out", str(tmp_path / "r"), "--quiet"]
    assert main(["run", "sho/partial", "--set", "population=7", "--seed-policy", "none", "--no-compile-cache", *common]) == 2
    assert "GP setting population = 7 is not valid" in capsys.readouterr().err
    assert main(["synth", "sho/noisy", "--method", "espl-s", "--set", "hard_fraction=1.5", *common]) == 2
    assert "ESPL setting warmup_fraction = 0.4, hard_fraction = 1.5" in capsys.readouterr().err


@pytest.mark.parametrize("method", ["gp-d", "espl-s"])
def test_the_runner_trains_with_the_settings(tmp_path, monkeypatch, method):
    """End to end through `symctl run` and a run config: the config where training starts."""
    from symctl import _pipeline

    seen = {}

    def stop(config, *a, **k):
        seen["config"] = config
        raise KeyboardInterrupt

    if method.startswith("gp"):
        monkeypatch.setattr("synth.gp._runner.evolve", stop)
        table, name, value = "gp", "tournament", 4
    else:
        monkeypatch.setattr("synth.espl._run.synthesise", lambda task, config, *a, **k: stop(config))
        table, name, value = "espl", "finetune_lr", 0.005
    path = tmp_path / "run.toml"
    path.write_text(
        f'task = "sho/partial"\nmethod = "{method}"\nseed_policy = "none"\n\n[{table}]\n{name} = {value}\n'
        if method == "gp-d"
        else f'task = "sho/partial"\nmethod = "{method}"\n\n[{table}]\n{name} = {value}\n'
    )
    cfg = resolve({"out": str(tmp_path / "run"), "compile_cache": False, "quiet": True}, path)
    with pytest.raises(KeyboardInterrupt):
        _pipeline.run(cfg, say=lambda line: None)
    assert getattr(seen["config"], name) == value


def test_a_run_folders_config_reads_back_with_its_settings(tmp_path):
    from synth._runfolder import write_config

    cfg = resolve(
        {"task": "sho/partial", "method": "espl-d"},
        None,
        ["finetune_lr=0.01", "layout=[['mul'], ['sin', 'cos']]", "iterations=50"],
    )
    assert cfg["espl"] == {"finetune_lr": 0.01, "layout": (("mul",), ("sin", "cos"))} and cfg["iterations"] == 50
    write_config(tmp_path, {**cfg, "task_name": "sho/partial"})  # as `symctl run` writes it
    again = resolve({}, tmp_path / "config.toml")
    assert again == cfg


# -- One convention --------------------------------------------------------------------------------


@pytest.mark.parametrize("table", ["gp", "espl"])
def test_both_configs_follow_one_convention(table):
    cls = CONFIGS[table]
    config = gp_config(plants.get_task("sho/partial")) if table == "gp" else espl_config("pendulum/swingup")
    for name in ("check", "to_dict", "from_dict", "settable", "coerce"):
        assert callable(getattr(cls, name)), name
    d = config.to_dict()
    json.dumps(d)  # plain values
    assert cls.from_dict(json.loads(json.dumps(d))) == config  # lists back to tuples
    error = GPConfigError if table == "gp" else ESPLConfigError
    with pytest.raises(error, match=r"unknown .* setting 'tournamnet'|unknown .* setting 'finetune_lrr'"):
        cls.from_dict({**d, ("tournamnet" if table == "gp" else "finetune_lrr"): 1})
    with pytest.raises(error, match=r"did you mean"):
        cls.from_dict({**d, ("tournamnet" if table == "gp" else "finetune_lrr"): 1})
    # Constructing one checks it: the one validation entry point is check().
    bad = {"gp": {"islands": 0}, "espl": {"batch": 0}}[table]
    with pytest.raises(error, match=r"islands = 0|batch = 0 must be at least 1"):
        dataclasses.replace(config, **bad)
    with pytest.raises(error, match=r"expected an integer"):
        cls.from_dict({**d, ("tournament" if table == "gp" else "batch"): "many"})


def test_removed_espl_settings_read_at_their_fixed_value_and_are_refused_otherwise():
    d = espl_config("sho/noisy").to_dict()
    for name, (fixed, _) in ESPLConfig.RETIRED.items():
        assert name not in ESPLConfig.field_names()
        assert ESPLConfig.from_dict({**d, name: fixed}) == ESPLConfig.from_dict(d)
    with pytest.raises(ESPLConfigError, match=r"decay_final = 0.98 is no longer available: .*this version always uses 0.0"):
        ESPLConfig.from_dict({**d, "decay_final": 0.98})


def test_a_checkpoint_of_the_version_before_the_removals_still_continues():
    """The hash symctl wrote into ESPL checkpoints before the removals (commit 5f73efc), for these
    settings: the resume check accepts it (`checkpoint_dicts`)."""
    from synth._runfolder import config_hash

    config = espl_config("sho/noisy", "quick", method="espl-s")
    assert "cffc43bd8e7cab2dbe5c32e7b208651375f3adbcf7a690a6a8e389fe321780ed" in {
        config_hash(d) for d in checkpoint_dicts(config)
    }


def test_a_gp_checkpoint_with_a_setting_this_version_does_not_know_is_refused_with_the_key(tmp_path):
    import numpy as np

    from synth._runfolder import RunFolderError
    from synth.gp import _checkpoint

    folder = tmp_path / "checkpoint"
    folder.mkdir()
    np.savez(folder / "state.npz", x=np.zeros(1))
    config = {**gp_config(plants.get_task("sho/partial")).to_dict(), "warp_speed": 9}
    header = {"format": _checkpoint.FORMAT, "version": _checkpoint.VERSION, "generation": 1, "config": config, "history": []}
    (folder / "state.json").write_text(json.dumps(header))
    with pytest.raises(RunFolderError, match=r"cannot be continued by this version \(unknown GP setting 'warp_speed'"):
        _checkpoint.load(tmp_path)


# -- Per-task settings by content ------------------------------------------------------------------


def test_a_copied_task_file_gets_the_task_settings_of_its_original(tmp_path):
    original = plants.task_path("pendulum/swingup")
    text = original.read_text(encoding="utf-8")
    # The same definition under another name and file, without comments, with other spacing.
    copy = "\n".join(line.split("#")[0].rstrip() for line in text.splitlines())
    copy = copy.replace('name = "pendulum/swingup"', 'name = "my-pendulum"').replace(" = ", "=")
    (tmp_path / "mine.toml").write_text(copy, encoding="utf-8")
    mine = plants.get_task(str(tmp_path / "mine.toml"))
    assert mine.name == "my-pendulum"
    assert task_settings(mine) == task_settings("pendulum/swingup") != {}
    assert espl_config(mine) == espl_config("pendulum/swingup")
    # A task file naming its plant file, copied with it, and the same with the plant inline.
    for name in ("partial.toml", "plant.toml"):
        shutil.copy(plants.task_path("sho/partial").parent / name, tmp_path / name)
    assert task_settings(plants.get_task(str(tmp_path / "partial.toml"))) == task_settings("sho/partial") != {}
    plant = (tmp_path / "plant.toml").read_text(encoding="utf-8")
    inline = (tmp_path / "partial.toml").read_text(encoding="utf-8").replace('plant = "plant.toml"\n', "")
    (tmp_path / "inline.toml").write_text(plant + "\n" + inline, encoding="utf-8")
    assert task_settings(plants.get_task(str(tmp_path / "inline.toml"))) == task_settings("sho/partial")
    # Another definition (a heavier pendulum) is another task: the settings measured on the
    # original do not apply.
    (tmp_path / "heavy.toml").write_text(copy.replace("m={ nominal=1.0", "m={ nominal=1.1"), encoding="utf-8")
    assert "nominal=1.1" in (tmp_path / "heavy.toml").read_text()
    assert task_settings(plants.get_task(str(tmp_path / "heavy.toml"))) == {}
