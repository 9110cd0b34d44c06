"""Campaigns and split validation on Dask (issue 25).

Quick: campaign files that are wrong are refused in one line (exit status 2); the aggregate of a
campaign's rows (mean over seeds with `mean_ci`'s interval); the Monte Carlo split over two local
worker processes equals the single-process costs exactly.

Slow (the acceptance test): a real cluster started with Dask's own commands (`dask scheduler`, two
`dask worker` processes), a 2 x 2 x 2 campaign submitted to it with `--address` gives the same table
as the same campaign on a local cluster; run again, every run is skipped; the Monte Carlo and the
parameter-box sweep split over that cluster equal one process.
"""

import csv
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from symctl._campaign import TIME_COLUMNS, CampaignError, aggregate, load_campaign
from symctl.cli import main

ROOT = Path(__file__).resolve().parents[1]

GRID = """
[campaign]
tasks = ["sho/noisy"]
methods = ["gp-s"]
seeds = 2
"""


def _write(tmp_path, text, name="c.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "[campaign]\ntasks = ['sho/noisy']\nmethods = ['gp-x']\nseeds = 1\n",
            r"\[campaign\] methods: 'gp-x' is not valid \(did you mean 'gp-s'\?\); valid: gp-d, gp-s",
        ),
        (
            "[campaign]\ntasks = ['sho/nosy']\nmethods = ['gp-s']\nseeds = 1\n",
            r"\[campaign\] tasks: 'sho/nosy': unknown task .*did you mean 'sho/noisy'",
        ),
        ("[campaign]\ntasks = ['sho/noisy']\nmethods = ['gp-s']\n", r"\[campaign\] seeds = None is not valid; give a count"),
        (
            "[campaign]\ntasks = ['sho/noisy']\nmethods = ['gp-s']\nseeds = [0, 0]\n",
            r"\[campaign\] seeds = \[0, 0\] is not valid",
        ),
        (
            "[campaign]\ntasks = ['sho/noisy']\nmethods = ['gp-s']\nseeds = 1\nbudgets = ['fast']\n",
            r"\[campaign\] budgets: 'fast' is not valid; valid: quick, paper",
        ),
        ("[campaign]\ntask = ['sho/noisy']\n", r"\[campaign\] task is not a key \(did you mean 'tasks'\?\)"),
        (GRID + "[run]\ntrajectoires = 3\n", r"\[run\] trajectoires is not a run option \(did you mean 'trajectories'\?\)"),
        (GRID + "[run]\nseed = 3\n", r"\[run\] seed is not set here: list it in \[campaign\] seeds"),
        (GRID + "[run]\nworkers = 2\n", r"\[run\] workers is not set here: each run is one task on one worker"),
        (GRID + "[run]\nsweep = 0\n", r"\[sweep\] 0 must be > 0"),
        (GRID + "[gp]\npopulaton = 8\n", r"\[gp\]: unknown GP setting 'populaton' \(did you mean 'population'\?\)"),
        (GRID + "[espl]\niterations = 8\n", r"\[espl\] is read by espl-s, espl-d, and the campaign runs none of them"),
        (GRID + "[runs]\n", r"\[runs\] is not a table of a campaign file \(did you mean 'run'\?\)"),
        (
            "[campaign]\ntasks = ['sho/noisy']\nmethods = ['espl-s']\nseeds = 1\n[run]\ndevices = 2\n",
            r"\[devices\] 2 applies to the GP methods",
        ),
        ("[campaign\n", r"not valid TOML"),
    ],
)
def test_bad_campaign_files_are_refused_in_one_line(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(CampaignError, match=message) as err:
        load_campaign(path)
    assert str(err.value).startswith(f"{path}: ") and "\n" not in str(err.value)


def test_cli_exit_status_2_for_a_bad_campaign_file(tmp_path, capsys):
    assert main(["campaign", str(_write(tmp_path, GRID + "[gp]\npopulation = 'many'\n"))]) == 2
    err = capsys.readouterr().err
    assert "c.toml: [gp]: GP setting population = 'many': expected an integer" in err and err.count("\n") == 1
    assert main(["campaign", str(tmp_path / "missing.toml")]) == 2


def test_grid_folders_and_settings(tmp_path):
    task_file = shutil.copy(ROOT / "examples" / "dc_motor.toml", tmp_path / "motor.toml")
    path = _write(
        tmp_path,
        f"""
[campaign]
tasks = ["sho/noisy", "{Path(task_file).name}"]
methods = ["gp-s", "espl-s"]
seeds = [3, 5]
out = "{tmp_path / "camp"}"
[run]
trajectories = 30
[gp]
population = 8
islands = 1
max_nodes = 7
""",
    )
    runs = load_campaign(path).runs()
    assert len(runs) == 8
    assert [r.folder.name for r in runs[:4]] == [
        "sho-noisy-gp-s-quick-3",
        "sho-noisy-gp-s-quick-5",
        "sho-noisy-espl-s-quick-3",
        "sho-noisy-espl-s-quick-5",
    ]
    assert runs[4].config["task"] == str(Path(task_file).resolve())
    gp = runs[0].config
    assert gp["trajectories"] == 30 and gp["population"] == 8 and gp["islands"] == 1 and gp["gp"] == {"max_nodes": 7}
    assert runs[2].config["espl"] == {} and runs[2].config["trajectories"] == 30
    assert len({r.digest for r in runs}) == 8 and runs[0].finished() is None


def test_aggregate_is_the_mean_over_seeds_with_its_interval():
    from synth._cost import mean_ci

    rows = [
        {
            "task": "t",
            "method": "m",
            "budget": "quick",
            "seed": s,
            "cost": c,
            "lqg_cost": 1.0,
            "ratio_to_lqg": c,
            "verdict": v,
            "operations": 4,
            "constants": 2,
            "synth_seconds": 1.0,
            "total_seconds": 2.0,
            "error": None,
        }
        for s, c, v in ((0, 1.1, "PASS"), (1, 1.3, "FAIL"), (2, 1.2, "PASS"))
    ]
    rows.append({"task": "t", "method": "m", "budget": "quick", "seed": 3, "error": "RuntimeError: boom", "total_seconds": 0.5})
    (row,) = aggregate(rows)
    m, lo, hi = mean_ci([1.1, 1.3, 1.2])
    assert (row["cost_mean"], row["cost_ci_low"], row["cost_ci_high"]) == (m, lo, hi) and lo < m < hi
    assert row["seeds"] == 4 and row["failed"] == 1 and row["certificate_pass"] == 2 and row["operations_mean"] == 4
    assert math.isclose(row["total_seconds"], (2.0 * 3 + 0.5) / 4)


def _mc(task, policies, n, engine=None):
    from synth._runfolder import stream_key
    from validation._montecarlo import monte_carlo

    return monte_carlo(task, policies, n, stream_key(0, "test"), engine=engine)


def _assert_same_costs(one, split):
    assert set(one["costs"]) == set(split["costs"])
    for name in one["costs"]:
        assert np.array_equal(np.asarray(one["costs"][name]), np.asarray(split["costs"][name]), equal_nan=True), name
    assert one["policies"] == split["policies"]


def test_monte_carlo_split_over_two_local_workers_equals_one_process():
    import jax

    import plants
    from validation import lqg
    from validation._cluster import Engine

    jax.config.update("jax_enable_x64", True)
    task = plants.get_task("sho/noisy")
    ss = lqg(task, "lqg-ss")  # (as both entries: one compiled program in each process keeps the test quick)
    policies = {"policy": ss, "lqg": ss}
    one = _mc(task, policies, 11)
    with Engine(workers=2) as engine:
        split = _mc(task, policies, 11, engine)
    assert split["workers"] == 2
    _assert_same_costs(one, split)


def _assert_same_sweep(sweeps):
    assert sweeps[1]["timing"]["parts"] == 2
    assert sweeps[0]["points"] == sweeps[1]["points"] and sweeps[0]["cost"] == sweeps[1]["cost"]
    assert sweeps[0]["success"] == sweeps[1]["success"] and len(set(sweeps[0]["cost"])) == 9


def _sweeps(task, policy, engine):
    """The parameter-box sweep (9 points, 100 ticks) in one process and split over `engine`."""
    from synth import Simulator
    from synth._runfolder import stream_key
    from validation import build_closed_loop, noise_from_simulator
    from validation._closedloop import NOMINAL_KNOBS
    from validation._sweep import Base, parameter_box, sweep

    sim = Simulator(task)
    s0 = sim.scenarios(stream_key(0, "test"), 1).take(0)
    NY, NW = noise_from_simulator(sim.noise_sequence(s0), 100)
    base = Base(np.asarray(s0.x0, float), np.asarray(s0.r, float), np.asarray(s0.p, float), NOMINAL_KNOBS.copy(), NY, NW)
    cl = build_closed_loop(task, policy, ticks=100)
    dims = parameter_box(task, 1.0)
    assert dims
    return [sweep(cl, dims, base, 9, "lhs", 0, engine=e) for e in (None, engine)]


# The acceptance test ------------------------------------------------------------------------------
TINY_CAMPAIGN = """
[campaign]
tasks = ["sho/noisy", "sho/partial"]
methods = ["gp-s", "rs"]
seeds = 2
out = "{out}"

[run]
trajectories = 16
sweep = 4
starts = 1
cortex_m4 = false
population = 8
generations = 1

[gp]
max_nodes = 7
train_trajectories = 4
validation_trajectories = 8
tune_every = 0
polish_top = 0
linear_seeds = 0
"""


def _dask(*args) -> list[str]:
    return [str(Path(sys.executable).parent / "dask"), *args]


@pytest.fixture()
def dask_cluster(tmp_path):
    """A scheduler and two single-threaded workers, each a process started with Dask's own CLI."""
    file = tmp_path / "scheduler.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            _dask("scheduler", "--port", "0", "--dashboard-address", ":0", "--scheduler-file", str(file)),
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        for _ in range(600):
            if file.exists() and file.stat().st_size:
                break
            time.sleep(0.1)
        address = json.loads(file.read_text())["address"]
        for k in range(2):
            procs.append(
                subprocess.Popen(
                    _dask("worker", address, "--nthreads", "1", "--nworkers", "1", "--name", f"w{k}", "--no-dashboard"),
                    env=env,
                    cwd=tmp_path,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def _table(folder: Path) -> list[dict]:
    with open(folder / "summary.csv", newline="") as fh:
        return [{k: v for k, v in row.items() if k not in TIME_COLUMNS} for row in csv.DictReader(fh)]


@pytest.mark.slow
def test_campaign_on_a_two_worker_cluster_equals_the_local_run(tmp_path, dask_cluster, capsys):
    remote, local = tmp_path / "remote", tmp_path / "local"
    r_file = _write(tmp_path, TINY_CAMPAIGN.format(out=remote), "remote.toml")
    l_file = _write(tmp_path, TINY_CAMPAIGN.format(out=local), "local.toml")
    assert main(["campaign", str(r_file), "--address", dask_cluster, "--quiet"]) == 0
    assert main(["campaign", str(l_file), "--workers", "2", "--quiet"]) == 0
    table = _table(remote)
    assert len(table) == 4 and all(r["seeds"] == "2" and r["failed"] == "0" for r in table)
    assert all(math.isfinite(float(r["cost_mean"])) and float(r["ratio_mean"]) > 0 for r in table)
    assert table == _table(local)
    assert (remote / "summary.html").read_text().count("<svg") == 1
    with open(remote / "runs.csv", newline="") as fh:
        runs = list(csv.DictReader(fh))
    assert len(runs) == 8 and len({r["folder"] for r in runs}) == 8
    for r in runs:
        folder = Path(r["folder"])
        assert (
            (folder / "policy.json").exists()
            and (folder / "validation.json").exists()
            and (folder / "c" / "verification.json").exists()
        )
        mc = json.loads((folder / "validation.json").read_text())["monte_carlo"]["policies"]["policy"]
        assert float(r["cost"]) == mc["mean"]
    # resumable: a finished run is not run again (its row is read back)
    capsys.readouterr()
    assert main(["campaign", str(r_file), "--address", dask_cluster]) == 0
    assert "8 finished before, 0 to run" in capsys.readouterr().err
    assert _table(remote) == table


@pytest.mark.slow
def test_monte_carlo_split_over_the_cluster_equals_one_process(dask_cluster):
    import jax

    import plants
    from validation import lqg
    from validation._cluster import Engine

    jax.config.update("jax_enable_x64", True)
    task = plants.get_task("sho/varying")  # varying parameters: the oracle runs too
    policies = {"policy": lqg(task, "lqg-ss"), "lqg": lqg(task, "lqg")}
    one = _mc(task, policies, 25)
    with Engine(address=dask_cluster) as engine:
        assert engine.workers == 2
        split = _mc(task, policies, 25, engine)
        sweeps = _sweeps(task, policies["policy"], engine)
    _assert_same_costs(one, split)
    _assert_same_sweep(sweeps)
