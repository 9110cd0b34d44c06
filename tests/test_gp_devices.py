"""GP on any device count: the population is padded to a multiple of the devices, and a run on 1, 2,
3 or 8 forced host devices is the same run (the same arrays after every generation, the same policy).

The device count of the CPU platform is fixed when JAX starts (`XLA_FLAGS`), so each check runs in a
subprocess that forces 8 host devices and runs the same tiny configuration with `devices` = 1, 3, 8
(a population of 10: padded to 12 on 3 devices, to 16 on 8). GP-D with its linear seeds runs in the
suite; with tuning during the run and the final polish as well, on 1, 2, 3 and 8, in the slow suite."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

_SCRIPT = """
import hashlib, json, sys
import jax
import numpy as np
import plants
from synth.gp import evolve, finish, gp_config

method, generations, counts, settings = json.loads(sys.argv[1])
out = {"devices_seen": len(jax.devices()), "runs": {}}
for d in counts:
    cfg = gp_config(plants.get_task("sho/partial"), "quick", method=method, generations=generations, devices=d, **settings)
    state = evolve(cfg)
    policy, rows = finish(state)
    arrays = {k: np.asarray(v).tobytes().hex() for k, v in sorted(state.arrays.items())}
    from synth.gp._context import context
    ctx = context(cfg)
    out["runs"][str(d)] = {"arrays": hashlib.sha256(json.dumps(arrays).encode()).hexdigest(), "policy": policy.digest(),
                           "best": [r["best_cost"] for r in state.history], "costs": np.asarray(state.arrays["cost"]).ravel().tolist(),
                           "validation": [r["validation_cost"] for r in rows], "used": len(ctx.devices), "padded": ctx.padded_rows}
print(json.dumps(out))
"""

# Tiny: 10 individuals on one island, trees of 7 nodes, 4 training trajectories; the constant search
# runs (it fills the whole population-sized batch), gradient tuning and the final polish do not.
QUICK = dict(
    population=10,
    islands=1,
    max_nodes=7,
    max_depth=4,
    init_depth=3,
    train_trajectories=4,
    validation_trajectories=8,
    elite=1,
    simplify_rate=(0.25, 0.25),
    const_every=1,
    const_top=3,
    tune_every=0,
    polish_top=0,
    linear_seeds=0,
)


def _run(method: str, generations: int, counts: list[int], settings: dict) -> dict:
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, json.dumps([method, generations, counts, settings])],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _same_as_one_device(got: dict, counts: list[int]) -> None:
    assert got["devices_seen"] == 8
    one = got["runs"]["1"]
    assert all(c == c for c in one["costs"]) and one["padded"] == 10  # (no NaN: the comparison below means something)
    for d in counts[1:]:
        run = got["runs"][str(d)]
        assert run["used"] == d and run["padded"] == -(-10 // d) * d
        assert run["costs"] == one["costs"]
        assert run["best"] == one["best"] and run["validation"] == one["validation"]
        assert run["policy"] == one["policy"]
        assert run["arrays"] == one["arrays"]


def test_population_padded_to_3_and_8_devices_equals_one_device():
    counts = [1, 3, 8]  # GP-D: latent and readout trees, and two linear seeds tuned before generation 0
    _same_as_one_device(_run("gp-d", 2, counts, {**QUICK, "linear_seeds": 2, "seed_steps": 5}), counts)


@pytest.mark.slow
def test_gp_d_with_tuning_and_polish_on_1_2_3_8_devices_equal():
    counts = [1, 2, 3, 8]
    settings = {
        **QUICK,
        "migration_every": 2,
        "const_every": 2,
        "tune_every": 2,
        "tune_steps": 5,
        "polish_top": 2,
        "polish_steps": 5,
        "polish_trajectories": 8,
        "linear_seeds": 2,
        "seed_steps": 5,
    }
    _same_as_one_device(_run("gp-d", 2, counts, settings), counts)


def test_more_devices_than_there_are_is_refused():
    import jax

    import plants
    from synth.gp import GPConfigError, gp_config
    from synth.gp._context import Context

    n = len(jax.devices())
    with pytest.raises(
        GPConfigError, match=rf"devices = {n + 1} is not valid; JAX sees {n} .*xla_force_host_platform_device_count"
    ):
        Context(gp_config(plants.get_task("sho/noisy"), "quick", method="gp-s", devices=n + 1))
    with pytest.raises(GPConfigError, match="devices = -1"):
        gp_config(plants.get_task("sho/noisy"), "quick", method="gp-s", devices=-1)


def test_devices_option_is_for_gp_methods_only(capsys):
    from symctl._config import resolve
    from symctl.cli import main

    assert main(["synth", "sho/noisy", "--method", "lqg", "--devices", "2"]) == 2
    assert "--devices 2 applies to the GP methods (gp-s, gp-d" in capsys.readouterr().err
    assert main(["run", "sho/noisy", "--method", "espl-s", "--devices", "2"]) == 2
    assert "[devices] 2 applies to the GP methods" in capsys.readouterr().err
    assert resolve({"task": "sho/noisy", "method": "gp-s", "devices": 3}, None)["devices"] == 3


@pytest.mark.slow
def test_symctl_synth_devices_3_equals_devices_1(tmp_path):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"}
    sets = [
        f"--set={k}={json.dumps(v) if not isinstance(v, tuple) else json.dumps(list(v))}"
        for k, v in QUICK.items()
        if k not in ("population", "islands")
    ]
    digests = []
    for d in (1, 3):
        out = tmp_path / f"d{d}"
        done = subprocess.run(
            [
                str(Path(sys.executable).parent / "symctl"),
                "synth",
                "sho/partial",
                "--method",
                "gp-s",
                "--population",
                "10",
                "--islands",
                "1",
                "--generations",
                "1",
                "--devices",
                str(d),
                "--out",
                str(out),
                "--quiet",
                "--json",
                *sets,
            ],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=1200,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert json.loads((out / "manifest.json").read_text())["devices"] == d
        digests.append(json.loads(done.stdout)["policy"]["digest"])
    assert digests[0] == digests[1]
