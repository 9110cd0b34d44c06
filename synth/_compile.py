"""Turn a `SymbolicPolicy` into a simulator `Controller` whose parameters are its constants.

Every floating-point constant of `f` and `g` is lifted out into a parameter vector, so two
policies that differ only in their numbers (two LQG designs, a GP individual before and after
constant tuning) share one `Controller` and therefore one compiled simulation.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import sympy as sp

from plants import Task, lower

from ._controller import AbstractNetworkPolicy, Controller, latent_step
from ._parallel import KeptCache
from ._policy import PolicyError, SymbolicPolicy

_CACHE = KeptCache(256)  # one Controller per policy shape, so one compiled simulation


def _template(policy: SymbolicPolicy) -> tuple[list[sp.Expr], list[sp.Expr], list[sp.Symbol], np.ndarray]:
    """Replace every Float occurrence by its own parameter symbol (values that happen to be equal
    stay separate, so the template depends on the expression's shape only)."""
    syms: list[sp.Symbol] = []
    values: list[float] = []
    placeholder = sp.Symbol("_c", real=True)
    shapes: dict[sp.Basic, str] = {}

    def shape(e: sp.Basic) -> str:
        # The expression with every Float replaced by one placeholder: its shape, whatever the values.
        key = shapes.get(e)
        if key is None:
            key = sp.srepr(e.xreplace({a: placeholder for a in e.atoms(sp.Float)}))
            shapes[e] = key
        return key

    def lift(e: sp.Basic) -> sp.Basic:
        if isinstance(e, sp.Float):
            s = sp.Symbol(f"_c{len(syms)}", real=True)
            syms.append(s)
            values.append(float(e))
            return s
        if not e.args:
            return e
        args = e.args
        if isinstance(e, (sp.Add, sp.Mul)):  # number the constants in an order that ignores their values
            args = sorted(args, key=shape)
        return e.func(*[lift(a) for a in args])

    f = [lift(e) for e in policy.f]
    g = [lift(e) for e in policy.g]
    return f, g, syms, np.array(values, dtype=float)


def constants(policy: SymbolicPolicy) -> np.ndarray:
    """The float constants of `policy` (float64), in the order `compile_policy` lifts them."""
    return _template(policy)[3]


def with_constants(policy: SymbolicPolicy, values) -> SymbolicPolicy:
    """`policy` with its float constants, in the order `compile_policy` lifts them, set to `values`."""
    import dataclasses

    f, g, csyms, _ = _template(policy)
    rep = {s: sp.Float(float(v)) for s, v in zip(csyms, values)}
    return dataclasses.replace(policy, f=tuple(e.xreplace(rep) for e in f), g=tuple(e.xreplace(rep) for e in g))


def compile_policy(policy: SymbolicPolicy, task: Task | None = None) -> tuple[Controller, dict]:
    """A `Controller` and its parameters `{"c": constants, "z0": initial latent}` for `policy`.

    With `task`, checks that the policy fits it: same number of observations, targets and
    controls, and the task's control period. A network policy (`AbstractNetworkPolicy`) brings its
    own controller and parameters.
    """
    if task is not None:
        check_compatible(policy, task)
    if isinstance(policy, AbstractNetworkPolicy):
        return policy.controller()
    f, g, csyms, consts = _template(policy)
    p = policy
    key = repr((sp.srepr(f), sp.srepr(g), p.observations, p.targets, p.latent, p.controls, p.integrator, p.dt, len(csyms)))
    controller = _CACHE.get(key)
    if controller is None:
        controller = _CACHE.put(key, _build(p, f, g, csyms))
    params = {"c": jnp.asarray(consts), "z0": jnp.asarray(np.array(p.latent_init, dtype=float))}
    return controller, params


def _build(p: SymbolicPolicy, f, g, csyms) -> Controller:
    g_fn = lower(g, [p.readout_inputs, csyms], "jax")
    f_fn = lower(f, [p.y, p.z, p.u, p.r, csyms], "jax") if p.latent else None
    nz, h = p.nz, p.dt

    def stack(items, like):
        return (
            jnp.stack([jnp.broadcast_to(jnp.asarray(i, like.dtype), ()) for i in items]) if items else jnp.zeros((0,), like.dtype)
        )

    def init(params):
        return params["z0"]

    def act(params, z, y, r):
        c = params["c"].astype(y.dtype)
        return stack(g_fn(jnp.concatenate([z if nz else y, r]), c), y)

    def dz(params, z, y, u, r):
        return stack(f_fn(y, z, u, r, params["c"].astype(z.dtype)), z)

    def advance(params, z, y, u, r):
        if not nz:
            return z
        return latent_step(lambda zz: dz(params, zz, y, u, r), z, h, p.integrator)

    return Controller(nz=nz, init=init, act=act, advance=advance, name=p.provenance.get("method", "policy"))


def check_compatible(policy: SymbolicPolicy, task: Task) -> None:
    """Raise `PolicyError` when `policy` cannot control `task` under the sampled-data contract."""
    problems = []
    if policy.ny != task.ny:
        problems.append(
            f"it reads {policy.ny} observations, the task gives {task.ny} ({', '.join(o.name for o in task.observations)})"
        )
    if policy.nr != task.nr:
        problems.append(f"it reads {policy.nr} targets, the task has {task.nr}")
    if policy.nu != task.plant.nu:
        problems.append(f"it drives {policy.nu} inputs, the plant has {task.plant.nu}")
    if not math.isclose(policy.dt, task.dt, rel_tol=1e-12):
        problems.append(f"its period dt = {policy.dt} s differs from the task's {task.dt} s")
    if problems:
        name = policy.provenance.get("task", "policy")
        raise PolicyError(f"{name} does not fit task {task.name!r}: " + "; ".join(problems))
