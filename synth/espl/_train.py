"""ESPL training by gradient through the closed-loop simulator.

`Trainer(task, config, seed)` builds the networks, the one `Controller` they run as, and the
compiled training step. The run itself is the pure pair `state = trainer.init()` /
`state = trainer.step(state)`; all randomness of iteration i (its scenarios and its path masks)
comes from `fold_in(stream key, i)`, so a resumed run repeats an uninterrupted one exactly.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax

from plants import EXPRESSION_NAMESPACE, ExpressionLimit, Task, UserInputError, lower, parse_expression, symbol

from .._controller import Controller
from .._cost import finite_mean
from .._runfolder import stream_key
from .._simulate import Simulator
from ._config import ESPLConfig
from ._network import Network, deterministic_masks, forward, init_params, sample_masks


def _zero_controller(nu: int, nz: int) -> Controller:
    return Controller(
        nz=nz,
        init=lambda p: jnp.zeros((nz,)),
        act=lambda p, z, y, r: jnp.zeros((nu,), y.dtype),
        advance=lambda p, z, y, u, r: z,
        name="zero",
    )


def _normalisation(sim: Simulator, key, n: int = 64) -> tuple[np.ndarray, np.ndarray, float]:
    """Observation mean and std under zero input, and the mean |cost| (the loss scale)."""
    task = sim.task
    res = sim.run(_zero_controller(task.plant.nu, 0), None, sim.scenarios(key, n, jnp.float64), save=True)
    y = np.asarray(res.y, float).reshape(-1, task.ny)
    mean, std = y.mean(0), y.std(0)
    std = np.where(std > 1e-8, std, 1.0)
    cost = np.asarray(res.cost, float)
    scale = float(np.mean(np.abs(cost[np.isfinite(cost)]))) if np.isfinite(cost).any() else 1.0
    return mean, std, scale


def _rounded(v: np.ndarray) -> tuple[float, ...]:
    return tuple(float(f"{x:.3g}") for x in v)


MAX_CANDIDATES = 200
"""Most candidate terms `augment_degree` may add to one readout (each is a tuned constant)."""


def candidate_count(n_inputs: int, degree: int, n_odd: int = 0) -> int:
    """How many monomials of degree 1 to `degree` there are in `n_inputs` inputs; with `n_odd`,
    only those of odd total degree in `n_odd` of the inputs (k of them times any monomial of degree
    at most `degree` - k in the others, k odd)."""
    if not n_odd:
        return math.comb(n_inputs + degree, degree) - 1
    rest = n_inputs - n_odd
    return sum(math.comb(n_odd + k - 1, k) * math.comb(rest + degree - k, degree - k) for k in range(1, degree + 1, 2))


def candidate_monomials(n_inputs: int, degree: int, odd: frozenset[int] = frozenset()):
    """The candidate terms, as input indices repeated by power, by degree: every monomial of degree 1
    to `degree` of `n_inputs` inputs, or with `odd` only those of odd total degree in those inputs
    (`candidate_count` of them)."""
    for d in range(1, degree + 1):
        for combo in itertools.combinations_with_replacement(range(n_inputs), d):
            if not odd or sum(i in odd for i in combo) % 2 == 1:
                yield combo


class Trainer:
    """Networks, controller and compiled training step of one ESPL run."""

    def __init__(self, task: Task, config: ESPLConfig, seed: int, restart: int = 0, share: Trainer | None = None):
        """`share`: an earlier restart of the same run (same task, config and seed), whose zero-input
        pilot (observation mean, std, mean |cost|: `Trainer.pilot`) and compiled training step this
        one uses, so the pilot is run and counted once (`pilot_env_steps` is then 0)."""
        if share is not None and (share.task is not task or share.config != config or share.seed != seed):
            raise ValueError("Trainer(share=...) takes a restart of the same task, config and seed")
        self.task, self.config, self.seed, self.restart = task, config, seed, restart
        self.sim = sim = Simulator(task)
        self.dtype = jnp.float32 if config.dtype == "float32" else jnp.float64
        pl = task.plant
        ny, nr, nu, nz = task.ny, task.nr, pl.nu, (config.latent if config.dynamic else 0)
        self.nz = nz
        for name in ("train_ticks", "finetune_ticks"):
            if getattr(config, name) > sim.n_ticks:
                raise UserInputError(
                    f"ESPL option {name} = {getattr(config, name)} exceeds the horizon of task {task.name!r} "
                    f"({sim.n_ticks} ticks); use 1 to {sim.n_ticks}, or 0 for the whole horizon"
                )
        if config.finetune_critic > 0 and (task.cost.aggregate != "sum" or sim.every != 1):
            raise UserInputError(
                f"ESPL option finetune_critic = {config.finetune_critic} needs a cost summed over every tick; "
                f"task {task.name!r} has aggregate {task.cost.aggregate!r} every {sim.every} tick(s); "
                "set finetune_critic = 0"
            )
        # Training roll-outs simulate the first `train_ticks` ticks (0: all), constant-tuning ones
        # the first `finetune_ticks` (0: as training); validation, the checkpoint choice and every
        # reported cost use the whole horizon.
        self.train_ticks = config.train_ticks or sim.n_ticks
        self.finetune_ticks = config.finetune_ticks or self.train_ticks
        self.pilot = share.pilot if share is not None else _normalisation(sim, stream_key(seed, "pilot"))
        self.pilot_env_steps = 0 if share is not None else 64 * sim.n_ticks
        y_mean, y_std, auto_scale = self.pilot
        self.cost_scale = config.cost_scale or max(auto_scale, 1e-6)
        r_mean = np.array([d.mean for d in task.target_distribution])
        r_std = np.array([math.sqrt(d.variance) if d.variance > 0 else 1.0 for d in task.target_distribution])
        lo = tuple(lo for lo, _ in task.input_limits)
        hi = tuple(hi for _, hi in task.input_limits)
        y_shift, y_scale = _rounded(y_mean), _rounded(1.0 / y_std)
        r_shift, r_scale = _rounded(r_mean), _rounded(1.0 / r_std)
        if config.dynamic:
            u_shift = tuple((a + b) / 2 if math.isfinite(a + b) else 0.0 for a, b in zip(lo, hi))
            u_scale = tuple(2 / (b - a) if math.isfinite(b - a) and b > a else 1.0 for a, b in zip(lo, hi))
            self.nets = {
                "g": Network(nz + nr, nu, config.layout, (0.0,) * nz + r_shift, (1.0,) * nz + r_scale, lo, hi),
                "f": Network(
                    ny + nz + nu + nr,
                    nz,
                    config.layout,
                    y_shift + (0.0,) * nz + u_shift + r_shift,
                    y_scale + (1.0,) * nz + u_scale + r_scale,
                ),
            }
        else:
            self.nets = {"g": Network(ny + nr, nu, config.layout, y_shift + r_shift, y_scale + r_scale, lo, hi)}
        if config.augment_odd:
            names = self.readout_names()
            unknown = [n for n in config.augment_odd if n not in names]
            if unknown:
                raise UserInputError(
                    f"ESPL option augment_odd names {', '.join(map(repr, unknown))}, not a readout input of "
                    f"{config.method} on task {task.name!r}; the readout inputs are {', '.join(names)}"
                )
        if config.augment_degree:
            # Checked before training: the candidate terms are added after it (`_extract.augment`).
            n_in, degree = (nz if nz else ny) + nr, config.augment_degree
            count = candidate_count(n_in, degree, len(set(config.augment_odd)))
            if count > MAX_CANDIDATES:
                raise UserInputError(
                    f"ESPL option augment_degree = {degree} gives {count} candidate terms for the {n_in} "
                    f"readout inputs of task {task.name!r}; at most {MAX_CANDIDATES} are allowed: use a "
                    f"smaller degree, or 0 to turn the candidates off"
                )
        self.controller = self._controller()
        self._train_controller = self._controller(violation=config.regu > 0)
        self.n_paths = sum(n.n_paths * n.n_out for n in self.nets.values())
        self.shaping = self._shaping()
        self.schedule = optax.cosine_decay_schedule(config.lr, config.iterations, alpha=config.lr_final)
        if config.retrain_lr > 0 and config.hard_iteration < config.iterations:
            # Prune, then retrain: once the selection is fixed the weights of the kept paths get a
            # fresh cosine schedule from `retrain_lr` (the single schedule is near its floor by then).
            h = config.hard_iteration
            self.schedule = optax.join_schedules(
                [self.schedule, optax.cosine_decay_schedule(config.retrain_lr, config.iterations - h, alpha=config.lr_final)], [h]
            )
        # The keep-probabilities are frozen during the warm-up (the network first learns to control
        # with every path on), then learn at `lr_p`, decaying like the weights' rate.
        warm = config.warmup_iteration
        p_decay = optax.cosine_decay_schedule(config.lr_p, max(1, config.iterations - warm), alpha=config.lr_final)

        hard = config.hard_iteration

        def p_schedule(count):
            return jnp.where((count < warm) | (count >= hard), 0.0, p_decay(jnp.maximum(count - warm, 0)))

        adam = optax.multi_transform({"w": optax.adam(self.schedule), "p": optax.adam(p_schedule)}, self._labels)
        self.optimiser = optax.apply_if_finite(
            optax.chain(optax.clip_by_global_norm(config.clip), adam), max_consecutive_errors=10**9
        )
        # The keys of the training batches and of the masks: what differs between restarts, and an
        # argument of the compiled step, so one program serves every restart of a run.
        self._keys = (jr.key_data(stream_key(seed, self.stream("train"))), jr.key_data(stream_key(seed, self.stream("masks"))))
        self.validation = sim.scenarios(stream_key(seed, "validation"), config.eval_batch)
        self._step = share._step if share is not None else jax.jit(self._step_impl)
        self.validation_runs = 0  # roll-outs of the validation batch (counted as environment steps)

    def latent_names(self) -> tuple[str, ...]:
        """Names of the exported policy's latent states: z0, z1, ... (prefixed with `espl_` as often
        as needed to differ from the task's observation, target and input names)."""
        task = self.task
        taken = {o.name for o in task.observations} | set(task.targets) | set(task.plant.inputs)
        prefix = "z"
        while any(f"{prefix}{i}" in taken for i in range(self.nz)):
            prefix = "espl_" + prefix
        return tuple(f"{prefix}{i}" for i in range(self.nz))

    def readout_names(self) -> tuple[str, ...]:
        """Names of the readout's inputs, in order: (latent, targets) for ESPL-D, (observations,
        targets) for ESPL-S (`SymbolicPolicy.readout_inputs` of the exported policy)."""
        first = self.latent_names() if self.nz else tuple(o.name for o in self.task.observations)
        return first + tuple(self.task.targets)

    def stream(self, name: str) -> str:
        """The name of this restart's own stream `name` (restart 0 uses the plain names; the pilot,
        validation and test streams are shared by all restarts, so they are compared on the same
        trajectories)."""
        return name if self.restart == 0 else f"{name}/restart{self.restart}"

    @staticmethod
    def _labels(params):
        return {
            name: {k: jax.tree_util.tree_map(lambda _, k=k: "p" if k == "p" else "w", v) for k, v in net.items()}
            for name, net in params.items()
        }

    # The controller -------------------------------------------------------------------------------
    def _controller(self, violation: bool = False) -> Controller:
        """The network as a simulator controller. With `violation`, one extra latent entry sums
        the hinge violation of every operator argument over the trajectory (for the regulariser)."""
        nets, nz, dt = self.nets, self.nz, self.task.dt

        def act(cp, z, y, r):
            v = jnp.concatenate([z[:nz], r]) if nz else jnp.concatenate([y, r])
            return forward(nets["g"], cp["params"]["g"], cp["masks"]["g"], v)[0]

        def advance(cp, z, y, u, r):
            zz = z[:nz]
            z_next = zz
            if nz:
                v = jnp.concatenate([y, zz, u, r])
                dz, viol_f = forward(nets["f"], cp["params"]["f"], cp["masks"]["f"], v, violation)
                z_next = zz + dt * dz
            if not violation:
                return z_next
            v = jnp.concatenate([zz, r]) if nz else jnp.concatenate([y, r])
            viol = forward(nets["g"], cp["params"]["g"], cp["masks"]["g"], v, True)[1] + (viol_f if nz else 0.0)
            return jnp.concatenate([z_next, (z[nz] + viol)[None]])

        n = nz + (1 if violation else 0)
        return Controller(nz=n, init=lambda cp: jnp.zeros((n,)), act=act, advance=advance, name=self.config.method)

    def _shaping(self):
        cfg = self.config
        if not cfg.shaping or cfg.shaping_weight == 0:
            return None
        pl = self.task.plant
        names = {n: symbol(n) for n in pl.states}
        try:
            expr = parse_expression(cfg.shaping, {**EXPRESSION_NAMESPACE, **names})
        except ExpressionLimit as err:
            raise UserInputError(f"ESPL option shaping = {cfg.shaping[:60]!r} is refused: {err}") from None
        except Exception as err:  # sympy's parser raises many kinds: report them all the same way
            raise UserInputError(f"ESPL option shaping = {cfg.shaping!r} cannot be read: {type(err).__name__}: {err}") from None
        extra = expr.free_symbols - set(pl.x)
        if extra:
            raise UserInputError(
                f"ESPL option shaping = {cfg.shaping!r} uses {sorted(map(str, extra))}; it may use the states {', '.join(pl.states)}"
            )
        return lower([expr], [pl.x], "jax")

    # Schedules ------------------------------------------------------------------------------------
    def tau(self, it):
        cfg = self.config
        frac = jnp.minimum(it, cfg.hard_iteration) / cfg.hard_iteration
        return (1.0 - cfg.tau_target) * (1.0 - frac) + cfg.tau_target

    def sparsification(self, it):
        """How far iteration `it` is through the sparsification phase: 0 until the end of the
        warm-up, 1 from the start of the fixed selection, linear in between."""
        w, h = self.config.warmup_iteration, self.config.hard_iteration
        return (jnp.clip(it, w, h) - w) / (h - w)

    def ratio(self, it):
        cfg = self.config
        return cfg.target_ratio + (1.0 - cfg.target_ratio) * (1.0 - self.sparsification(it)) ** 2

    # Losses ---------------------------------------------------------------------------------------
    def hook(self, x, z, lam=None):
        """Applied to the carried plant and latent states after every tick of a training roll-out:
        the per-tick gradient decay `lam` (values unchanged; default `decay`)."""
        lam = self.config.decay if lam is None else lam
        nz = self.nz
        if not (isinstance(lam, (int, float)) and lam >= 1.0):
            sg = jax.lax.stop_gradient
            x = lam * x + (1 - lam) * sg(x)
            z = jnp.concatenate([lam * z[:nz] + (1 - lam) * sg(z[:nz]), z[nz:]])
        return x, z

    def alive(self, x, scenario):
        """Per tick of the states `x`: whether the trajectory has not yet ended (no terminal event
        so far, that tick included)."""
        term = self.sim.fns.terminate
        if term is None:
            return jnp.ones(x.shape[0], bool)
        ended = jax.vmap(lambda xx: jnp.asarray(term(xx, scenario.r, scenario.p), bool))(x)
        return jnp.cumsum(ended.astype(jnp.int32)) == 0

    def tick_costs(self, roll, scenario):
        """(stage cost, alive) per tick of a saved roll-out: the stage costs of its states and inputs,
        and whether the trajectory has not yet ended at that tick."""
        x = roll.x[:-1]
        stage = jax.vmap(lambda xx, uu: self.sim.fns.stage_cost(xx, uu, scenario.r, scenario.p))(x, roll.u)
        return stage, self.alive(x, scenario)

    def trajectory_loss(self, controller, cparams, scenario, decay=None, ticks=None):
        """(task cost, training loss) of one scenario over its first `ticks` ticks (default
        `train_ticks`). A controller with one more latent entry than the policy's carries the
        summed hinge violation there (see `_controller`). `decay` overrides the configured per-tick
        gradient decay (constant tuning uses `finetune_decay`)."""
        roll, loss = self.rollout_loss(controller, cparams, scenario, decay, ticks)
        return roll.cost, loss

    def rollout_loss(self, controller, cparams, scenario, decay=None, ticks=None):
        """(saved roll-out, training loss) of one scenario: `trajectory_loss` with the trajectory."""
        ticks = self.train_ticks if ticks is None else ticks
        roll = self.sim.rollout(controller, cparams, scenario, save=True, hook=lambda x, z: self.hook(x, z, decay), ticks=ticks)
        loss = roll.cost / self.cost_scale
        if controller.nz > self.nz:
            loss = loss + self.config.regu * roll.z[-1, self.nz] / ticks
        if self.shaping is not None:
            x = roll.x[:-1]
            alive = self.alive(x, scenario)
            s = self.shaping(x)[0]
            loss = loss + self.config.shaping_weight * jnp.mean(jnp.where(alive, s, 0.0))
        return roll, loss

    def batch(self, it, train_key=None):
        """The training scenarios of iteration `it` (traceable): `batch` draws from `fold_in(train
        stream, it)`, a Latin hypercube of the initial states, targets and parameters when
        `stratified_batches` is on."""
        cfg = self.config
        key = jr.fold_in(jr.wrap_key_data(self._keys[0] if train_key is None else train_key), it)
        return self.sim.scenarios(key, cfg.batch, self.dtype, stratified=cfg.stratified_batches)

    def _loss(self, params, it, keys):
        cfg = self.config
        scen = self.batch(it, keys[0])
        mkeys = jr.split(jr.fold_in(jr.wrap_key_data(keys[1]), it), cfg.batch)
        tau = self.tau(it).astype(self.dtype)

        def one(scenario, mkey):
            ks = jr.split(mkey, len(params))
            masks = {name: sample_masks(params[name], k, tau) for name, k in zip(sorted(params), ks)}
            # After the sparsity schedule the selection is final: the kept paths (p > 0.5) are
            # trained as the deterministic network the extraction will export.
            fixed = {name: deterministic_masks(params[name]) for name in masks}
            masks = jax.tree_util.tree_map(lambda m, d: jnp.where(it >= cfg.hard_iteration, d, m), masks, fixed)
            return self.trajectory_loss(self._train_controller, {"params": params, "masks": masks}, scenario)

        costs, losses = jax.vmap(one)(scen, mkeys)
        expected = sum(jnp.sum(p) for net in params.values() for p in net["p"])
        n_out = sum(n.n_out for n in self.nets.values())
        sparse = jnp.maximum(0.0, expected - self.ratio(it) * self.n_paths) / n_out
        return jnp.mean(losses) + cfg.spls * sparse, (jnp.mean(costs), expected)

    def _step_impl(self, state, keys):
        it = state["iteration"]
        (loss, (cost, expected)), grads = jax.value_and_grad(self._loss, has_aux=True)(state["params"], it, keys)
        updates, opt_state = self.optimiser.update(grads, state["opt"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        params = {name: {**net, "p": [jnp.clip(p, 0.0, 1.0) for p in net["p"]]} for name, net in params.items()}
        gnorm = jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in jax.tree_util.tree_leaves(grads)))
        info = {"loss": loss, "train_cost": cost, "expected_paths": expected, "grad_norm": gnorm, "tau": self.tau(it)}
        return {"params": params, "opt": opt_state, "iteration": it + 1}, info

    # Public API -----------------------------------------------------------------------------------
    def init(self) -> dict[str, Any]:
        keys = jr.split(stream_key(self.seed, self.stream("init")), len(self.nets))
        params = {name: init_params(self.nets[name], k, self.dtype) for name, k in zip(sorted(self.nets), keys)}
        if self.nz and self.config.latent_rate > 0:
            # The latent ODE starts stable, dz_i/dt = -latent_rate * z_i + bias (the final map's
            # weight from z_i to dz_i; the others start at 0 as for every network): with all final
            # weights 0 the latent is a pure integrator of its bias and ramps for the whole horizon.
            ny = self.task.ny
            W = params["f"]["W"][-1]
            idx = jnp.arange(self.nz)
            params["f"]["W"][-1] = W.at[idx, 0, ny + idx].set(-self.config.latent_rate)
        return {"params": params, "opt": self.optimiser.init(params), "iteration": jnp.asarray(0, jnp.int32)}

    def step(self, state):
        """One optimiser iteration; returns the new state and a dict of scalars."""
        return self._step(state, self._keys)

    def deterministic(self, params) -> dict:
        """Controller parameters of the network the extraction keeps (p > 0.5)."""
        return {"params": params, "masks": {name: deterministic_masks(net) for name, net in params.items()}}

    def evaluate(self, params) -> float:
        """Mean task cost of the extraction network on the validation scenarios."""
        self.validation_runs += 1
        return finite_mean(np.asarray(self.sim.run(self.controller, self.deterministic(params), self.validation).cost, float))
