"""Adam on the constants of a policy, through the simulator: the optimiser and the step that GP's
polish (`synth.gp._polish`) and ESPL's tuning (`synth.espl._extract.finetune`) share.

`compile_policy` lifts a policy's constants to a parameter vector `c`; a method's loss is a
differentiable function of `c` (its trajectories' mean cost, or a discounted form of it). What the
methods keep differs, and stays theirs: GP scans the steps inside one compiled program and keeps
the iterate best on its training trajectories; ESPL steps in Python and keeps the iterate best on
its validation trajectories, checked every few steps.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax


def adam(lr: float, steps: int, *, clip: float = 1.0, final: float = 0.1) -> optax.GradientTransformation:
    """Adam with the gradient's global norm clipped to `clip` and a step size that decays from `lr`
    to `final * lr` over `steps` steps (cosine)."""
    return optax.chain(optax.clip_by_global_norm(clip), optax.adam(optax.cosine_decay_schedule(lr, steps, alpha=final)))


def adam_step(opt: optax.GradientTransformation, loss: Callable, *, has_aux: bool = False, finite_loss: bool = False) -> Callable:
    """One step of `opt` on `loss(c, *args)`, as a function `step(c, state, *args) -> (c, state,
    value, ok)`: `value` is `loss` at the `c` given (with `has_aux`, `(loss, aux)`), `ok` whether
    its gradient is finite (with `finite_loss`, the loss too). A step that is not ok takes a zero
    gradient: the schedule advances and Adam's moments decay, and no non-finite value reaches `c`.
    Pure, for `jax.jit` or the body of a `jax.lax.scan`."""

    def step(c, state, *args):
        value, grad = jax.value_and_grad(loss, has_aux=has_aux)(c, *args)
        ok = jnp.all(jnp.isfinite(grad))
        if finite_loss:
            ok = jnp.isfinite(value[0] if has_aux else value) & ok
        upd, state = opt.update(jnp.where(ok, grad, 0.0), state, c)
        return optax.apply_updates(c, upd), state, value, ok

    return step
