"""The synthesis methods the CLI and the pipeline can run, by name.

A method is a function `run(task, out, *, seed, options, resume, progress) -> SymbolicPolicy` that
writes its run folder (at least `policy.json`, `config.toml`, `manifest.json`). `options` holds
the method's own settings (already checked against its defaults); `progress(record)` receives a
dict per generation or iteration for the CLI to display (it may be None).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from plants import Task, UserInputError, did_you_mean
from synth import SymbolicPolicy

# name -> "module:function", imported on first use so `symctl tasks` never imports JAX.
METHODS: dict[str, str] = {
    "lqg": "symctl._methods:run_lqg",
    "lqg-ss": "symctl._methods:run_lqg",
    "gp-s": "symctl._methods:run_gp",
    "gp-d": "symctl._methods:run_gp",
    "espl-s": "synth.espl:run_espl",
    "espl-d": "synth.espl:run_espl",
}


class UnknownMethod(UserInputError):
    """A synthesis method name is not known."""


def get_method(name: str) -> Callable[..., SymbolicPolicy]:
    if name not in METHODS:
        raise UnknownMethod(f"unknown method {name!r}{did_you_mean(name, list(METHODS))}; methods: {', '.join(METHODS)}")
    module, func = METHODS[name].split(":")
    return getattr(importlib.import_module(module), func)


def check_options(method: str, options: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """Reject options a method does not take; return its defaults updated with the given ones."""
    for k, v in options.items():
        if v is not None and k not in defaults:
            raise UserInputError(f"option --{k.replace('_', '-')} does not apply to method {method!r}; its options: "
                                 f"{', '.join('--' + d.replace('_', '-') for d in defaults) or '(none)'}")
    return {**defaults, **{k: v for k, v in options.items() if v is not None}}


def run_lqg(task: Task, out: Path, *, seed: int, options: dict, resume: bool = False, progress=None, method: str = "lqg") -> SymbolicPolicy:
    """LQG as a synthesis method: design, write the run folder."""
    from synth._runfolder import prepare, write_config, write_manifest
    from validation import lqg

    check_options(method, options, {})
    out = prepare(out)
    t0 = time.perf_counter()
    policy = lqg(task, method).with_provenance(seed=seed)
    seconds = time.perf_counter() - t0
    config = {"task": task.name, "task_file": task.source, "method": method, "seed": seed}
    policy.save(out / "policy.json")
    write_config(out, config)
    write_manifest(out, config, seed, stage_seconds={"synth": round(seconds, 3)})
    return policy


SEED_POLICY_FILE = "seed_policy.json"


def run_gp(task: Task, out: Path, *, seed: int, options: dict, resume: bool = False, progress=None, method: str = "gp-d",
           budget: str = "quick", **overrides: Any) -> SymbolicPolicy:
    """GP-S / GP-D (`synth.gp.run`), with GP-D started from a known linear controller.

    `options["seed_policy"]`: None or "lqg" designs the task's steady-state LQG (`validation.lqg`,
    variant "lqg-ss") and uses it when the task has one and it fits the run's trees (None: quietly
    skipped otherwise; "lqg": an error says why); "none" starts from random trees only; anything
    else is the path of a `policy.json`. The seed is copied into the run folder
    (`seed_policy.json`), so the run folder says what the run started from and `--resume` finds it.
    """
    from synth.gp import run

    opts = dict(options)
    choice = opts.pop("seed_policy", None)
    if method != "gp-d" or "seed_policy" in overrides:
        if method != "gp-d" and choice not in (None, "none"):
            raise UserInputError(f"option --seed-policy {choice!r} applies to gp-d only (a static policy has no latent state)")
        return run(task, out, seed=seed, options=opts, resume=resume, progress=progress, method=method, budget=budget, **overrides)
    path = _seed_policy(task, Path(out), choice, budget, {**overrides, **({"latent": opts["latent"]} if opts.get("latent") else {})},
                        resume)
    if path is not None:
        overrides["seed_policy"] = str(path.resolve())
    return run(task, out, seed=seed, options=opts, resume=resume, progress=progress, method=method, budget=budget, **overrides)


def _seed_policy(task: Task, out: Path, choice: str | None, budget: str, settings: dict[str, Any], resume: bool = False) -> Path | None:
    """Write the seed policy `choice` into the run folder and return its path (None: no seed)."""
    from synth._runfolder import prepare
    from synth.gp._config import gp_config
    from synth.gp._evolve import context
    from synth.gp._seeds import SeedPolicyError, fitted_seed

    if choice == "none":
        return None
    auto = choice is None
    if auto or choice == "lqg":
        from validation.lqg import LQGError, lqg

        try:
            policy = lqg(task, "lqg-ss")
        except LQGError as err:
            if auto:
                return None
            raise UserInputError(f"--seed-policy lqg: {err}") from None
        source = "--seed-policy lqg (the steady-state LQG)"
    else:
        if not Path(choice).is_file():
            raise UserInputError(f"--seed-policy {choice!r}: no such file; give a policy.json, 'lqg' or 'none'")
        policy = SymbolicPolicy.load(choice)
        source = f"--seed-policy {choice!r}"
    cfg = gp_config(task, budget, method="gp-d", **settings)
    try:
        fitted_seed(context(cfg), policy, source)
    except SeedPolicyError:
        if auto:
            return None
        raise
    path = prepare(out) / SEED_POLICY_FILE
    if resume and path.exists():  # the checkpoint holds the seed the run started from: it must be this one
        if SymbolicPolicy.load(path).digest() != policy.digest():
            raise UserInputError(f"--resume: the run in {str(out)!r} started from another seed policy ({path}); "
                                 "give the same --seed-policy, or run without --resume")
        return path
    policy.save(path)
    return path
