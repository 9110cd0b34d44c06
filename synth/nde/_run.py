"""An NDE run: evolve the network with CMA-ES, checkpoint every generation, choose, write the run folder.

Run folder: `network.json` and `network.npz` (the policy, `NetworkPolicy`), `history.csv` (per
generation), `config.toml`, `manifest.json`, and `checkpoint/` in the format every method shares
(`synth._checkpoint`; `state.npz`: the fitness vector told at each generation and the best network
so far, `state.json`: the rest). An interrupted run loses at most the generation it was in;
`--resume` continues it and ends where the uninterrupted run would have.

The exported network is, of the best individual evaluated (lowest training cost) and the mean of
the final search distribution, the one with the lower cost on held-out trajectories of the stream
"validation".
"""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from plants import Task, UserInputError

from .. import _checkpoint
from .._cost import finite_mean
from .._runfolder import RunFolderError, config_hash, prepare, write_config, write_manifest
from ._config import NDEConfig, resolve_config
from ._policy import NetworkPolicy
from ._train import Evolution, Trainer

CHECKPOINT_FORMAT, CHECKPOINT_VERSION = "symctl.nde.checkpoint", 1
CHECKPOINT = "checkpoint"
HISTORY_FIELDS = ("generation", "evaluations", "best_cost", "median_cost", "non_finite", "sigma", "seconds")
# Settings a resumed run may change: how long it goes on.
_RESUMABLE = ("generations", "time_budget")


def _resume_hash(config: NDEConfig) -> str:
    return config_hash({k: v for k, v in config.to_dict().items() if k not in _RESUMABLE})


def _cma_version() -> str:
    import cma

    return str(cma.__version__)


