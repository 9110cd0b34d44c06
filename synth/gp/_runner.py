"""The GP-S / GP-D synthesis method: run generations, checkpoint, choose and write the policy.

Run folder: `policy.json` (the Pareto-archive member with the lowest cost on held-out
validation trajectories, stream "validation"), `pareto.csv` (complexity, training cost,
validation cost, expressions), `candidates/NN.json` (every candidate of that choice),
`history.csv` (per generation), `config.toml`, `manifest.json`, `checkpoint/`.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np

from plants import Task
from synth import SymbolicPolicy
from synth._cost import finite_mean

from . import _checkpoint
from ._config import GPConfig, resolve_config
from ._context import Context, context
from ._evolve import GPState, init, step
from ._select import pareto_front
from ._trees import policy_of

HISTORY_FIELDS = ("generation", "best_cost", "median_cost", "complexity", "seconds", "non_finite")


def evolve(
    config: GPConfig,
    out: Path | None = None,
    *,
    resume: bool = False,
    progress: Callable[[dict], None] | None = None,
    start: Callable[[GPConfig], GPState] = init,
    advance: Callable[[GPState], GPState] = step,
    fmt: str = _checkpoint.FORMAT,
) -> GPState:
    """Run (or continue) the generations of `config`; checkpoint after each one when `out` is given.
    `start` makes generation 0 and `advance` every next one (random search passes its own, and its
    checkpoint format `fmt`)."""
    state = None
    if resume and out is not None and _checkpoint.exists(out):
        state, _ = _checkpoint.load(out, fmt)
        old, new = state.config.to_dict(), config.to_dict()
        diff = sorted(k for k in new if k not in ("generations", "time_budget", "devices") and old.get(k) != new[k])
        if diff:
            from synth._runfolder import RunFolderError

            raise RunFolderError(
                f"--resume: the checkpoint in {str(out)!r} was made with other settings ({', '.join(diff)}); "
                "give the same options, or run without --resume"
            )
        state = GPState(config, state.arrays, state.history)
    t0 = time.perf_counter()
    spent = sum(r["seconds"] for r in state.history) if state else 0.0
    if state is None:
        state = start(config)
        if out is not None:
            _checkpoint.save(state, out, fmt)
        _report(progress, state, out)
    while state.generation < config.generations:
        if config.time_budget is not None and spent + time.perf_counter() - t0 >= config.time_budget:
            break
        state = advance(state)
        if out is not None:
            _checkpoint.save(state, out, fmt)
        _report(progress, state, out)
    return state


def _report(progress, state: GPState, out: Path | None) -> None:
    if out is not None:
        with open(Path(out) / "history.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, HISTORY_FIELDS)
            w.writeheader()
            for r in state.history:
                w.writerow({k: r[k] for k in HISTORY_FIELDS})
    if progress is not None:
        progress({**state.history[-1], "total": state.config.generations})  # total: for the display's ETA


def validation_costs(
    ctx: Context,
    code: np.ndarray,
    const: np.ndarray,
    stream: str = "validation",
    n: int | None = None,
    per_trajectory: bool = False,
) -> np.ndarray:
    """Mean cost of each of K individuals on held-out trajectories of `stream` (inf if any is
    non-finite), or with `per_trajectory` their costs (K, n) on each of those trajectories."""
    cfg = ctx.config
    N = cfg.train_trajectories
    n = n or cfg.validation_trajectories
    chunks = math.ceil(n / N)
    scen = _validation_scenarios(ctx, stream, n)
    K = code.shape[0]
    costs = np.zeros((K, chunks, N))
    for c in range(chunks):  # batches of the training batch's size (few candidates: a small program, `batch_rows`)
        part = jax.tree_util.tree_map(lambda a, c=c: a[c * N : (c + 1) * N], scen)
        for s in range(0, K, ctx.rows):
            costs[s : s + ctx.rows, c] = ctx.evaluate(code[s : s + ctx.rows], const[s : s + ctx.rows], part, calls=chunks)
    costs = costs.reshape(K, -1)[:, :n]
    if per_trajectory:
        return costs
    return finite_mean(costs, axis=1)


def _validation_scenarios(ctx: Context, stream: str, n: int):
    """The held-out trajectories of `stream`: whole chunks of the training batch size (the first
    `n` are the ones scored)."""
    from synth._runfolder import stream_key

    cfg = ctx.config
    N = cfg.train_trajectories
    return ctx.sim.scenarios(stream_key(cfg.seed, stream), math.ceil(n / N) * N, dtype=ctx.dtype)


def held_out_scores(costs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Comparable held-out costs of K candidates from their costs (K, n) on the same n trajectories,
    and how many of those each lost (non-finite).

    A lost trajectory gets the worst cost that any candidate reached on it (so losing it is never
    better than the worst controller that kept it); a trajectory every candidate lost is left out
    of every mean, since it tells the candidates apart in nothing. On tasks where no controller
    keeps every trajectory finite (a stiff plant whose integration breaks down for some draws,
    LQG included), a plain "inf if any is lost" would make every candidate inf and the choice
    arbitrary; this keeps it a comparison. A candidate that loses nothing the others keep scores
    its plain mean."""
    costs = np.asarray(costs, float)
    finite = np.isfinite(costs)
    kept = finite.any(axis=0)
    if not kept.any():
        return np.full(costs.shape[0], np.inf), finite.shape[1] - finite.sum(1)
    worst = np.max(np.where(finite, costs, -np.inf), axis=0)
    filled = np.where(finite, costs, worst)[:, kept]
    return filled.mean(axis=1), (~finite[:, kept]).sum(axis=1)


