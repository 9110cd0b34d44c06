"""bench/paper_table1.py's cells: one `symctl synth` (or LQG design) in a process of its own, scored
on the held-out trajectories; a finished cell's record kept in git, an unfinished one's checkpoint
kept with --keep-partial. Run as a script with a cell's JSON, it runs that cell in this process."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _paper_setup import NDE_POPULATION, QUICK_NDE, QUICK_SET, ROOT, TEST_SEED, TEST_STREAM


def synth_args(
    task: str, method: str, extra: list[str], seed: int, out: Path, budget: tuple[int, int, int], quick: bool
) -> list[str]:
    population, islands, generations = budget
    if method == "nde":
        population, generations = QUICK_NDE if quick else (NDE_POPULATION, population * generations // NDE_POPULATION)
    args = [
        "synth",
        task,
        "--method",
        method,
        "--budget",
        "paper",
        "--seed",
        str(seed),
        "--out",
        str(out),
        "--quiet",
        "--population",
        str(population),
        "--generations",
        str(generations),
        *extra,
    ]
    if method.startswith("gp"):
        args += ["--islands", str(islands)]
    if quick:
        args += QUICK_SET["nde" if method == "nde" else "gp"]
    return args


def test_set(task, n: int):
    """The held-out trajectories every cell is scored on: (simulator, scenarios)."""
    from synth import Simulator, stream_key

    sim = Simulator(task)
    return sim, sim.scenarios(stream_key(TEST_SEED, TEST_STREAM), n)


def _scores(cost) -> dict:
    import numpy as np

    from synth._cost import mean_ci

    cost = np.asarray(cost, float)
    mean, lo, hi = mean_ci(cost)
    return {
        "test_cost": mean,
        "test_ci95": [lo, hi],
        "test_lost": int((~np.isfinite(cost)).sum()),
        "test_costs": cost.tolist(),  # per trajectory: a reference that covers only some compares on those
    }


def run_cell(spec: dict) -> dict:
    """In this process: the synthesis (`symctl synth`, continued with `--resume` when the spec says
    so), or the LQG design, then the policy on the held-out trajectories."""
    import jax
    import numpy as np

    jax.config.update("jax_enable_x64", True)  # (as the CLI does: the held-out cost in float64)
    import plants
    from symctl.cli import main
    from validation import LQGError, lqg, oracle_where_possible, run_oracle

    task = plants.get_task(spec["task"])
    record = dict(spec)
    t0 = time.perf_counter()
    if spec["method"] == "lqg-oracle":  # one design per held-out trajectory, at its own parameters and target
        sim, scen = test_set(task, spec["test_trajectories"])
        t0 = time.perf_counter()
        groups = oracle_where_possible(task, np.asarray(scen.p), targets=np.asarray(scen.r))
        if not groups:
            return {**record, "error": "no per-trajectory LQG: no test trajectory's parameters and target have a design"}
        record["synth_seconds"] = round(time.perf_counter() - t0, 3)
        rows, cost, _ = run_oracle(sim, groups, scen)
        record["designed"] = rows.tolist()  # the test trajectories it covers (where an operating point exists)
        record["structures"] = len(groups)
        return {**record, **_scores(cost)}
    if spec["method"] == "lqg":
        try:
            policy = lqg(task, "lqg")
        except (LQGError, ValueError, ArithmeticError):
            return {**record, "error": "no LQG design for this task"}
    else:
        status = main([*spec["args"], *(["--resume"] if spec.get("resume") else [])])
        if status != 0:
            return {**record, "error": f"symctl synth exited with status {status}"}
        from synth import load_policy

        policy = load_policy(spec["out"])
    record["synth_seconds"] = round(time.perf_counter() - t0, 3)
    sim, scen = test_set(task, spec["test_trajectories"])
    record.update(
        _scores(sim.simulate(policy, scen).cost),
        size=size(policy),
        policy=str(policy) if hasattr(policy, "f") else policy.summary(),
    )
    return record


def size(policy) -> dict:
    """Operations, variables and constants (occurrences) over all the policy's expressions, and
    their sum; a network policy: its parameter count as the size."""
    if not hasattr(policy, "f"):
        c = policy.complexity()
        return {**c, "size": int(c.get("parameters", sum(v for v in c.values() if isinstance(v, int))))}
    import sympy as sp

    exprs = [*policy.f, *policy.g]
    ops = int(sum(sp.count_ops(e) for e in exprs))
    variables = int(sum(1 for e in exprs for a in sp.preorder_traversal(e) if isinstance(a, sp.Symbol)))
    consts = int(
        sum(
            1
            for e in exprs
            for a in sp.preorder_traversal(e)
            if isinstance(a, sp.Number) and a not in (sp.S.One, sp.S.NegativeOne)
        )
    )
    return {"operations": ops, "variables": variables, "constants": consts, "size": ops + variables + consts}


# Finished cells are kept in git as well as in the run folder: a new checkout starts with an empty
# runs/, and the table is built up over sessions (paths in them are relative to the repository).
KEPT = ROOT / "bench" / "paper_table1_cells"


def _portable(obj):
    return json.loads(json.dumps(obj, default=str).replace(str(ROOT) + "/", ""))


def cell_folder(root: Path, group: str, label: str, seed: int) -> Path:
    return root / group / label.replace(" ", "-") / f"seed{seed}"


def kept_path(root: Path, group: str, label: str, seed: int) -> Path:
    """Where a finished cell's record is kept in git (`.partial` beside it: an unfinished cell's folder)."""
    return (KEPT / cell_folder(root, group, label, seed).relative_to(root.parent)).with_suffix(".json")


def _same(record: dict, spec: dict) -> bool:
    """A record of this cell's command that did not fail."""
    return {k: record.get(k) for k in spec} == spec and "error" not in record


