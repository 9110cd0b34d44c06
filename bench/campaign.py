"""Wall time of one campaign on a local cluster of 1 worker and of 2 workers (bench/campaign_RESULTS.md).

Writes a campaign file (by default 2 tasks x 2 methods x 4 seeds = 16 runs of `symctl run` with a tiny
GP budget and a small validation), runs `symctl campaign FILE --workers 1` and `--workers 2` into fresh
folders, and prints the wall time of each, the speed-up, the load average before and after each
(the machine may be shared: a speed-up measured under load says less), and whether the two tables
agree (the time columns aside).

    .venv/bin/python bench/campaign.py                 # the 16-run campaign
    .venv/bin/python bench/campaign.py --seeds 1       # 4 runs: a smoke test
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

CAMPAIGN = """
[campaign]
tasks = {tasks}
methods = {methods}
seeds = {seeds}
out = "{out}"

[run]
trajectories = {trajectories}
sweep = 8
starts = 1
cortex_m4 = false
population = {population}
generations = {generations}

[gp]
max_nodes = 9
train_trajectories = 8
validation_trajectories = 16
tune_every = 0
polish_top = 0
linear_seeds = 0
"""


def _table(folder: Path) -> list[dict]:
    from symctl._campaign import TIME_COLUMNS

    with open(folder / "summary.csv", newline="") as fh:
        return [{k: v for k, v in row.items() if k not in TIME_COLUMNS} for row in csv.DictReader(fh)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=["sho/noisy", "sho/partial"])
    ap.add_argument("--methods", nargs="+", default=["gp-s", "rs"])
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--population", type=int, default=16)
    ap.add_argument("--generations", type=int, default=2)
    ap.add_argument("--trajectories", type=int, default=100)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--out", default="/tmp/symctl-bench-campaign")
    args = ap.parse_args()
    root = Path(args.out)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    symctl = str(Path(sys.executable).parent / "symctl")
    runs = len(args.tasks) * len(args.methods) * args.seeds
    print(
        f"campaign: {len(args.tasks)} tasks x {len(args.methods)} methods x {args.seeds} seeds = {runs} runs "
        f"(population {args.population}, {args.generations} generations, {args.trajectories} validation trajectories); "
        f"{os.cpu_count()} cores"
    )
    times, tables = {}, {}
    for w in args.workers:
        out = root / f"workers-{w}"
        file = root / f"workers-{w}.toml"
        file.write_text(
            CAMPAIGN.format(
                tasks=list(args.tasks),
                methods=list(args.methods),
                seeds=args.seeds,
                out=out,
                trajectories=args.trajectories,
                population=args.population,
                generations=args.generations,
            )
        )
        before = os.getloadavg()
        t0 = time.perf_counter()
        done = subprocess.run([symctl, "campaign", str(file), "--workers", str(w), "--quiet"], capture_output=True, text=True)
        times[w] = time.perf_counter() - t0
        after = os.getloadavg()
        if done.returncode != 0:
            sys.exit(f"symctl campaign --workers {w} failed ({done.returncode}): {done.stderr[-2000:]}")
        tables[w] = _table(out)
        print(
            f"  {w} worker(s): {times[w]:.1f} s wall; load average (1, 5, 15 min) before {before[0]:.2f} {before[1]:.2f} {before[2]:.2f}, "
            f"after {after[0]:.2f} {after[1]:.2f} {after[2]:.2f}"
        )
    first = args.workers[0]
    for w in args.workers[1:]:
        print(f"  speed-up {first} -> {w} workers: {times[first] / times[w]:.2f}; tables equal: {tables[w] == tables[first]}")


if __name__ == "__main__":
    main()