def _polished(ctx: Context, cfg: GPConfig, cands: list, scores: np.ndarray, always=()) -> list:
    """Gradient-tuned copies of the `polish_top` candidates best on validation (`scores`) and of the
    candidates `always` (the seed policy): per copy `(tuned policy, training cost, its validation
    costs per trajectory, the original's, index of the original)`, both cost vectors from the same
    compiled policy shape; the caller keeps a copy only if tuning lowered its validation score."""
    from synth._memory import release
    from synth._parallel import map_jobs
    from synth._runfolder import stream_key

    from ._polish import trajectory_costs, tunable, tune_constants

    if cfg.polish_top <= 0 or cfg.polish_steps <= 0:
        return []
    order = [int(k) for k in np.argsort(scores, kind="stable")[: cfg.polish_top] if math.isfinite(scores[k])]
    order += [k for k in always if k not in order and math.isfinite(scores[k])]
    if not order:
        return []
    n = cfg.validation_trajectories
    scen = _validation_scenarios(ctx, "validation", n)
    # more training data than the evolution can afford per individual: drawn from the task like the
    # training set, on a stream of its own (never the validation or test trajectories)
    train_set = (
        ctx.sim.scenarios(stream_key(cfg.seed, "polish"), cfg.polish_trajectories, dtype=ctx.dtype)
        if cfg.polish_trajectories
        else None
    )
    fresh = (stream_key(cfg.seed, "polish-batches"), cfg.polish_batch) if cfg.polish_batch else None

    def polish(k: int):
        pol = cands[k][0]
        tuned, train = tune_constants(ctx, pol, cfg.polish_steps, cfg.polish_lr, train_set, fresh)
        if not math.isfinite(train):
            return None
        before, after = trajectory_costs(ctx, tunable(pol), scen)[:n], trajectory_costs(ctx, tuned, scen)[:n]
        return (tuned, train, after, before, k)

    out = [got for got in map_jobs(polish, order) if got is not None]  # one per core at a time (`synth._parallel`)
    ctx.tuners.clear()  # each shape is tuned once here: nothing to reuse
    release()
    return out


