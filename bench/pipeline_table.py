"""`symctl run TASK --budget quick` on every example and on the certificate's reference tasks, and the
steady-state LQG's certificate on each: the table of bench/pipeline_RESULTS.md.

    .venv/bin/python bench/pipeline_table.py [TASK ...] [--out runs/table]

Each task gets a run folder `OUT/<task>` (`symctl run ... --allow-fail`, so a FAIL is a row, not a
stop) and `OUT/<task>-lqg-ss` (`symctl validate lqg-ss`); finished folders are reused (the run's
own stage hashes skip what is up to date). Prints a Markdown table: verdict of the run and of
lqg-ss, the failing rows, cost ratio to the optimal LQG, disk margin, worst case over the box (and
its ratio to the nominal cost), C verification, and the run's wall-clock seconds.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TASKS = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "examples").glob("*.toml"))] + [
    "sho/noisy",
    "sho/partial",
    "sho/varying",
    "cstr/varying",
]


def _folder(out: Path, task: str) -> Path:
    return out / task.replace("examples/", "").replace(".toml", "").replace("/", "-")


def _symctl(*args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "symctl", *args], cwd=ROOT, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - t0


def _row(val: dict, name: str) -> dict:
    return next((r for r in val["certificate"]["rows"] if r["name"].startswith(name)), {})


def _summary(folder: Path) -> dict:
    val = json.loads((folder / "validation.json").read_text())
    cert = val["certificate"]
    ratio = _row(val, "cost ratio")
    worst = _row(val, "worst-case cost over the box /")
    disk = _row(val, "disk margin")
    c = folder / "c" / "verification.json"
    cver = json.loads(c.read_text()) if c.exists() else {}
    wc = (val.get("worst_case") or {}).get("worst") or {}
    return {
        "verdict": cert["verdict"],
        "failed": [r["name"] for r in cert["rows"] if r["status"] == "FAIL"],
        "ratio": ratio.get("value"),
        "disk": disk.get("value"),
        "worst": wc.get("cost"),
        "worst_ratio": worst.get("value"),
        "c": ("PASS" if cver.get("ok") else "FAIL") if cver else "-",
    }


def _f(v, fmt=".3g") -> str:
    return "-" if v is None else format(v, fmt)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("tasks", nargs="*", default=TASKS)
    ap.add_argument("--out", default="runs/table")
    args = ap.parse_args()
    out = (ROOT / args.out).resolve()
    lines = [
        "| task | run | lqg-ss | failing rows (run) | cost / LQG | disk margin | worst case (x nominal) | C | seconds |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for task in args.tasks:
        run_dir, ref_dir = _folder(out, task), Path(str(_folder(out, task)) + "-lqg-ss")
        seconds = _symctl("run", task, "--budget", "quick", "--out", str(run_dir), "--allow-fail", "--quiet")
        if not (ref_dir / "validation.json").exists():
            _symctl("validate", "lqg-ss", "--task", task, "--out", str(ref_dir), "--allow-fail", "--quiet")
        if not (run_dir / "validation.json").exists():
            lines.append(f"| {task} | did not finish | | | | | | | {seconds:.0f} |")
            continue
        s, ref = _summary(run_dir), _summary(ref_dir) if (ref_dir / "validation.json").exists() else {"verdict": "-"}
        lines.append(
            f"| {task} | {s['verdict']} | {ref['verdict']} | {', '.join(s['failed']) or '-'} | {_f(s['ratio'])} | "
            f"{_f(s['disk'])} | {_f(s['worst'])} ({_f(s['worst_ratio'])}) | {s['c']} | {seconds:.0f} |"
        )
        print(lines[-1], flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
