"""RS: random search over dynamic symbolic policies, the baseline GP is measured against.

Every individual is drawn the way GP-D draws its generation 0 (ramped half-and-half,
`Context.random_population`), with GP-D's layout (latent trees `f`, readouts `g(z, r)`), function
set and node budget, and trees up to `max_depth` deep (the GP paper's random search: depth 7; GP
starts at `init_depth` 4). They are costed by GP's compiled population program on the run's
training trajectories, one population-sized batch at a time, so the program is compiled once:
`generations + 1` batches of `population`, the populations GP-D evaluates in the same budget
(generation 0 and one per generation; GP-D's extra constant-search evaluations and seeds are not
counted). Nothing is bred, tuned or seeded. The best individual seen for every complexity is kept
(GP's Pareto archive), and the final choice is GP's (`_runner.finish`): the archive's Pareto front
scored on held-out validation trajectories, the cheapest there exported; `polish_top = 0` by
default, so the chosen policy is one that was drawn.

The state is checkpointed after every batch (`checkpoint/`, format "symctl.rs.checkpoint"), so an
interrupted run loses at most one batch and `--resume` ends where an uninterrupted run would: the
draws of batch `b` come from the seed and `b` alone.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from plants import Task
from synth import SymbolicPolicy

from ._config import GPConfig, gp_config
from ._context import _assess_flat, complexity, context
from ._evolve import GPState
from ._runner import CANDIDATES, evolve, finish

FORMAT = "symctl.rs.checkpoint"

# GP settings that random search fixes unless the user sets them: one pool, no seeds, no constant
# tuning during the search or of the final candidates (a random search draws and keeps).
DEFAULTS: dict[str, Any] = {
    "islands": 1,
    "linear_seeds": 0,
    "scheduled_seeds": False,
    "tune_every": 0,
    "const_search": False,
    "polish_top": 0,
}


def rs_config(
    task: Task, *, budget: str, seed: int, options: dict[str, Any], settings: dict[str, Any] | None = None, **overrides: Any
) -> GPConfig:
    """The settings of a random search: GP-D's `budget` preset for `task` (population, generations,
    trajectories, latent size, node budget, function set), `DEFAULTS`, trees drawn up to
    `max_depth`, then the user's `settings`, the caller's `overrides` (normalised, robust) and the
    CLI's `options` (population, generations, latent, time_budget; others are refused)."""
    from synth._options import check_options

    given = {**DEFAULTS, **(settings or {}), **overrides}
    base = gp_config(task, budget, method="gp-d", seed=seed, **given)
    if "init_depth" not in (settings or {}):
        given["init_depth"] = base.max_depth
    defaults = {"population": base.population, "generations": base.generations, "latent": base.latent, "time_budget": None}
    opts = check_options("rs", options, defaults)
    return gp_config(task, budget, method="gp-d", seed=seed, **{**given, **opts})


def batches(config: GPConfig) -> int:
    """Population-sized batches a search of `config` draws: generation 0 and one per generation."""
    return config.generations + 1


def _draw(ctx, config: GPConfig, b: int):
    """Batch `b`: `population` random individuals `(code, const)` (K, T, L), from the seed and `b` alone."""
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, zlib.crc32(b"rs"), b]))
    return ctx.random_population(rng, config.population)


def init_state(config: GPConfig) -> GPState:
    """A search that has drawn nothing: an empty archive."""
    ctx = context(config)
    T, L = ctx.layout.n_trees, config.max_nodes
    arrays = {
        **ctx.empty_archive(),
        # the best individual by training cost (finish's fall-back when nothing finite was found)
        "code": np.full((1, 1, T, L), -1, np.int32),
        "const": np.zeros((1, 1, T, L), ctx.dtype),
        "cost": np.full((1, 1), np.inf),
        "generation": np.asarray(-1),
    }
    return GPState(config, arrays, ())


