"""ESPL benchmark: run `symctl synth TASK --method M` for several seeds and report each run.

Usage (timed runs under the shared lock):

    flock /tmp/symctl-bench.lock .venv/bin/python bench/espl_bench.py pendulum/swingup espl-s --seeds 0 1 2

For every seed it runs the CLI exactly as a user would (default settings unless --extra is given),
then reads the run folder: the held-out cost/return of the exported policy (1,000 trajectories of
the "test" stream), its size, the environment steps (trajectories x ticks x iterations, training
and constant tuning) and the wall-clock. With --lqg it also scores `validation.lqg(task, "lqg")` on
the same 1,000 held-out trajectories and gives the ratio; with --every-tick as well, both costs again
with the task's cost evaluated at every control tick (sho tasks count it only every 10th tick).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def lqg_cost(task_name: str, seed: int, every_tick: bool = False) -> float:
    """LQG's mean cost on the seed's 1,000 test trajectories; with `every_tick`, the cost evaluated
    at every control tick (LQG designed for that task) instead of the task's grid."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import numpy as np

    from synth import Simulator, stream_key
    from validation import lqg

    task = _task(task_name, every_tick)
    sim = Simulator(task)
    scen = sim.scenarios(stream_key(seed, "test"), 1000)
    return float(np.mean(np.asarray(sim.simulate(lqg(task, "lqg"), scen).cost)))


def _task(task_name: str, every_tick: bool):
    import plants

    task = plants.get_task(task_name)
    return task.on_every_tick() if every_tick else task


def every_tick_cost(task_name: str, seed: int, policy_path: Path) -> float:
    """The exported policy's mean cost on the same 1,000 test trajectories with the cost evaluated at
    every control tick (a policy that acts hard between the task's grid points pays for it here)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import numpy as np

    from synth import Simulator, SymbolicPolicy, stream_key

    sim = Simulator(_task(task_name, True))
    scen = sim.scenarios(stream_key(seed, "test"), 1000)
    return float(np.mean(np.asarray(sim.simulate(SymbolicPolicy.load(policy_path), scen).cost)))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("task")
    ap.add_argument("method")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", default="runs/bench")
    ap.add_argument("--lqg", action="store_true")
    ap.add_argument(
        "--every-tick", action="store_true", help="with --lqg: also both costs with the cost evaluated at every control tick"
    )
    ap.add_argument("--extra", nargs=argparse.REMAINDER, default=[])
    args = ap.parse_args()
    rows = []
    for seed in args.seeds:
        out = Path(args.out) / f"{args.task.replace('/', '-')}-{args.method}-{seed}"
        cmd = [
            sys.executable,
            "-m",
            "symctl",
            "synth",
            args.task,
            "--method",
            args.method,
            "--seed",
            str(seed),
            "--out",
            str(out),
            "--quiet",
            *args.extra,
        ]
        if (out / "checkpoint" / "state.json").exists():
            cmd.append("--resume")
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=ROOT)
        wall = time.perf_counter() - t0
        rec = json.loads((ROOT / out / "manifest.json").read_text())["espl"]
        row = {
            "seed": seed,
            "test_cost": rec["test_cost"],
            "test_return": rec.get("test_return"),
            "complexity": rec["complexity"],
            "train_env_steps": rec["train_env_steps"],
            "finetune_env_steps": rec["finetune_env_steps"],
            "validation_env_steps": rec.get("validation_env_steps"),
            "total_env_steps": rec.get("total_env_steps"),
            "network_validation_cost": rec["network_validation_cost"],
            "extracted_validation_cost": rec["extracted_validation_cost"],
            "validation_cost": rec["validation_cost"],
            "wall_seconds": round(wall, 1),
            "policy": (ROOT / out / "policy.json").as_posix(),
            "expression": [e["text"] for e in json.loads((ROOT / out / "policy.json").read_text())["g"]],
        }
        if args.lqg:
            row["lqg_cost"] = lqg_cost(args.task, seed)
            row["ratio_to_lqg"] = row["test_cost"] / row["lqg_cost"]
            if args.every_tick:
                row["every_tick_cost"] = every_tick_cost(args.task, seed, ROOT / out / "policy.json")
                row["every_tick_lqg_cost"] = lqg_cost(args.task, seed, every_tick=True)
                row["every_tick_ratio"] = row["every_tick_cost"] / row["every_tick_lqg_cost"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
