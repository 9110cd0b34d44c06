"""An ESPL run: train, checkpoint, extract, tune, score, write the run folder.

Run folder: `policy.json`, `history.csv`, `config.toml`, `manifest.json`, and `checkpoint/` in the
format every method shares (`synth._checkpoint`; `state.npz`: the arrays of the training state and of
the best network, `state.json`: the rest, with the format's name and version).
`--resume` continues from the checkpoint and gives the same result as an uninterrupted run.
"""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from plants import Task, UserInputError

from .. import _checkpoint
from .._policy import SymbolicPolicy
from .._runfolder import RunFolderError, config_hash, prepare, stream_key, write_config, write_manifest
from ._config import ESPLConfig, checkpoint_dicts, resolve_config, run_budget_preset
from ._extract import augment, extract, finetune, prune_augmented, prune_guards, simplify_policy, validation_cost
from ._network import active_paths
from ._train import Trainer

TEST_TRAJECTORIES = 1000


CHECKPOINT_FORMAT, CHECKPOINT_VERSION = "symctl.espl.checkpoint", 1


def save_checkpoint(folder: Path, state: Any, best: Any, meta: dict) -> None:
    """The leaves of the training state (`s0`, `s1`, ...) and of the best network so far (`b0`, ...)
    as arrays, `meta` as the header."""
    arrays = {f"s{i}": v for i, v in enumerate(jax.tree_util.tree_leaves(state))}
    if best is not None:
        arrays.update({f"b{i}": v for i, v in enumerate(jax.tree_util.tree_leaves(best))})
    _checkpoint.save(folder, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, arrays, meta)


def load_checkpoint(folder: Path, template: Any, best_template: Any) -> tuple[Any, Any, dict]:
    """The training state, the best network (None if there was none yet) and the header of the
    checkpoint in `folder`; `template` and `best_template` give their structure, shapes and dtypes."""
    data, meta = _checkpoint.load(folder, CHECKPOINT_FORMAT, CHECKPOINT_VERSION)

    def rebuild(tree, prefix):
        leaves, treedef = jax.tree_util.tree_flatten(tree)
        for i, leaf in enumerate(leaves):
            name = f"{prefix}{i}"
            if name not in data or data[name].shape != np.shape(leaf):
                found = f"of shape {data[name].shape}" if name in data else "missing"
                raise RunFolderError(
                    f"the checkpoint in {str(folder)!r} does not hold the state of this run (array {name} {found}, "
                    f"the run's is of shape {np.shape(leaf)}): it was made with other settings; run without --resume "
                    "or use another --out"
                )
        return jax.tree_util.tree_unflatten(
            treedef, [jnp.asarray(data[f"{prefix}{i}"], dtype=leaf.dtype) for i, leaf in enumerate(leaves)]
        )

    state = rebuild(template, "s")
    best = rebuild(best_template, "b") if meta.get("best_iteration") is not None else None
    return state, best, meta


