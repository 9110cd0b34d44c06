"""Settings of an NDE run and the budgets offered as presets.

`NDEConfig` is a frozen dataclass of plain values (written to `config.toml`, hashed into the
checkpoint); `nde_config(task, budget, **overrides)` resolves the presets, `resolve_config` adds the
CLI's options. The budgets are GP's in evaluations: population x generations equals GP's, on as
many training trajectories (`synth.gp.BUDGETS`), so a table of methods compares them at equal cost.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from plants import Task, UserInputError

from .._settings import AbstractSettings

METHODS = ("nde",)
INTEGRATORS = ("euler", "rk4")

BUDGETS = {
    # GP's paper budget in evaluations (500 x 50 on 32 trajectories) as 50 x 500: CMA-ES goes further at equal cost (bench/paper_RESULTS.md).
    "paper": {"population": 50, "generations": 500, "train_trajectories": 32},
    # GP's quick budget in evaluations (200 x 20 on 24 trajectories) as 40 x 100, for the same reason.
    "quick": {"population": 40, "generations": 100, "train_trajectories": 24},
}

# The paper's experiment code, per plant family: latent size and initial step size of CMA-ES.
_FAMILIES = {
    "acrobot": {"sigma_init": 5.0},
    "cstr": {"sigma_init": 5.0, "latent": 10},
}


class NDEConfigError(UserInputError):
    """An NDE setting is out of range; the message names the setting and what is valid."""


@dataclasses.dataclass(frozen=True)
class NDEConfig(AbstractSettings):
    """Every setting of an NDE run; docs/settings.md gives each one's meaning and the reason for
    its default. Constructing one checks it (`check()`)."""

    LABEL = "NDE"
    RUN_FIELDS = ("task", "method", "seed", "normalised", "robust")
    RETIRED = {}
    Error = NDEConfigError

    task: str
    method: str = "nde"
    seed: int = 0
    normalised: bool = False
    robust: bool = False
    population: int = 50
    generations: int = 500
    time_budget: float | None = None
    latent: int = 5
    hidden_f: tuple[int, ...] = ()
    hidden_g: tuple[int, ...] = ()
    sigma_init: float = 0.5
    train_trajectories: int = 32
    validation_trajectories: int = 256
    integrator: str = "euler"
    cost_every_tick: bool = True
    dtype: str = "float32"

    def check(self) -> NDEConfig:
        def bad(name, value, valid):
            raise NDEConfigError(f"NDE setting {name} = {value!r} is not valid; {valid}")

        if self.method not in METHODS:
            bad("method", self.method, f"use one of {', '.join(METHODS)}")
        if self.population < 4:
            bad("population", self.population, "give at least 4 (CMA-ES needs a few samples per generation)")
        if self.generations < 0:
            bad("generations", self.generations, "give 0 or more")
        if self.time_budget is not None and not self.time_budget > 0:
            bad("time_budget", self.time_budget, "give a number of seconds > 0, or leave it out")
        if self.latent < 1:
            bad("latent", self.latent, "give 1 or more")
        for name in ("hidden_f", "hidden_g"):
            widths = getattr(self, name)
            if any(w < 1 for w in widths) or len(widths) > 4:
                bad(name, list(widths), "give at most 4 hidden layer widths, each 1 or more ([] : no hidden layer, as the paper)")
        if not self.sigma_init > 0:
            bad("sigma_init", self.sigma_init, "give a step size > 0")
        if self.train_trajectories < 1 or self.validation_trajectories < 1:
            bad("trajectories", (self.train_trajectories, self.validation_trajectories), "give at least 1")
        if self.integrator not in INTEGRATORS:
            bad("integrator", self.integrator, f"use one of {', '.join(INTEGRATORS)}")
        if self.dtype not in ("float32", "float64"):
            bad("dtype", self.dtype, "use float32 or float64")
        return self


def family_defaults(task: Task) -> dict[str, Any]:
    """The paper's latent size and step size for the task's plant family (5 and 0.5 by default)."""
    return dict(_FAMILIES.get(task.plant.name, {}))


def nde_config(task: Task, budget: str = "quick", **overrides: Any) -> NDEConfig:
    """The resolved settings for `task` with the `budget` preset ("quick" or "paper") and
    overrides (any field; None leaves the preset's value)."""
    if budget not in BUDGETS:
        raise NDEConfigError(f"NDE budget {budget!r} is not known; use one of {', '.join(BUDGETS)}")
    from plants import task_reference

    base: dict[str, Any] = {"task": task_reference(task), **family_defaults(task), **BUDGETS[budget]}
    base.update({k: v for k, v in overrides.items() if v is not None or k not in NDEConfig.field_names()})
    return NDEConfig.from_dict(base)


def resolve_config(
    task: Task,
    *,
    method: str,
    budget: str,
    seed: int,
    options: dict[str, Any],
    settings: dict[str, Any] | None = None,
    **overrides: Any,
) -> NDEConfig:
    """The settings an NDE run uses: the `budget` preset for `task`, then the user's `settings`
    (`--set`, the run config's `[nde]` table), then `overrides` (normalised, robust), then the CLI's
    `options` (population, generations, latent, time_budget; others are refused)."""
    from synth._options import check_options

    overrides = {**(settings or {}), **overrides}
    base = nde_config(task, budget, method=method, seed=seed, **overrides)
    defaults = {
        "population": base.population,
        "generations": base.generations,
        "latent": base.latent,
        "time_budget": base.time_budget,
    }
    opts = check_options(method, options, defaults)
    return nde_config(task, budget, method=method, seed=seed, **{**overrides, **opts})
