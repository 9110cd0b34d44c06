"""ESPL settings: one dataclass, the defaults that work, and budget presets per task."""

from __future__ import annotations

import dataclasses
from typing import Any

from plants import Task, UserInputError, did_you_mean

from ._network import DEFAULT_LAYOUT, check_layout


@dataclasses.dataclass(frozen=True)
class ESPLConfig:
    """Everything an ESPL run depends on (written to `config.toml`).

    Training is by gradient through the closed-loop simulator. Gradients of chaotic swing-up
    rollouts explode at full horizon, so by default the carried state's gradient is decayed per
    tick (`decay`: s <- decay*s + (1-decay)*stop_gradient(s), values unchanged), the global gradient
    norm is clipped to `clip`, the learning rate decays (cosine) to `lr_final` x `lr`, and the best
    validated checkpoint is kept.

    Path selector (ESPL): temperature falls linearly from 1 to `tau_target` over the first
    `hard_fraction` of the iterations; the expected-L0 term `spls * max(0, sum p - ratio * paths)`
    has a target ratio falling quadratically from 1 to `target_ratio` between `warmup_fraction` and
    `hard_fraction`. During the warm-up the keep-probabilities are frozen (all paths on); after
    `hard_fraction` (with `freeze_after_hard`) the selection is final: p is frozen and the weights
    train on the deterministic p > 0.5 network, with a fresh cosine schedule from `retrain_lr` when
    it is positive (prune, then retrain). ESPL-D's latent ODE starts stable,
    `dz_i/dt = -latent_rate * z_i + bias`. Before the constants are tuned, `augment_degree` adds
    candidate monomial terms to the readout; `finetune_*` shape the tuning, and with `restarts`,
    `tune_chosen` tunes only the best extracted candidate. With `augment_odd` (readout input
    names; for a plant symmetric under a sign change), only candidates of odd total degree in those
    inputs are added. With `finetune_critic`, tuning adds a learnt value of the rest of each roll-out
    to what the decayed gradient sees. The settings and the measurements
    behind them are in `synth/espl/README.md`.
    """

    method: str = "espl-s"
    iterations: int = 200
    batch: int = 8
    lr: float = 3e-2
    lr_p: float = 3e-2
    lr_final: float = 0.1
    clip: float = 1.0
    decay: float = 0.95
    decay_final: float = 0.0
    state_bound: float = 0.0
    discount: float = 1.0
    layout: tuple[tuple[str, ...], ...] = DEFAULT_LAYOUT
    tau_target: float = 0.2
    hard_fraction: float = 0.85
    warmup_fraction: float = 0.4
    freeze_after_hard: bool = True
    retrain_lr: float = 0.0
    target_ratio: float = 0.15
    spls: float = 0.03
    regu: float = 1.0
    latent: int = 2
    latent_rate: float = 1.0
    eval_every: int = 25
    eval_batch: int = 64
    drop: float = 1e-3
    max_paths: int = 60
    finetune_iterations: int = 170
    finetune_lr: float = 2e-2
    finetune_batch: int = 14
    finetune_decay: float = 0.98
    finetune_fixed: bool = False
    stratified_batches: bool = False
    stratified_validation: bool = False
    stratified_finetune: bool = False
    shaping: str = ""
    shaping_weight: float = 0.0
    cost_scale: float = 0.0
    dtype: str = "float32"
    time_budget: float = 0.0
    restarts: int = 1
    train_ticks: int = 0
    augment_degree: int = 0
    augment_prune: float = 0.05
    augment_odd: tuple[str, ...] = ()
    finetune_average: float = 0.0
    finetune_ticks: int = 0
    finetune_eval_every: int = 0
    finetune_restore: float = 0.0
    finetune_critic: float = 0.0
    critic_width: int = 64
    critic_lr: float = 1e-3
    critic_steps: int = 30
    critic_warmup: int = 50
    tune_chosen: bool = False

    def __post_init__(self):
        object.__setattr__(self, "layout", check_layout(self.layout))
        odd = (self.augment_odd,) if isinstance(self.augment_odd, str) else tuple(self.augment_odd)
        if not all(isinstance(n, str) and n for n in odd):
            raise UserInputError(f"ESPL option augment_odd = {self.augment_odd!r} must be a list of readout input names")
        object.__setattr__(self, "augment_odd", odd)
        if self.method not in ("espl-s", "espl-d"):
            raise UserInputError(f"ESPL method {self.method!r} is not valid; use espl-s or espl-d")
        for name in ("iterations", "batch", "eval_every", "eval_batch", "latent", "finetune_batch", "restarts"):
            if getattr(self, name) < 1:
                raise UserInputError(f"ESPL option {name} = {getattr(self, name)} must be at least 1")
        if not 0.0 <= self.warmup_fraction < self.hard_fraction <= 1.0:
            raise UserInputError(f"ESPL options warmup_fraction = {self.warmup_fraction}, hard_fraction = {self.hard_fraction}: "
                                 "need 0 <= warmup_fraction < hard_fraction <= 1")
        if not 0.0 < self.discount <= 1.0:
            raise UserInputError(f"ESPL option discount = {self.discount} must lie in (0, 1]")
        if not 0.0 <= self.decay <= 1.0:
            raise UserInputError(f"ESPL option decay = {self.decay} must lie in [0, 1]")
        if not 0.0 <= self.decay_final <= 1.0:
            raise UserInputError(f"ESPL option decay_final = {self.decay_final} must lie in [0, 1] (0: the same as decay)")
        for name in ("retrain_lr", "latent_rate", "state_bound", "train_ticks", "augment_degree", "augment_prune",
                     "finetune_ticks", "finetune_eval_every", "finetune_restore", "finetune_critic", "critic_steps",
                     "critic_warmup"):
            if getattr(self, name) < 0:
                raise UserInputError(f"ESPL option {name} = {getattr(self, name)} must be at least 0 (0 turns it off)")
        if self.critic_width < 1:
            raise UserInputError(f"ESPL option critic_width = {self.critic_width} must be at least 1")
        if not self.critic_lr > 0:
            raise UserInputError(f"ESPL option critic_lr = {self.critic_lr} must be positive")
        if self.finetune_critic > 0 and self.tuning_decay >= 1.0:
            raise UserInputError(f"ESPL option finetune_critic = {self.finetune_critic} needs a tuning gradient decay below 1 "
                                 f"(finetune_decay = {self.finetune_decay}, decay = {self.decay}): the critic supplies what "
                                 "the decayed gradient does not see; set finetune_decay in (0, 1) or finetune_critic = 0")
        if not 0.0 <= self.finetune_average < 1.0:
            raise UserInputError(f"ESPL option finetune_average = {self.finetune_average} must lie in [0, 1) (0: off)")
        if self.dtype not in ("float32", "float64"):
            raise UserInputError(f"ESPL option dtype = {self.dtype!r}; use float32 or float64")

    @property
    def dynamic(self) -> bool:
        return self.method == "espl-d"

    @property
    def tuning_decay(self) -> float:
        """The per-tick gradient decay of constant tuning: `finetune_decay`, or training's `decay`
        when that is 0."""
        return self.finetune_decay or self.decay

    @property
    def hard_iteration(self) -> int:
        return max(1, int(round(self.hard_fraction * self.iterations)))

    @property
    def warmup_iteration(self) -> int:
        return min(int(round(self.warmup_fraction * self.iterations)), self.hard_iteration - 1)

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["layout"] = [list(layer) for layer in self.layout]
        d["augment_odd"] = list(self.augment_odd)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ESPLConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        for k in d:
            if k not in names:
                raise UserInputError(f"unknown ESPL option {k!r}{did_you_mean(k, sorted(names))}")
        d = dict(d)
        if "layout" in d:
            d["layout"] = tuple(tuple(layer) for layer in d["layout"])
        return cls(**d)


