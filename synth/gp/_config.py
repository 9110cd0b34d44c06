"""Settings of a GP run, the budgets offered as presets, and the layout of an individual.

`GPConfig` is a frozen dataclass of plain values (so it is written to `config.toml` and hashed);
`gp_config(task, budget, **overrides)` resolves the presets. `Layout` says, for one task and
method, which trees an individual has and which inputs each tree may read.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from plants import OPERATORS, POLICY_FUNCTION_SET, Task, UserInputError, did_you_mean

from .._policy import latent_names, names_in_use
from .._settings import AbstractSettings

METHODS = ("gp-s", "gp-d", "gp-l")
# GP-L: observations a lagged static policy remembers (the paper's three most recent ones).
LAGS = 3

# Operator sampling weights of the paper's experiment code, per plant family.
_ARITHMETIC = {"add": 0.5, "sub": 0.5, "mul": 0.3, "div": 0.1}
_FUNCTION_SETS = {
    "acrobot": {**_ARITHMETIC, "sin": 0.1, "cos": 0.1},
    "cstr": {**_ARITHMETIC, "exp": 0.1, "log": 0.1},
}


class GPConfigError(UserInputError):
    """A GP setting is out of range; the message names the setting and what is valid."""


@dataclasses.dataclass(frozen=True)
class GPConfig(AbstractSettings):
    """Every setting of a GP run: docs/settings.md gives each one's meaning and the reason for its
    default (mostly the paper's experiment code's). Constructing one checks it (`check()`);
    `to_dict` / `from_dict` are its plain-value form (`synth._settings`)."""

    LABEL = "GP"
    RUN_FIELDS = ("task", "method", "seed", "normalised", "robust")
    RETIRED = {}
    Error = GPConfigError

    task: str
    method: str = "gp-d"
    seed: int = 0
    normalised: bool = False
    robust: bool = False
    population: int = 500
    islands: int = 5
    generations: int = 50
    time_budget: float | None = None
    latent: int = 2
    train_trajectories: int = 32
    validation_trajectories: int = 256
    max_nodes: int = 15
    max_depth: int = 7
    init_depth: int = 4
    operators: dict[str, float] = dataclasses.field(default_factory=lambda: dict(_ARITHMETIC))
    const_prob: float = 0.3
    const_sd: float = 1.0
    const_mutation_sd: float = 0.5
    tournament: int = 7
    elite: int = 5
    migration_every: int = 5
    migration_size: int = 10
    crossover_rate: tuple[float, float] = (0.9, 0.1)
    tree_change_prob: float = 0.75
    immigrant_rate: tuple[float, float] = (0.02, 0.1)
    simplify_rate: tuple[float, float] = (0.02, 0.0)
    crossover_kinds: tuple[float, float, float] = (0.5, 0.25, 0.25)
    mutation_kinds: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    selection: str = "nsga2"
    complexity_penalty: float = 0.0
    punish_duplicates: bool = True
    const_search: bool = True
    const_search_sd: float = 0.2
    const_every: int = 5
    const_top: int = 4
    polish_top: int = 3
    tune_every: int = 5
    tune_top: int = 2
    tune_steps: int = 60
    polish_steps: int = 150
    polish_lr: float = 0.02
    polish_trajectories: int = 0
    polish_batch: int = 0
    linear_seeds: int = 2
    seed_steps: int = 800
    seed_lr: float = 0.05
    seed_budget: float = 6.4e7
    seed_policy: str = ""
    seed_policy_steps: int = 0
    seed_policy_trajectories: int = 256
    scheduled_seeds: bool = True
    cost_every_tick: bool = True
    integrator: str = "euler"
    dtype: str = "float32"
    devices: int = 0

    # ------------------------------------------------------------------------------------------
    def check(self) -> GPConfig:
        def bad(name, value, valid):
            raise GPConfigError(f"GP setting {name} = {value!r} is not valid; {valid}")

        if self.method not in METHODS:
            bad("method", self.method, f"use one of {', '.join(METHODS)}")
        if self.islands < 1:
            bad("islands", self.islands, "give at least 1")
        if self.population < 2 * self.islands or self.population % self.islands:
            bad(
                "population", self.population, f"give a multiple of the number of islands ({self.islands}), at least 2 per island"
            )
        per = self.population // self.islands
        if per % 2:
            bad(
                "population",
                self.population,
                f"each island needs an even size (now {per}); choose a population divisible by {2 * self.islands}",
            )
        if per < 4:
            bad("population", self.population, f"give at least 4 individuals per island ({4 * self.islands} in all)")
        if self.elite < 0 or self.migration_size < 0:
            bad("elite/migration_size", (self.elite, self.migration_size), "give 0 or more (both are capped at half an island)")
        if self.generations < 0:
            bad("generations", self.generations, "give 0 or more")
        if self.latent < 1:
            bad("latent", self.latent, "give 1 or more")
        if not 3 <= self.max_nodes <= 63:
            bad("max_nodes", self.max_nodes, "use 3..63")
        if not 1 <= self.max_depth <= 12 or not 1 <= self.init_depth <= self.max_depth:
            bad("max_depth/init_depth", (self.max_depth, self.init_depth), "use 1 <= init_depth <= max_depth <= 12")
        for name in self.operators:
            if name not in POLICY_FUNCTION_SET:
                bad(
                    "operators",
                    name,
                    f"operators come from {', '.join(POLICY_FUNCTION_SET)}{did_you_mean(name, list(POLICY_FUNCTION_SET))}",
                )
        if not any(OPERATORS[n].arity == 2 for n in self.operators):
            bad("operators", list(self.operators), "include at least one binary operator")
        if self.selection not in ("nsga2", "penalty"):
            bad("selection", self.selection, "use nsga2 or penalty")
        if self.integrator not in ("euler", "rk4"):
            bad("integrator", self.integrator, "use euler or rk4")
        if self.dtype not in ("float32", "float64"):
            bad("dtype", self.dtype, "use float32 or float64")
        if self.tune_every < 0 or self.tune_top < 0 or self.tune_steps < 0:
            bad("tune_every/tune_top/tune_steps", (self.tune_every, self.tune_top, self.tune_steps), "give counts >= 0")
        if self.polish_batch < 0:
            bad("polish_batch", self.polish_batch, "give a count >= 0 (0: tune on a fixed set of trajectories)")
        if self.polish_trajectories < 0:
            bad("polish_trajectories", self.polish_trajectories, "give a count >= 0 (0: the run's training trajectories)")
        if self.polish_top < 0 or self.polish_steps < 0 or not self.polish_lr > 0:
            bad(
                "polish_top/polish_steps/polish_lr",
                (self.polish_top, self.polish_steps, self.polish_lr),
                "give counts >= 0 and a learning rate > 0",
            )
        if self.linear_seeds < 0 or self.seed_steps < 0 or not self.seed_lr > 0:
            bad(
                "linear_seeds/seed_steps/seed_lr",
                (self.linear_seeds, self.seed_steps, self.seed_lr),
                "give counts >= 0 and a learning rate > 0",
            )
        if self.seed_policy_steps < 0 or self.seed_policy_trajectories < 1:
            bad(
                "seed_policy_steps/seed_policy_trajectories",
                (self.seed_policy_steps, self.seed_policy_trajectories),
                "give steps >= 0 and at least 1 trajectory",
            )
        if self.seed_policy and self.method != "gp-d":
            bad("seed_policy", self.seed_policy, "a seed policy starts GP-D runs only; leave it empty for GP-S")
        if not self.seed_budget >= 0:
            bad("seed_budget", self.seed_budget, "give 0 (no cap) or a number of plant steps > 0")
        if self.linear_seeds > self.population:
            bad("linear_seeds", self.linear_seeds, f"give at most the population ({self.population})")
        if self.devices < 0:
            bad("devices", self.devices, "give 0 (every local device) or a count >= 1")
        if self.train_trajectories < 1 or self.validation_trajectories < 1:
            bad("trajectories", (self.train_trajectories, self.validation_trajectories), "give at least 1")
        return self

    @property
    def island_size(self) -> int:
        return self.population // self.islands

    def island_rates(self, pair: tuple[float, float]) -> np.ndarray:
        return np.linspace(pair[0], pair[1], self.islands)


def default_operators(task: Task) -> dict[str, float]:
    """The paper's function set for the task's plant family (arithmetic; + sin, cos; + exp, log)."""
    return dict(_FUNCTION_SETS.get(task.plant.name, _ARITHMETIC))


BUDGETS = {
    # The paper's setting: 5 islands x 100, 50 generations (30 for its SHO table), 32 trajectories.
    # Ours, not the paper's: trees of 17 nodes instead of 15 (room for a gain-scheduled estimate in
    # every latent tree, see `_schedule`), and the final polish on fresh trajectories (1,000 steps of
    # 32 new ones).
    "paper": {
        "population": 500,
        "islands": 5,
        "generations": 50,
        "train_trajectories": 32,
        "max_nodes": 17,
        "polish_batch": 32,
        "polish_steps": 1000,
    },
    # A few minutes on two cores.
    "quick": {
        "population": 200,
        "islands": 2,
        "generations": 20,
        "train_trajectories": 24,
        "seed_steps": 400,
        "seed_budget": 2.5e7,
        "tune_every": 10,
    },
}


# GP-L runs without the linear seeds and the in-run constant tuning (`tune_every`) for now: both
# write tuned expressions back into the trees through `_context.Context.encode`, which takes one
# expression per tree, and a GP-L policy's shift-register maps are not trees. The final polish of
# the candidates (`polish_top`) does not write back and runs as for GP-S.
GPL_DEFAULTS = {"linear_seeds": 0, "tune_every": 0}


def gp_config(task: Task, budget: str = "quick", **overrides: Any) -> GPConfig:
    """The resolved settings for `task` with the `budget` preset ("quick" or "paper") and overrides
    (any field; None leaves the preset's value)."""
    if budget not in BUDGETS:
        raise GPConfigError(f"GP budget {budget!r} is not known; use one of {', '.join(BUDGETS)}")
    from plants import task_reference

    base: dict[str, Any] = {"task": task_reference(task), "operators": default_operators(task), **BUDGETS[budget]}
    if overrides.get("method") == "gp-l":
        base.update(GPL_DEFAULTS)
    if task.plant.nu > 1:
        base["latent"] = 3
    base.update({k: v for k, v in overrides.items() if v is not None or k not in GPConfig.field_names()})
    return GPConfig.from_dict(base)


def resolve_config(
    task: Task,
    *,
    method: str,
    budget: str,
    seed: int,
    options: dict[str, Any],
    settings: dict[str, Any] | None = None,
    **overrides: Any,
) -> GPConfig:
    """The settings a GP run uses (`run` builds its config here): the `budget` preset for `task`,
    then the user's `settings` (`--set`, the run config's `[gp]` table), then `overrides` (what
    the caller fixes: normalised, robust, a fitted seed policy), then the CLI's `options`
    (population, generations, islands, time_budget, and latent for GP-D; others are refused)."""
    from synth._options import check_options

    overrides = {**(settings or {}), **overrides}
    base = gp_config(task, budget, method=method, seed=seed, **overrides)
    defaults = {"population": base.population, "generations": base.generations, "islands": base.islands, "time_budget": None}
    if method == "gp-d":
        defaults["latent"] = base.latent
    opts = check_options(method, options, defaults)
    return gp_config(task, budget, method=method, seed=seed, **{**overrides, **opts})


@dataclasses.dataclass(frozen=True)
class Layout:
    """Trees of an individual and the inputs each may read.

    Every tree reads from one input vector `[y, z, u, r]` (sizes ny, nz, nu, nr); `allowed[t, v]`
    says whether tree `t` may use input `v`. Trees `0..nz-1` are the latent dynamics `f` (inputs
    y, z, u, r), trees `nz..nz+nu-1` the readouts `g` (inputs z, r for GP-D; y, r for GP-S).

    GP-L (`lags` > 0) has readout trees only, like GP-S, but their observation inputs (`ny` of
    them) are registers that hold the task's last `lags` observations, newest first: the register
    `<y>_1` holds `y` one tick ago, `<y>_2` two ticks ago, ... The policy keeps them in a latent
    state advanced by the discrete shift `<y>_1[k+1] = y_k`, `<y>_j[k+1] = <y>_{j-1}[k]`
    (`_interpret.make_controller`, `_trees.policy_of`): under the sampled-data contract a readout
    sees the latent state, not `y_k` itself, so the newest observation it reads is `y_{k-1}`.
    """

    ny: int
    nz: int
    nu: int
    nr: int
    names: tuple[str, ...]  # input names in the order of the input vector
    allowed: np.ndarray  # (T, n_in) bool
    lags: int = 0  # GP-L: the observation inputs are `lags` registers of the task's observations

    @property
    def n_in(self) -> int:
        return self.ny + self.nz + self.nu + self.nr

    @property
    def n_trees(self) -> int:
        return self.nz + self.nu


def lag_names(task: Task, lags: int) -> tuple[str, ...]:
    """The GP-L registers, newest first: `<y>_1, ...` for every observation `y` (`<y>_j` is `y` j
    ticks ago), or `a1, a2, ...` when such a name is taken by the task."""
    names = tuple(f"{o.name}_{j}" for j in range(1, lags + 1) for o in task.observations)
    if names_in_use(task) & set(names) or len(set(names)) < len(names):
        return latent_names(task, len(names))
    return names


def make_layout(task: Task, method: str, latent: int) -> Layout:
    if method == "gp-l":
        regs, nu, nr = lag_names(task, LAGS), task.plant.nu, task.nr
        names = regs + tuple(task.plant.inputs) + tuple(task.targets)
        allowed = np.zeros((nu, len(names)), bool)
        allowed[:, : len(regs)] = True
        allowed[:, len(regs) + nu :] = True
        return Layout(len(regs), 0, nu, nr, names, allowed, LAGS)
    ny, nu, nr = task.ny, task.plant.nu, task.nr
    nz = latent if method == "gp-d" else 0
    names = tuple(o.name for o in task.observations) + latent_names(task, nz) + tuple(task.plant.inputs) + tuple(task.targets)
    n_in = ny + nz + nu + nr
    allowed = np.zeros((nz + nu, n_in), bool)
    ys, zs, us, rs = (slice(0, ny), slice(ny, ny + nz), slice(ny + nz, ny + nz + nu), slice(ny + nz + nu, n_in))
    for t in range(nz):
        allowed[t, :] = True
    for t in range(nz, nz + nu):
        allowed[t, zs if nz else ys] = True
        allowed[t, rs] = True
    del us
    return Layout(ny, nz, nu, nr, names, allowed)
