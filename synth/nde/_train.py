"""CMA-ES on the NDE's parameter vector, every generation's population simulated in one call.

The optimiser is `cma` (pycma, the reference implementation of CMA-ES by its author; numpy only).
Its random draws come from a generator seeded by (run seed, generation), so the samples of a
generation depend on nothing but the state it starts from; `Evolution` keeps every fitness vector
it has told, and a resumed run rebuilds the optimiser by replaying those ask/tell pairs (a few
milliseconds each). The checkpoint is therefore arrays plus a JSON header (`synth._checkpoint`),
no pickle, and a resumed run continues exactly as the uninterrupted one would have.

A population is scored by `Trainer.costs`: every parameter vector on every training trajectory
(stream "train", the same for the whole run, drawn once with their noise), one jitted and vmapped
simulation through `synth.Simulator.rollout` with the network's `Controller`: the simulator, the
sampled-data contract and the cost of every other method.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from plants import Task

from .._cost import finite_mean
from .._policy import latent_names
from ._config import NDEConfig
from ._network import Architecture
from ._policy import NetworkPolicy, controller_for

# A parameter vector that loses a training trajectory gets this fitness (CMA-ES ranks, so any value
# above every finite cost would do; pycma wants finite numbers).
LOST = 1e30


class Trainer:
    """The training task's simulator, the network's architecture and controller, the training
    trajectories and the compiled evaluation of a population, for one configuration.

    `task` is the task the network learns on (`plants.training_task` of the run's task)."""

    def __init__(self, task: Task, config: NDEConfig):
        from synth import Simulator
        from synth._runfolder import stream_key

        self.config = cfg = config
        self.task = task
        self.sim = Simulator(task.on_every_tick() if cfg.cost_every_tick else task)
        self.arch = Architecture(task.ny, task.nr, task.plant.nu, cfg.latent, cfg.hidden_f, cfg.hidden_g)
        self.controller = controller_for(self.arch, cfg.integrator, task.dt)
        self.dtype = np.dtype(cfg.dtype)
        self.train = self.sim.scenarios(stream_key(cfg.seed, "train"), cfg.train_trajectories, dtype=self.dtype)
        self._costs = jax.jit(self._costs_impl)
        self.evaluations = 0

    @property
    def n_params(self) -> int:
        return self.arch.n_params

    def policy(self, theta: np.ndarray, **provenance: Any) -> NetworkPolicy:
        """The network `theta` as a policy for the training task (its units: identity maps)."""
        t = self.task
        return NetworkPolicy(
            self.arch,
            np.asarray(theta, float),
            tuple(o.name for o in t.observations),
            tuple(t.targets),
            latent_names(t, self.arch.nz),
            tuple(t.plant.inputs),
            t.dt,
            self.config.integrator,
            tuple(t.input_limits),
            provenance=provenance,
        )

    def _fixed(self) -> dict[str, Any]:
        a, d = self.arch, self.dtype
        return {
            "y0": jnp.zeros(a.ny, d),
            "sy": jnp.ones(a.ny, d),
            "r0": jnp.zeros(a.nr, d),
            "sr": jnp.ones(a.nr, d),
            "u0": jnp.zeros(a.nu, d),
            "su": jnp.ones(a.nu, d),
        }

    def _costs_impl(self, thetas, scen):
        fixed = self._fixed()
        noise = jax.vmap(self.sim.noise_draws)(scen)  # drawn once per scenario, shared by every row

        def one(theta, s, n):
            return self.sim.rollout(self.controller, {"theta": theta, **fixed}, s, noise=n).cost

        return jax.vmap(lambda th: jax.vmap(lambda s, n: one(th, s, n))(scen, noise))(thetas)

    def costs(self, thetas: np.ndarray, scenarios=None) -> np.ndarray:
        """Costs (P, N) of P parameter vectors (the population size) on the N training trajectories,
        or on `scenarios` of the same count: one compiled program for the run."""
        thetas = np.asarray(thetas, self.dtype)
        self.evaluations += thetas.shape[0]
        scen = self.train if scenarios is None else scenarios
        return np.asarray(self._costs(jnp.asarray(thetas), scen), float)

    def held_out_costs(self, thetas: np.ndarray, stream: str = "validation", n: int | None = None) -> np.ndarray:
        """Mean cost of each of K <= population parameter vectors on `n` trajectories of `stream`
        (inf where one is lost), in the training precision, by the population's program (the
        trajectories in batches of the training set's size, the rows padded to the population)."""
        from synth._runfolder import stream_key

        cfg = self.config
        n = n or cfg.validation_trajectories
        N, P = cfg.train_trajectories, cfg.population
        thetas = np.asarray(thetas, float).reshape(-1, self.n_params)
        K = thetas.shape[0]
        rows = np.concatenate([thetas, np.repeat(thetas[:1], P - K, axis=0)]) if K < P else thetas
        chunks = -(-n // N)
        scen = self.sim.scenarios(stream_key(cfg.seed, stream), chunks * N, dtype=self.dtype)
        costs = np.concatenate(
            [
                self._costs(jnp.asarray(rows, self.dtype), jax.tree_util.tree_map(lambda a, c=c: a[c * N : (c + 1) * N], scen))[
                    :K
                ]
                for c in range(chunks)
            ],
            axis=1,
        )
        return finite_mean(np.asarray(costs, float)[:, :n], axis=1)


class Evolution:
    """CMA-ES (pycma) from the zero vector with step size `sigma_init`, its draws seeded per
    generation. `told` holds the fitness vector of every generation so far (the checkpoint's
    content); `replay(told)` rebuilds the optimiser a checkpoint was made from."""

    def __init__(self, n: int, config: NDEConfig):
        import cma

        self.config = config
        self._rng: np.random.Generator | None = None
        # pycma's defaults otherwise (weights, learning rates); its stopping rules are not consulted:
        # a run lasts its generations
        opts = {"popsize": config.population, "verbose": -9, "randn": self._randn}
        self.es = cma.CMAEvolutionStrategy(np.zeros(n), config.sigma_init, opts)
        self.told: list[np.ndarray] = []

    def _randn(self, *shape):
        return self._rng.standard_normal(shape)

    @property
    def generation(self) -> int:
        return len(self.told)

    def ask(self) -> np.ndarray:
        """The population (P, n) of the next generation."""
        self._rng = np.random.default_rng([self.config.seed, self.generation])
        return np.asarray(self.es.ask(), float)

    def tell(self, population: np.ndarray, fitness: np.ndarray) -> np.ndarray:
        """Report the population's fitness (mean costs; non-finite ones become `LOST`); returns
        what was told."""
        f = np.asarray(fitness, float)
        f = np.where(np.isfinite(f), f, LOST)
        self.es.tell(list(population), f.tolist())
        self.told.append(f)
        return f

    def replay(self, told: np.ndarray) -> None:
        """Bring a fresh optimiser to the state after the generations whose fitness is `told` (G, P)."""
        for f in np.asarray(told, float):
            self.tell(self.ask(), f)

    @property
    def mean(self) -> np.ndarray:
        return np.asarray(self.es.mean, float)

    @property
    def sigma(self) -> float:
        return float(self.es.sigma)