def step(state: GPState) -> GPState:
    """Draw, cost and archive the next batch (`generation` counts the batches done, from 0)."""
    cfg = state.config
    ctx = context(cfg)
    t0 = time.perf_counter()
    a = state.arrays
    b = int(a["generation"]) + 1
    code, const = _draw(ctx, cfg, b)
    cost, bad = _assess_flat(ctx, code, const)
    cost = cost.astype(np.float64)
    cplx = np.asarray(complexity(code))
    ac, ak, acost = ctx.archive(a["archive_code"], a["archive_const"], a["archive_cost"], code, const, cost, cplx)
    best = int(np.argmin(np.where(np.isfinite(cost), cost, np.inf)))
    a = {
        **a,
        "archive_code": np.asarray(ac),
        "archive_const": np.asarray(ak),
        "archive_cost": np.asarray(acost, np.float64),
        "generation": np.asarray(b),
    }
    if b == 0 or cost[best] < a["cost"][0, 0]:
        a["code"], a["const"], a["cost"] = code[best][None, None], const[best][None, None], cost[best].reshape(1, 1)
    fin = cost[np.isfinite(cost)]
    record = {
        "generation": b,
        "best_cost": float(a["cost"][0, 0]),
        "median_cost": float(np.median(fin)) if fin.size else float("inf"),
        "complexity": int(np.sum(a["code"] >= 0)),
        "seconds": round(time.perf_counter() - t0, 3),
        "non_finite": bad,
    }
    return GPState(cfg, a, (*state.history, record))


def load_checkpoint(out: str | Path, config: GPConfig) -> GPState | None:
    """The search checkpointed in the run folder `out`, with `config` (None if there is none)."""
    from . import _checkpoint

    if not _checkpoint.exists(out):
        return None
    state, _ = _checkpoint.load(out, FORMAT)
    return GPState(config, state.arrays, state.history)


def search(
    config: GPConfig, out: Path | None = None, *, resume: bool = False, progress: Callable[[dict], None] | None = None
) -> GPState:
    """Run (or continue) the batches of `config`; checkpoint after each one when `out` is given
    (GP's loop, checkpoint, history and resume check: `_runner.evolve`)."""
    return evolve(config, out, resume=resume, progress=progress, start=lambda c: step(init_state(c)), advance=step, fmt=FORMAT)


def _as_rs(policy: SymbolicPolicy, evaluated: int) -> SymbolicPolicy:
    return policy.with_provenance(method="rs", evaluated=evaluated)


def run_rs(
    task: Task,
    out: Path,
    *,
    seed: int,
    options: dict,
    resume: bool = False,
    progress=None,
    method: str = "rs",
    budget: str = "quick",
    settings: dict[str, Any] | None = None,
    **overrides: Any,
) -> SymbolicPolicy:
    """`symctl synth TASK --method rs`: draw, checkpoint, choose, write the run folder (`policy.json`,
    `candidates/`, `pareto.csv`, `history.csv` with one row per batch, `config.toml`,
    `manifest.json`, `checkpoint/`). `settings` and `overrides` are GPConfig fields."""
    from synth._runfolder import prepare, write_config, write_manifest

    config = rs_config(task, budget=budget, seed=seed, options=options, settings=settings, **overrides)
    out = prepare(out)
    t0 = time.perf_counter()
    state = search(config, out, resume=resume, progress=progress)
    evaluated = (state.generation + 1) * config.population
    policy, _ = finish(state, out)
    policy = _as_rs(policy, evaluated)
    policy.save(out / "policy.json")
    for path in sorted((out / CANDIDATES).glob("*.json")):
        _as_rs(SymbolicPolicy.load(path), evaluated).save(path)
    record = {**config.to_dict(), "method": "rs"}
    write_config(out, {"task_file": task.source, **record})
    write_manifest(
        out,
        record,
        seed,
        method="rs",
        batches_done=state.generation + 1,
        evaluated=evaluated,
        stage_seconds={"synth": round(time.perf_counter() - t0, 3)},
        devices=len(context(config).devices),
    )
    return policy


__all__ = ["DEFAULTS", "batches", "rs_config", "run_rs", "search"]
