"""The synthesis methods the CLI and the pipeline can run, by name.

A method is a function `run(task, out, *, seed, options, resume, progress, method, budget,
settings) -> SymbolicPolicy` that writes its run folder (at least `policy.json`, `config.toml`,
`manifest.json`). `options` holds the CLI's options for it (checked against its defaults by
`synth._options.check_options`); `settings` are fields of its config dataclass (`--set`, the run
config's `[gp]` / `[espl]` table; docs/settings.md), None or empty for none; `progress(record)`
receives a dict per generation or iteration for the CLI to display (it may be None). `budget` is
the run budget, "quick" or "paper", and every method receives it; each maps it to its own
presets: GP runs the preset of the same name (`synth.gp.BUDGETS`), ESPL runs
`synth.espl.RUN_BUDGETS[budget]` (quick: its "default" preset, the measured settings; paper:
"paper"), NDE the preset of the same name (`synth.nde.BUDGETS`, GP's in evaluations), LQG has
nothing to size and ignores it. NDE returns a network policy (`synth.AbstractNetworkPolicy`,
`network.json`) instead of a `SymbolicPolicy`.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from plants import Task, UserInputError, did_you_mean
from synth import SymbolicPolicy
from synth._options import check_options

# name -> "module:function", imported on first use so `symctl tasks` never imports JAX.
METHODS: dict[str, str] = {
    "lqg": "symctl._methods:run_lqg",
    "lqg-ss": "symctl._methods:run_lqg",
    "lqg-i": "symctl._methods:run_lqg",
    "lqg-p": "symctl._methods:run_lqg",
    "gp-s": "symctl._methods:run_gp",
    "gp-d": "symctl._methods:run_gp",
    "gp-l": "symctl._methods:run_gp",
    "rs": "synth.gp._random_search:run_rs",
    "espl-s": "synth.espl:run_espl",
    "espl-d": "synth.espl:run_espl",
    "nde": "synth.nde:run_nde",
}


class UnknownMethod(UserInputError):
    """A synthesis method name is not known."""


def get_method(name: str) -> Callable[..., SymbolicPolicy]:
    if name not in METHODS:
        raise UnknownMethod(f"unknown method {name!r}{did_you_mean(name, list(METHODS))}; methods: {', '.join(METHODS)}")
    module, func = METHODS[name].split(":")
    return getattr(importlib.import_module(module), func)


def run_lqg(
    task: Task,
    out: Path,
    *,
    seed: int,
    options: dict,
    resume: bool = False,
    progress=None,
    method: str = "lqg",
    budget: str = "quick",
    settings: dict | None = None,
) -> SymbolicPolicy:
    """LQG as a synthesis method: design, write the run folder (`budget` is accepted like every
    method's; an LQG design has nothing to size, and no settings)."""
    from synth._runfolder import prepare, write_config, write_manifest
    from validation import lqg

    check_options(method, options, {})
    if settings:
        raise UserInputError(f"method {method!r} has no settings (given: {', '.join(settings)}); --set applies to GP and ESPL")
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


def run_gp(
    task: Task,
    out: Path,
    *,
    seed: int,
    options: dict,
    resume: bool = False,
    progress=None,
    method: str = "gp-d",
    budget: str = "quick",
    settings: dict | None = None,
    **overrides: Any,
) -> SymbolicPolicy:
    """GP-S / GP-D / GP-L (`synth.gp.run`), with GP-D started from a known linear controller.

    `options["seed_policy"]`: None or "lqg" designs the task's steady-state LQG (`validation.lqg`,
    variant "lqg-ss") and, where the task has outputs to integrate, the one with integral action
    ("lqg-i"), keeps the one that loses fewer of 256 trajectories of the run's own "seed-choice"
    stream and then costs less on those both keep (`_seed_choice`), and uses it when it fits the run's trees (None: quietly skipped otherwise; "lqg": an
    error says why); "lqg-ss" and "lqg-i" ask for one of the two; "none" starts from random trees only, the GP
    paper's setting: no seed policy, so no gain-scheduled forms of it, and no linear seeds unless
    the settings ask for them (`linear_seeds`; GP-S and GP-L take "none" too); anything
    else is the path of a `policy.json` in the task's units. With `normalised` (a GP setting) the
    seed is brought to the units the run learns in; with `robust` the LQG is still designed at the
    task's own nominal parameters, not at the middle of the box. The seed is copied into the run folder
    (`seed_policy.json`), so the run folder says what the run started from and `--resume` finds it.
    """
    from synth.gp import run

    overrides = {**(settings or {}), **overrides}  # GPConfig fields all the same; the caller's win
    opts = dict(options)
    choice = opts.pop("seed_policy", None)
    if choice == "none":  # from scratch, the GP paper's setting: random trees only, no tuned linear seeds either
        overrides.setdefault("linear_seeds", 0)
    if method != "gp-d" or "seed_policy" in overrides:
        if method != "gp-d" and choice not in (None, "none"):
            raise UserInputError(f"option --seed-policy {choice!r} applies to gp-d only (a static policy has no latent state)")
        return run(
            task, out, seed=seed, options=opts, resume=resume, progress=progress, method=method, budget=budget, **overrides
        )
    given = {**overrides, **({"latent": opts["latent"]} if opts.get("latent") else {})}
    path, fit = _seed_policy(task, Path(out), choice, budget, given, resume, seed)
    if path is not None:
        overrides["seed_policy"] = str(path.resolve())
        overrides.update(fit)
        if fit.get("latent"):
            opts.pop("latent", None)
    return run(task, out, seed=seed, options=opts, resume=resume, progress=progress, method=method, budget=budget, **overrides)


# Node budgets tried, in order, when the seed's rows have more terms than the budget's trees hold.
_SEED_NODE_BUDGETS = (15, 19, 23, 27, 31)


def _fitting_settings(task: Task, policy: SymbolicPolicy, source: str, budget: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The GP settings under which `policy` fits the run's trees: the given ones when it fits them;
    otherwise, for what the user left open, the seed's latent size and the smallest node budget
    (and depth) that holds its widest expression. Raises SeedPolicyError if nothing fits."""
    from synth.gp._config import gp_config
    from synth.gp._context import context
    from synth.gp._seeds import SeedPolicyError, fitted_seed

    extra: dict[str, Any] = {}
    default = gp_config(task, budget, method="gp-d", **settings)
    if "latent" not in settings and policy.nz > default.latent:
        extra["latent"] = policy.nz
    base = gp_config(task, budget, method="gp-d", **settings, **extra)
    tries = (
        [{}]
        if "max_nodes" in settings
        else [{}]
        + [{"max_nodes": n, "max_depth": max(base.max_depth, (n + 1) // 4)} for n in _SEED_NODE_BUDGETS if n > base.max_nodes]
    )
    error: SeedPolicyError | None = None
    for more in tries:
        cfg = gp_config(task, budget, method="gp-d", **settings, **extra, **more)
        try:
            fitted_seed(context(cfg), policy, source)
        except SeedPolicyError as err:
            error = error or err
            continue
        return {**extra, **more}
    assert error is not None
    raise error


SEED_CHOICE_TRAJECTORIES = 256


def _seed_choice(task: Task, seed: int, candidates: list[tuple]) -> tuple:
    """The candidate seed policy (first item of each tuple) that loses the fewest of 256 trajectories
    of the run's "seed-choice" stream (trajectories no other stage draws), then costs least on the
    trajectories every candidate keeps: on a task where a few trajectories run away whatever the
    controller (the CSTR's ignitions), a plain mean is inf for every candidate and decides nothing."""
    import numpy as np

    from synth import Simulator
    from synth._runfolder import stream_key

    sim = Simulator(task)
    scen = sim.scenarios(stream_key(seed, "seed-choice"), SEED_CHOICE_TRAJECTORIES)
    costs = np.array([np.asarray(sim.simulate(c[0], scen).cost, float) for c in candidates])
    kept = np.all(np.isfinite(costs), axis=0)
    lost = np.sum(~np.isfinite(costs), axis=1)
    common = costs[:, kept].mean(axis=1) if kept.any() else np.zeros(len(candidates))
    return candidates[min(range(len(candidates)), key=lambda k: (lost[k], common[k]))]


def _seed_policy(
    task: Task, out: Path, choice: str | None, budget: str, settings: dict[str, Any], resume: bool = False, seed: int = 0
) -> tuple[Path | None, dict[str, Any]]:
    """Write the seed policy `choice` into the run folder; return its path (None: no seed) and the
    GP settings it needs to fit (latent size, node budget) beyond the given ones."""
    from plants import training_task
    from synth import denormalise
    from synth._runfolder import prepare
    from synth.gp._seeds import SeedPolicyError

    if choice == "none":
        return None, {}
    design, scaling = training_task(task, bool(settings.get("normalised")), False)
    auto = choice is None
    if auto or choice in ("lqg", "lqg-ss", "lqg-i"):
        from validation._integral import integral_policy
        from validation.lqg import LQGError, policy_from_design
        from validation.lqg import design as lqg_design

        try:  # one design for both variants: lqg-i is lqg-ss with integrators added
            d = lqg_design(design)
            steady = policy_from_design(design, d, "lqg-ss")
        except LQGError as err:
            if auto:
                return None, {}
            raise UserInputError(f"--seed-policy {choice}: {err}") from None
        designed = [("lqg-ss", steady)] if choice in (None, "lqg", "lqg-ss") else []
        if choice in (None, "lqg", "lqg-i"):
            try:
                designed.append(("lqg-i", integral_policy(design, d, steady)))
            except LQGError as err:  # no output to integrate: the steady-state LQG alone
                if choice == "lqg-i":
                    raise UserInputError(f"--seed-policy {choice}: {err}") from None
        fitting, error = [], None
        for variant, policy in designed:
            source = (
                f"--seed-policy {choice or 'lqg'} (the steady-state LQG{' with integral action' if variant == 'lqg-i' else ''})"
            )
            try:
                fitting.append((policy, source, _fitting_settings(task, policy, source, budget, settings)))
            except SeedPolicyError as err:
                error = error or err
        if not fitting:
            if auto or error is None:
                return None, {}
            raise error
        policy, source, fit = _seed_choice(design, seed, fitting) if len(fitting) > 1 else fitting[0]
    else:
        if not Path(choice).is_file():
            raise UserInputError(f"--seed-policy {choice!r}: no such file; give a policy.json, lqg, lqg-ss, lqg-i or none")
        policy = denormalise(SymbolicPolicy.load(choice), scaling.inverse())
        source = f"--seed-policy {choice!r}"
        fit = _fitting_settings(task, policy, source, budget, settings)
    path = prepare(out) / SEED_POLICY_FILE
    if resume and path.exists():  # the checkpoint holds the seed the run started from: it must be this one
        if SymbolicPolicy.load(path).digest() != policy.digest():
            raise UserInputError(
                f"--resume: the run in {str(out)!r} started from another seed policy ({path}); "
                "give the same --seed-policy, or run without --resume"
            )
        return path, fit
    policy.save(path)
    return path, fit