def _write_history(out: Path, rows: list[dict]) -> None:
    with open(out / "history.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, HISTORY_FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def evolve(trainer: Trainer, out: Path | None = None, *, resume: bool = False, progress=None) -> dict[str, Any]:
    """Run (or continue) the generations of the trainer's config; checkpoint after each when `out`
    is given. Returns the state: `evolution`, `best_theta`, `best_cost`, `history`, `seconds`."""
    cfg = trainer.config
    evo = Evolution(trainer.n_params, cfg)
    best_theta, best_cost, rows, spent = np.zeros(trainer.n_params), math.inf, [], 0.0
    ckpt = out / CHECKPOINT if out is not None else None
    if resume and ckpt is not None and _checkpoint.exists(ckpt):
        arrays, header = _checkpoint.load(ckpt, CHECKPOINT_FORMAT, CHECKPOINT_VERSION)
        if header.get("config_hash") != _resume_hash(cfg):
            raise RunFolderError(
                f"--resume: the checkpoint in {str(ckpt)!r} was made with other settings or another seed; "
                "give the same options, or run without --resume"
            )
        if header.get("cma") != _cma_version():
            raise RunFolderError(
                f"--resume: the checkpoint in {str(ckpt)!r} was made with cma {header.get('cma')}, this is cma "
                f"{_cma_version()}: its optimiser state cannot be rebuilt exactly; run without --resume"
            )
        told = arrays["told"]
        if told.ndim != 2 or told.shape[1] != cfg.population or arrays["best_theta"].shape != (trainer.n_params,):
            raise RunFolderError(
                f"--resume: the checkpoint in {str(ckpt)!r} does not hold this run's state "
                f"(fitness {told.shape}, network {arrays['best_theta'].shape}); run without --resume"
            )
        evo.replay(told)
        best_theta, best_cost = arrays["best_theta"].astype(float), float(header["best_cost"])
        rows, spent = list(header["history"]), float(header["seconds"])
        trainer.evaluations = evo.generation * cfg.population
    start = time.perf_counter()
    while evo.generation < cfg.generations:
        if cfg.time_budget is not None and spent + time.perf_counter() - start >= cfg.time_budget:
            break
        t0 = time.perf_counter()
        population = evo.ask()
        costs = trainer.costs(population)
        fitness = finite_mean(costs, axis=1)
        evo.tell(population, fitness)
        k = int(np.argmin(np.where(np.isfinite(fitness), fitness, np.inf)))
        if fitness[k] < best_cost:
            best_theta, best_cost = population[k].copy(), float(fitness[k])
        finite = fitness[np.isfinite(fitness)]
        rows.append(
            {
                "generation": evo.generation,
                "evaluations": evo.generation * cfg.population,
                "best_cost": best_cost,
                "median_cost": float(np.median(finite)) if finite.size else math.inf,
                "non_finite": int(fitness.size - finite.size),
                "sigma": evo.sigma,
                "seconds": round(time.perf_counter() - t0, 3),
            }
        )
        if ckpt is not None:
            _checkpoint.save(
                ckpt,
                CHECKPOINT_FORMAT,
                CHECKPOINT_VERSION,
                {"told": np.stack(evo.told), "best_theta": best_theta},
                {
                    "generation": evo.generation,
                    "seed": cfg.seed,
                    "config_hash": _resume_hash(cfg),
                    "cma": _cma_version(),
                    "best_cost": best_cost,
                    "history": rows,
                    "seconds": spent + time.perf_counter() - start,
                },
            )
            _write_history(out, rows)
        if progress is not None:
            progress({**rows[-1], "total": cfg.generations})
    return {
        "evolution": evo,
        "best_theta": best_theta,
        "best_cost": best_cost,
        "history": rows,
        "seconds": spent + time.perf_counter() - start,
    }


def finish(trainer: Trainer, state: dict[str, Any]) -> tuple[NetworkPolicy, dict[str, Any]]:
    """The exported network: the best individual or the final distribution mean, whichever costs
    less on the validation trajectories; returns it (in the training task's units) and a record."""
    cfg = trainer.config
    evo = state["evolution"]
    cands = [("best individual", state["best_theta"], state["best_cost"]), ("distribution mean", evo.mean, math.nan)]
    if evo.generation == 0:
        cands = cands[1:]
    held_out = trainer.held_out_costs(np.stack([theta for _, theta, _ in cands]))
    scored = [(name, theta, train, float(v)) for (name, theta, train), v in zip(cands, held_out)]
    order = sorted(range(len(scored)), key=lambda i: (scored[i][3] if math.isfinite(scored[i][3]) else math.inf, i))
    name, theta, train, val = scored[order[0]]
    record = {
        "generations": evo.generation,
        "evaluations": evo.generation * cfg.population,
        "chosen": name,
        "train_cost": train,
        "validation_cost": val,
        "validation_trajectories": cfg.validation_trajectories,
        "candidates": {n: {"train_cost": t, "validation_cost": v} for n, _, t, v in scored},
        "sigma": evo.sigma,
        "train_seconds": round(state["seconds"], 3),
    }
    policy = trainer.policy(
        theta,
        task=trainer.task.name,
        method=cfg.method,
        seed=cfg.seed,
        generation=evo.generation,
        chosen=name,
        train_cost=train,
        validation_cost=val,
        validation_trajectories=cfg.validation_trajectories,
        evaluations=record["evaluations"],
    )
    return policy, record


def run_nde(
    task: Task,
    out: Path,
    *,
    seed: int,
    options: dict,
    resume: bool = False,
    progress=None,
    method: str = "nde",
    budget: str = "quick",
    normalised: bool = False,
    robust: bool = False,
    settings: dict[str, Any] | None = None,
) -> NetworkPolicy:
    """`symctl synth TASK --method nde`: evolve, checkpoint, choose, write the run folder
    (`network.json`, `network.npz`, `history.csv`, `config.toml`, `manifest.json`). `normalised`
    and `robust` train on `plants.training_task(task, normalised, robust)`, and the network is
    written in its units; `budget` picks the preset (`BUDGETS`), `settings` are NDEConfig fields."""
    from plants import training_task

    config = resolve_config(
        task, method=method, budget=budget, seed=seed, options=options, settings=settings, normalised=normalised, robust=robust
    )
    learn = training_task(task, normalised, robust)[0]
    out = prepare(out)
    if not resume and _checkpoint.exists(out / CHECKPOINT):
        raise UserInputError(f"run folder {str(out)!r} holds a checkpoint; pass --resume to continue it or choose another --out")
    t0 = time.perf_counter()
    trainer = Trainer(learn, config)
    state = evolve(trainer, out, resume=resume, progress=progress)
    policy, record = finish(trainer, state)
    policy.save(out)
    if state["history"]:
        _write_history(out, state["history"])
    cfg_dict = {"task_file": task.source, "budget": budget, **config.to_dict()}
    write_config(out, cfg_dict)
    write_manifest(
        out,
        cfg_dict,
        seed,
        method=method,
        generations_done=record["generations"],
        nde=record,
        stage_seconds={"synth": round(time.perf_counter() - t0, 3)},
    )
    return policy