def cell(
    root: Path,
    group: str,
    label: str,
    method: str,
    extra: list[str],
    task: str,
    seed: int,
    budget,
    quick: bool,
    test_trajectories: int,
    keep: bool = False,
) -> dict:
    """The cell's record: read back when it was run with the same command (from the run folder, or
    kept in git), else run in a process of its own; `keep` keeps a finished record in git's folder."""
    out = cell_folder(root, group, label, seed)
    args = [] if method.startswith("lqg") else synth_args(task, method, extra, seed, out, budget, quick)
    spec = {
        "group": group,
        "label": label,
        "method": method,
        "task": task,
        "seed": seed,
        "out": str(out),
        "args": args,
        "test_trajectories": test_trajectories,
    }
    if method == "lqg-oracle":  # (records of the oracle designed at the nominal target lack this: run again)
        spec["designed_at"] = "each trajectory's parameters and target"
    path = out / "cell.json"
    kept = kept_path(root, group, label, seed)
    partial = kept.with_suffix(".partial")
    if path.is_file():
        old = json.loads(path.read_text())
        if _same(old, spec):
            if keep and not kept.is_file():
                _keep(kept, old)
            return old
    if keep and kept.is_file():
        old = json.loads(kept.read_text())
        if _same(old, _portable(spec)):
            return old
    started = out / "cell-started.json"
    if keep and args and not started.is_file() and (partial / "cell-started.json").is_file():
        if json.loads((partial / "cell-started.json").read_text()) == _portable(spec):
            shutil.rmtree(out, ignore_errors=True)  # an unfinished cell kept by --keep-partial: continue it
            shutil.copytree(partial, out)
            started.write_text(json.dumps(spec, indent=1) + "\n")
    # An interrupted cell (started with this command, no record) continues from its checkpoint, losing
    # at most one generation; a cell run with another command, or failed, starts afresh.
    resume = bool(args) and not path.is_file() and started.is_file() and json.loads(started.read_text()) == spec
    if out.exists() and not resume:
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    started.write_text(json.dumps(spec, indent=1) + "\n")
    print(
        f"  {'resuming' if resume else 'running'} {group} {label} seed {seed}: symctl {' '.join(args) or method}"
        f"{' --resume' if resume else ''}",
        file=sys.stderr,
        flush=True,
    )
    run = {**spec, "resume": resume}
    proc = subprocess.run([sys.executable, __file__, json.dumps(run)], capture_output=True, text=True, cwd=ROOT)
    try:
        record = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        record = {**run, "error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}
    path.write_text(json.dumps(record, indent=1, default=str) + "\n")
    if "error" in record:
        print(f"    failed: {record['error']}", file=sys.stderr, flush=True)
    elif keep:
        _keep(kept, record)
    return record


def keep_partial(root: Path) -> list[Path]:
    """Copy every started, unfinished cell of `root` (its checkpoint, history and start record) next
    to the kept records, so that the next checkout continues it; returns the copies."""
    copies = []
    for started in sorted(root.glob("*/*/seed*/cell-started.json")):
        out = started.parent
        if (out / "cell.json").is_file() or not json.loads(started.read_text()).get("args"):
            continue
        partial = (KEPT / out.relative_to(root.parent)).with_suffix(".partial")  # (as `kept_path` places it)
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(out, partial)
        (partial / "cell-started.json").write_text(json.dumps(_portable(json.loads(started.read_text())), indent=1) + "\n")
        copies.append(partial)
    return copies


def _keep(path: Path, record: dict) -> None:
    """Keep a finished cell's record in git; its unfinished copy, if any, is no longer needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_portable(record), indent=1) + "\n")
    shutil.rmtree(path.with_suffix(".partial"), ignore_errors=True)


# Tasks of the figure --------------------------------------------------------------------------
def noisy_task_file(root: Path, sigma: float) -> str:
    """sho/partial with the position's observation noise `sigma` (a task file next to the runs)."""
    text = (ROOT / "plants/library/sho/partial.toml").read_text()
    plant = (ROOT / "plants/library/sho/plant.toml").resolve()
    old_noise = 'y_x = { expr = "x", noise = 0.3 }'
    assert old_noise in text and 'plant = "plant.toml"' in text
    text = text.replace(old_noise, f'y_x = {{ expr = "x", noise = {sigma} }}').replace(
        'plant = "plant.toml"', f'plant = "{plant}"'
    )
    text = text.replace('name = "sho/partial"', f'name = "sho/partial-noise{sigma:g}"')
    path = root / "tasks" / f"sho-partial-noise{sigma:g}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return str(path)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    print(json.dumps(run_cell(json.loads(sys.argv[1])), default=str))