# Task-specific training settings (training only: the reported cost is always the task's own).
_TASK_SETTINGS: dict[str, dict[str, Any]] = {
    # Sparse reward (+100 at the goal, invisible to the gradient). Training-only shaping: minus the
    # car's mechanical energy per unit mass (v^2/2 + 0.0025/3 sin 3x, scaled to about 1) while it
    # has not arrived, so the gradient pumps energy in; a distance-to-goal term made it push right and
    # never arrive. The loss scale is the goal bonus (the zero-input pilot costs 0 here, and the
    # automatic scale, 1e-6, blew the task gradient up to norms of 1e6). The checkpoint and the
    # reported figure use the true return.
    "mountaincar/continuous": {"shaping": "-(vel**2/2 + 0.0025/3*sin(3*pos))/0.0017", "shaping_weight": 1.0,
                               "decay": 0.98, "cost_scale": 100.0},
    # Latin hypercube training and tuning batches: over seeds 0-4 the expected cost of the exported
    # policy (8 x 1,024 stratified episodes of a probe stream) went from 150.2-153.2 (mean 151.5) to
    # 149.9-152.3 (mean 151.0), the same budget (bench/espl_RESULTS.md, session 7).
    # Candidate monomials up to degree 3 added before tuning (the extracted structure is always a
    # cos-switched PD law, capped at 149.6 in expectation; an energy-type dth^3 term takes it to
    # 145.2 and the tuner uses one when it is there), tuned on the first 150 ticks (swing-up is over
    # by tick 91 in every probe episode), with a return to the best validated constants if tuning
    # diverges; two networks trained on 100-tick roll-outs, of which the better extracted one is
    # tuned. Expected cost of the exported policy over seeds 0-7 (8 x 1,024 stratified episodes of
    # a probe stream): 149.58 against 151.15 with the session-7 settings, lower for 6 of the 8
    # seeds, 982,600-995,400 steps (bench/espl_RESULTS.md, session 10). Tuning gradient decay 0.97
    # (session 11): on seeds 8-15, not used for any earlier choice, the exported policies' expected
    # costs spread over 149.51-151.02 (mean 150.15) against 149.84-151.70 (mean 150.57) with 0.98;
    # the target holds for every seed, so the worst seed counts. The plant is symmetric under
    # (th, dth, torque) -> -(th, dth, torque), so candidates odd in (sin_th, dth_obs) only: seeds
    # 0-15 gave 149.72 on average against 150.00, 33-47 operations against 40-75. A value critic in
    # tuning (session 12; the decayed gradient cannot see what pumping harder early is worth),
    # weight 1: on seeds 32-47, used for no choice, 149.24 against 149.78, worst seed 151.84 against
    # 152.87, lower for 12 of the 16 seeds (weight 3 was better on seeds 0-7 but gave an outlier of
    # 156.5 on seed 26).
    "pendulum/swingup": {"stratified_batches": True, "stratified_finetune": True, "augment_degree": 3, "iterations": 150,
                         "train_ticks": 100, "finetune_ticks": 150, "finetune_iterations": 250, "finetune_restore": 0.1,
                         "finetune_decay": 0.97, "restarts": 2, "tune_chosen": True, "augment_odd": ("sin_th", "dth_obs"),
                         "finetune_critic": 1.0},
    # Stable linear plants: gradients stay well behaved over long horizons.
    "sho/noisy": {"decay": 0.995, "finetune_decay": 0.995},
    # Only the position is measured: the controller must learn an observer (a two-state latent
    # ODE), which is slower to train than a static law. Full-horizon gradients (no decay) train it
    # faster on this stable plant; 1,000 iterations (the warm-up network needs about 400 to come
    # near LQG), a fresh learning-rate schedule once the selection is fixed, and 400 constant-tuning
    # steps (measurements: bench/espl_RESULTS.md). The structure the sparsification keeps decides
    # most of the result and varies from run to run (probe streams of seeds 0-2: 1.07 to 1.40 x LQG
    # for independent runs of one seed), so three independent candidates are trained and the one
    # with the lowest validation cost is exported (it was the best of the three on the probe stream
    # for each of seeds 0-2; bench/espl_RESULTS.md, session 8).
    "sho/partial": {"decay": 1.0, "finetune_decay": 1.0, "iterations": 1000, "retrain_lr": 3e-2,
                    "finetune_iterations": 400, "restarts": 3},
    "sho/varying": {"decay": 0.995, "finetune_decay": 0.995},
}