def finish(state: GPState, out: Path | None = None) -> tuple[SymbolicPolicy, list[dict]]:
    """Validate the Pareto archive, choose the policy, write policy.json and pareto.csv."""
    ctx = context(state.config)
    a = state.arrays
    complexity = np.sum(a["archive_code"] >= 0, axis=(1, 2))
    front = pareto_front(a["archive_cost"], complexity)
    if front.size == 0:  # nothing finite was ever found: fall back to the best of the last population
        flat = a["cost"].reshape(-1)
        j = int(np.argmin(np.where(np.isfinite(flat), flat, np.inf)))
        codes, consts = a["code"].reshape(-1, *a["code"].shape[2:])[[j]], a["const"].reshape(-1, *a["const"].shape[2:])[[j]]
        train = flat[[j]]
    else:
        codes, consts, train = a["archive_code"][front], a["archive_const"][front], a["archive_cost"][front]
    if "seed_code" in a:  # the (tuned) seed policy the run started from is always a candidate
        codes, consts = np.concatenate([codes, a["seed_code"][None]]), np.concatenate([consts, a["seed_const"][None]])
        train = np.append(train, a["seed_cost"])
    val = validation_costs(ctx, codes, consts, per_trajectory=True)
    K = len(codes)
    cands = [(policy_of(ctx, codes[k], consts[k]), float(train[k]), False, int((codes[k] >= 0).sum())) for k in range(K)]
    polished = _polished(ctx, state.config, cands, held_out_scores(val)[0], always=[K - 1] if "seed_code" in a else [])
    # a tuned copy is kept if it beats its original, both compiled alike and scored with every candidate
    joint, _ = held_out_scores(np.concatenate([val] + [np.stack([p[2], p[3]]) for p in polished]))
    kept = [p for i, p in enumerate(polished) if joint[K + 2 * i] < joint[K + 2 * i + 1]]
    cands += [(tuned, t, True, cands[k][3]) for tuned, t, _, _, k in kept]
    val = np.concatenate([val] + [p[2][None] for p in kept])
    scores, lost = held_out_scores(val)
    best = int(np.argmin(scores))
    rows = [
        {
            "complexity": cx,
            "train_cost": t,
            "validation_cost": float(scores[k]),
            "validation_lost": int(lost[k]),
            "tuned": int(tuned),
            "chosen": int(k == best),
            "expressions": "; ".join(str(pol).splitlines()),
        }
        for k, (pol, t, tuned, cx) in enumerate(cands)
    ]
    pol, t, tuned, _ = cands[best]
    policy = dataclasses.replace(
        pol,
        provenance={
            **pol.provenance,
            "seed": state.config.seed,
            "generation": state.generation,
            "train_cost": t,
            "validation_cost": float(scores[best]),
            "validation_lost": int(lost[best]),
            "constants_tuned": tuned,
            "validation_trajectories": state.config.validation_trajectories,
        },
    )
    if out is not None:
        policy.save(Path(out) / "policy.json")
        _save_candidates(
            Path(out) / CANDIDATES,
            [
                dataclasses.replace(
                    pol,
                    provenance={
                        **pol.provenance,
                        "seed": state.config.seed,
                        "train_cost": t,
                        "validation_cost": float(scores[k]),
                        "validation_lost": int(lost[k]),
                        "constants_tuned": tuned,
                        "complexity": cx,
                    },
                )
                for k, (pol, t, tuned, cx) in enumerate(cands)
            ],
        )
        with open(Path(out) / "pareto.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(
                fh, ["complexity", "train_cost", "validation_cost", "validation_lost", "tuned", "chosen", "expressions"]
            )
            w.writeheader()
            w.writerows(sorted(rows, key=lambda r: (r["complexity"], r["tuned"])))
    return policy, rows


CANDIDATES = "candidates"


def _save_candidates(folder: Path, policies: list[SymbolicPolicy]) -> None:
    """Every candidate of the final choice as `candidates/NN.json` (for a choice made later, such as
    the pipeline's certificate-aware one); an earlier run's files are replaced."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.json"):
        old.unlink()
    for k, pol in enumerate(policies):
        pol.save(folder / f"{k:02d}.json")


def run(
    task: Task,
    out: Path,
    *,
    seed: int,
    options: dict,
    resume: bool = False,
    progress=None,
    method: str = "gp-d",
    budget: str = "quick",
    settings: dict[str, Any] | None = None,
    **overrides: Any,
) -> SymbolicPolicy:
    """`symctl synth TASK --method gp-s|gp-d`: evolve, checkpoint, validate, write the run folder.
    `settings` and `overrides` are GPConfig fields (`resolve_config` says which wins)."""
    from synth._runfolder import prepare, write_config, write_manifest

    config = resolve_config(task, method=method, budget=budget, seed=seed, options=options, settings=settings, **overrides)
    out = prepare(out)
    t0 = time.perf_counter()
    state = evolve(config, out, resume=resume, progress=progress)
    policy, _ = finish(state, out)
    record = config.to_dict()
    write_config(out, {"task_file": task.source, **record})
    write_manifest(
        out,
        record,
        seed,
        method=method,
        generations_done=state.generation,
        stage_seconds={"synth": round(time.perf_counter() - t0, 3)},
        devices=len(context(config).devices),
    )
    return policy
