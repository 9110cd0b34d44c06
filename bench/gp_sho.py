"""The paper's SHO experiments with the paper's budget: GP-D and GP-S against LQG.

For each task, method and seed: run GP (5 islands x 100, 32 training trajectories), then the
chosen policy's mean cost on the same 1,000 held-out trajectories (stream "test", seed 0) divided
by LQG's (`validation.lqg(task, "lqg")`) on them. Prints one JSON line per run and the medians.

    flock /tmp/symctl-bench.lock .venv/bin/python bench/gp_sho.py --tasks sho/noisy sho/partial \
        --methods gp-d gp-s --seeds 0 1 2 3 4 --generations 30
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", nargs="+", default=["sho/noisy", "sho/partial"])
    ap.add_argument("--methods", nargs="+", default=["gp-d", "gp-s"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--generations", type=int, default=30)
    ap.add_argument("--budget", default="paper")
    ap.add_argument("--seed-policy", default=None, help="passed to gp_quick.py (default: as `symctl synth`)")
    ap.add_argument("--out", default=None, help="run folders' parent, passed to gp_quick.py (default: gp_quick.py's)")
    args = ap.parse_args()
    here = Path(__file__).resolve().parent
    ratios: dict[tuple[str, str], list[float]] = {}
    for task in args.tasks:
        for method in args.methods:
            for seed in args.seeds:
                cmd = [
                    sys.executable,
                    str(here / "gp_quick.py"),
                    task,
                    method,
                    "--budget",
                    args.budget,
                    "--seed",
                    str(seed),
                    "--generations",
                    str(args.generations),
                ]
                cmd += ["--seed-policy", args.seed_policy] if args.seed_policy else []
                cmd += ["--out", args.out] if args.out else []
                out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
                res = json.loads(out[out.index("{") :])
                print(
                    json.dumps(
                        {
                            k: res.get(k)
                            for k in (
                                "task",
                                "method",
                                "seed",
                                "generations",
                                "gp_cost",
                                "lqg_cost",
                                "ratio_to_lqg",
                                "ratio_to_lqg_every_tick",
                                "median_gen_seconds",
                                "gen0_seconds_incl_compile",
                                "peak_rss_mb",
                                "peak_rss_mb_synthesis",
                                "policy",
                            )
                        }
                    ),
                    flush=True,
                )
                ratios.setdefault((task, method), []).append(res["ratio_to_lqg"])
    for (task, method), r in ratios.items():
        print(f"{task} {method}: median ratio to LQG {np.median(r):.4f} over seeds {args.seeds} ({[round(x, 4) for x in r]})")


if __name__ == "__main__":
    main()
