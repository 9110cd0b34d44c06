"""What the persistent JAX compilation cache saves: the same small `symctl run` twice, in fresh run
folders, with an empty cache directory, then with the cache it filled; and once with the cache off.

    .venv/bin/python bench/pipeline_cache.py [--task sho/partial] [--generations 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(args, out: Path, env) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "symctl", "run", *args, "--out", str(out), "--quiet"], env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="sho/partial")
    ap.add_argument("--generations", default="3")
    a = ap.parse_args()
    args = [
        a.task,
        "--population",
        "100",
        "--islands",
        "2",
        "--generations",
        a.generations,
        "--trajectories",
        "200",
        "--sweep",
        "32",
        "--starts",
        "2",
        "--no-cortex-m4",
        "--allow-fail",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = dict(os.environ, XDG_CACHE_HOME=str(tmp / "cache"))
        cold = run(args, tmp / "a", env)
        warm = run(args, tmp / "b", env)
        off = run([*args, "--no-compile-cache"], tmp / "c", env)
        manifests = {k: json.loads((tmp / k / "manifest.json").read_text())["stages"] for k in "abc"}
        size = sum(f.stat().st_size for f in (tmp / "cache").rglob("*") if f.is_file())
    result = {
        "task": a.task,
        "cpus": os.cpu_count(),
        "cold_cache_s": round(cold, 1),
        "warm_cache_s": round(warm, 1),
        "cache_off_s": round(off, 1),
        "saving_s": round(cold - warm, 1),
        "cache_bytes": size,
        "stage_seconds": {
            k: {s: v["seconds"] for s, v in m.items()} for k, m in zip(("cold", "warm", "off"), manifests.values())
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