_BUDGETS: dict[str, dict[str, Any]] = {
    "quick": {"iterations": 200, "batch": 8, "finetune_iterations": 30, "eval_batch": 32},
    "default": {},
    "paper": {"iterations": 2000, "batch": 16, "finetune_iterations": 300, "eval_batch": 128},
}


# The run budgets (`symctl run|synth --budget quick|paper`, `budget` in the run config) and the ESPL
# preset each one runs. The run budget "quick" (minutes on a laptop) is ESPL's "default" preset: the
# settings measured and tuned per task in synth/espl/README.md (about 1 M environment steps, half a
# minute for pendulum/swingup); ESPL's own "quick" preset (200 iterations, 30 tuning steps: a few
# seconds, results far from the measured ones) is a smoke-test size, for Python use. "paper" is the
# paper-sized preset of the same name.
RUN_BUDGETS: dict[str, str] = {"quick": "default", "paper": "paper"}


def run_budget_preset(budget: str) -> str:
    """The ESPL preset that the run budget `budget` ("quick" or "paper") runs."""
    if budget not in RUN_BUDGETS:
        raise UserInputError(f"budget {budget!r} is not known{did_you_mean(budget, list(RUN_BUDGETS))}; "
                             f"use {' or '.join(RUN_BUDGETS)}")
    return RUN_BUDGETS[budget]


def espl_config(task: Task | str, budget: str = "default", **overrides: Any) -> ESPLConfig:
    """The settings for `task` at a budget ("quick", "default", "paper"), with `overrides` applied."""
    name = task if isinstance(task, str) else task.name
    if budget not in _BUDGETS:
        raise UserInputError(f"ESPL budget {budget!r} is not known{did_you_mean(budget, list(_BUDGETS))}; use {', '.join(_BUDGETS)}")
    d: dict[str, Any] = {**_TASK_SETTINGS.get(name, {}), **_BUDGETS[budget], **overrides}
    return ESPLConfig.from_dict(d)