def _write_history(out: Path, rows: list[dict], name: str = "history.csv") -> None:
    if not rows:
        return
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(out / name, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


def train(trainer: Trainer, out: Path | None = None, resume: bool = False, progress=None) -> tuple[dict, dict]:
    """Run the optimiser; returns (network parameters to extract, run record)."""
    cfg = trainer.config
    state = trainer.init()
    best, best_val, best_iter, rows, elapsed = None, math.inf, None, [], 0.0
    r = trainer.restart
    ckpt = (out / ("checkpoint" if r == 0 else f"checkpoint-{r}")) if out is not None else None
    history = "history.csv" if r == 0 else f"history-{r}.csv"
    if resume and ckpt is not None and (ckpt / "state.json").exists():
        state, best, meta = load_checkpoint(ckpt, state, state["params"])
        if meta.get("config_hash") not in {config_hash(d) for d in checkpoint_dicts(cfg)} or meta.get("seed") != trainer.seed:
            raise RunFolderError(
                f"checkpoint in {str(ckpt)!r} was made with other settings or seed; run without --resume or use another --out"
            )
        best_val, best_iter, rows, elapsed = meta["best_validation"], meta["best_iteration"], meta["history"], meta["seconds"]
        best_val = math.inf if best_val is None else best_val
    t0 = time.perf_counter() - elapsed
    it = int(state["iteration"])
    steps_per_it = cfg.batch * trainer.train_ticks
    while it < cfg.iterations:
        state, info = trainer.step(state)
        it += 1
        if it % cfg.eval_every and it != cfg.iterations:
            continue
        # Only networks past the sparsity schedule are candidates for export: validate only those.
        candidate = it >= cfg.hard_iteration
        val = trainer.evaluate(state["params"]) if candidate else math.nan
        if candidate and val < best_val:
            best, best_val, best_iter = jax.tree_util.tree_map(jnp.copy, state["params"]), val, it
        row = {
            "iteration": it,
            "env_steps": it * steps_per_it,
            "train_cost": float(info["train_cost"]),
            "validation_cost": val,
            "paths": sum(active_paths(p) for p in state["params"].values()),
            "expected_paths": float(info["expected_paths"]),
            "tau": float(info["tau"]),
            "grad_norm": float(info["grad_norm"]),
            "seconds": round(time.perf_counter() - t0, 2),
        }
        rows.append(row)
        if progress is not None:
            progress({"stage": "train", **({"restart": r} if cfg.restarts > 1 else {}), **row, "total": cfg.iterations})
        if ckpt is not None:
            meta = {
                "iteration": it,
                "seed": trainer.seed,
                "config_hash": config_hash(cfg.to_dict()),
                "best_validation": None if math.isinf(best_val) else best_val,
                "best_iteration": best_iter,
                "history": rows,
                "seconds": time.perf_counter() - t0,
            }
            save_checkpoint(ckpt, state, best, meta)
            _write_history(out, rows, history)
        if cfg.time_budget and time.perf_counter() - t0 > cfg.time_budget:
            break
    evals = sum(1 for r in rows if not math.isnan(r["validation_cost"]))
    if best is None:
        best, best_iter, best_val = state["params"], it, trainer.evaluate(state["params"])
        evals += 1
    record = {
        "iterations": it,
        "best_iteration": best_iter,
        "network_validation_cost": best_val,
        "train_env_steps": it * steps_per_it,
        "train_validations": evals,
        "train_seconds": round(time.perf_counter() - t0, 2),
    }
    return best, record


def _structure(trainer: Trainer, out: Path | None, resume: bool, progress) -> tuple[SymbolicPolicy, float, dict]:
    """Train one network, extract it and prune its guards; returns (policy, validation cost, record)."""
    params, record = train(trainer, out, resume, progress)
    record["_runs_after_training"] = trainer.validation_runs
    policy = simplify_policy(extract(trainer, params))
    cost = validation_cost(trainer, policy)
    record["extracted_validation_cost"] = cost
    policy, cost = prune_guards(trainer, policy, cost)
    record["pruned_validation_cost"] = cost
    return policy, cost, record


def _tune(trainer: Trainer, policy: SymbolicPolicy, cost: float, record: dict, progress) -> SymbolicPolicy:
    """Tune the constants of an extracted policy (with candidate terms when `augment_degree` is
    set); completes `record` with its validation cost and environment steps."""
    config = trainer.config
    if config.augment_degree:
        augmented, scales, found = augment(trainer, policy)
        policy, cost, ft_steps = finetune(trainer, augmented, cost, progress, scales)
        policy, cost, kept = prune_augmented(trainer, policy, cost, found, len(scales))
        record["augment_candidates"], record["augment_kept"] = len(found), kept
    else:
        policy, cost, ft_steps = finetune(trainer, policy, cost, progress)
    tuned = simplify_policy(policy)
    # Re-scored only if the simplification changed the tuned policy.
    record["validation_cost"] = cost if tuned.digest() == policy.digest() else validation_cost(trainer, tuned)
    record["finetune_env_steps"] = ft_steps
    return tuned


def _count_validations(trainer: Trainer, record: dict) -> None:
    # Validation roll-outs are environment steps too: those of training (one per evaluation) and
    # those made after it (extraction, guard pruning, tuning).
    n_val = record["train_validations"] + trainer.validation_runs - record.pop("_runs_after_training")
    record["validation_env_steps"] = n_val * trainer.config.eval_batch * trainer.sim.n_ticks


def synthesise(
    task: Task, config: ESPLConfig, seed: int, out: Path | None = None, resume: bool = False, progress=None
) -> tuple[SymbolicPolicy, dict]:
    """Train, extract, prune guards, tune constants and score on held-out trajectories. With
    `restarts` > 1, that many independent candidates (own initialisation, batches, masks and tuning
    batches) and the one with the lowest validation cost (shared validation set) is exported; with
    `tune_chosen`, the candidates are compared before tuning and only the chosen one is tuned."""
    t0 = time.perf_counter()
    candidates, first, pilot_steps = [], None, 0
    for r in range(config.restarts):
        # The zero-input pilot (shared stream) is run once and the training step compiled once,
        # both shared by every restart.
        trainer = Trainer(task, config, seed, restart=r, share=first)
        first, pilot_steps = first or trainer, pilot_steps + trainer.pilot_env_steps
        policy, cost, rec = _structure(trainer, out, resume, progress)
        if not config.tune_chosen:
            policy = _tune(trainer, policy, cost, rec, progress)
            cost = rec["validation_cost"]
        candidates.append([cost, r, policy, rec, trainer])
    chosen_cost, chosen, policy, record, trainer = min(candidates, key=lambda c: (c[0], c[1]))
    if config.tune_chosen:
        policy = _tune(trainer, policy, chosen_cost, record, progress)
        for c in candidates:
            c[3].setdefault("finetune_env_steps", 0)
            c[3].setdefault("validation_cost", c[0])
    for c in candidates:
        _count_validations(c[4], c[3])
    record = dict(record)
    for k in ("train_env_steps", "finetune_env_steps", "validation_env_steps"):
        record[k] = sum(c[3][k] for c in candidates)
    record["train_seconds"] = round(sum(c[3]["train_seconds"] for c in candidates), 2)  # every candidate's training
    record["pilot_env_steps"] = pilot_steps
    record["total_env_steps"] = (
        record["train_env_steps"] + record["finetune_env_steps"] + record["validation_env_steps"] + record["pilot_env_steps"]
    )
    if config.restarts > 1:
        record["restart"] = chosen
        record["restart_validation_costs"] = [c[0] for c in candidates]
    # The exported policy, read back from its JSON form, is what gets scored.
    policy = SymbolicPolicy.from_json(policy.to_json())
    test = trainer.sim.scenarios(stream_key(seed, "test"), TEST_TRAJECTORIES)
    costs = np.asarray(trainer.sim.simulate(policy, test).cost, float)
    record.update(
        {
            "test_cost": float(costs.mean()),
            "test_trajectories": TEST_TRAJECTORIES,
            "test_non_finite": int((~np.isfinite(costs)).sum()),
            "complexity": policy.complexity(),
            "seconds": round(time.perf_counter() - t0, 2),
        }
    )
    if task.cost.reward:
        record["test_return"] = -record["test_cost"]
    policy = policy.with_provenance(**{k: v for k, v in record.items() if k != "complexity"}, espl=config.to_dict())
    return policy, record


def run_espl(
    task: Task,
    out: Path,
    *,
    seed: int,
    options: dict,
    resume: bool = False,
    progress=None,
    method: str = "espl-s",
    budget: str = "quick",
    normalised: bool = False,
    robust: bool = False,
    settings: dict[str, Any] | None = None,
) -> SymbolicPolicy:
    """The `symctl synth TASK --method espl-s|espl-d` runner; `normalised` and `robust` train on
    `plants.training_task(task, normalised, robust)` (the policy is written in its units). `budget`
    is the run budget, "quick" or "paper", which runs the ESPL preset `RUN_BUDGETS[budget]`
    (quick: ESPL's "default" preset; see `_config.RUN_BUDGETS`); `settings` are ESPLConfig fields
    (`resolve_config` says what wins)."""
    from plants import training_task

    config = resolve_config(task, method=method, budget=budget, options=options, settings=settings)
    preset = run_budget_preset(budget)
    task = training_task(task, normalised, robust)[0]
    out = prepare(out)
    if not resume and (out / "checkpoint" / "state.json").exists():
        raise UserInputError(f"run folder {str(out)!r} holds a checkpoint; pass --resume to continue it or choose another --out")
    cfg_dict = {
        "task": task.name,
        "task_file": task.source,
        "method": method,
        "seed": seed,
        "budget": budget,
        "espl_preset": preset,
        "normalised": normalised,
        "robust": robust,
        "espl": config.to_dict(),
    }
    write_config(out, cfg_dict)
    policy, record = synthesise(task, config, seed, out, resume, progress)
    policy.save(out / "policy.json")
    write_manifest(out, cfg_dict, seed, stage_seconds={"synth": record["seconds"]}, espl=record)
    return policy
