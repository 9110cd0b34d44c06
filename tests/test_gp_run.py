"""GP runs: resume equals an uninterrupted run; 1 device equals 2 forced host devices; run folder."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

import plants
from synth import SymbolicPolicy
from synth.gp import evolve, finish, gp_config

TINY = dict(population=8, islands=2, max_nodes=7, max_depth=4, init_depth=3, train_trajectories=4, validation_trajectories=8,
            elite=1, migration_size=1, migration_every=2, simplify_rate=(0.25, 0.25), const_every=2, const_top=2)


def _config(generations, **kw):
    return gp_config(plants.get_task("sho/partial"), "quick", method="gp-d", generations=generations, **{**TINY, **kw})


def _digest(state):
    return {k: np.asarray(v).tobytes().hex() for k, v in sorted(state.arrays.items())}


def test_resume_equals_uninterrupted(tmp_path):
    full = evolve(_config(3), tmp_path / "a")
    part = evolve(_config(1), tmp_path / "b")
    assert part.generation == 1
    resumed = evolve(_config(3), tmp_path / "b", resume=True)
    assert resumed.generation == 3
    assert _digest(resumed) == _digest(full)
    assert [r["best_cost"] for r in resumed.history] == [r["best_cost"] for r in full.history]
    policy, rows = finish(full, tmp_path / "a")
    assert (tmp_path / "a" / "policy.json").exists()
    assert SymbolicPolicy.load(tmp_path / "a").digest() == policy.digest()
    with open(tmp_path / "a" / "pareto.csv") as fh:
        pareto = list(csv.DictReader(fh))
    assert len(pareto) == len(rows) >= 1 and sum(int(r["chosen"]) for r in pareto) == 1
    chosen = [r for r in pareto if r["chosen"] == "1"][0]
    assert float(chosen["validation_cost"]) == min(float(r["validation_cost"]) for r in pareto)
    with open(tmp_path / "a" / "history.csv") as fh:
        hist = list(csv.DictReader(fh))
    assert [int(h["generation"]) for h in hist] == [0, 1, 2, 3]
    assert all(int(h["non_finite"]) >= 0 for h in hist)


_DEVICE_SCRIPT = """
import hashlib, json, sys
import jax
import numpy as np
sys.path.insert(0, {root!r})
from tests.test_gp_run import _config, _digest
from synth.gp import evolve
state = evolve(_config(2))
print(json.dumps({{"devices": len(jax.devices()), "digest": hashlib.sha256(json.dumps(_digest(state)).encode()).hexdigest()}}))
"""


def _run_devices(n):
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={n}", "JAX_PLATFORMS": "cpu"}
    root = str(Path(__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", _DEVICE_SCRIPT.format(root=root)], env=env, cwd=root,
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_two_devices_equal_one():
    one, two = _run_devices(1), _run_devices(2)
    assert one["devices"] == 1 and two["devices"] == 2
    assert one["digest"] == two["digest"]
