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
    "gp-s": "synth.gp:run",
    "gp-d": "synth.gp:run",
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
