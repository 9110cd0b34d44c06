"""Read the `[task]` table of a task file (and the plant it names or holds) into a `Task`.

The value readers and the plant's table are in `plants/_toml.py`; the format is `plants/FORMAT.md`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import sympy as sp

from ._model import Cost, Distribution, ModelError, Observation, Plant, Success, Task, symbol
from ._operators import EXPRESSION_NAMESPACE
from ._toml import _read_toml, _Reader, did_you_mean, load_plant

_TASK_KEYS = (
    "name",
    "description",
    "plant",
    "horizon",
    "dt",
    "substeps",
    "process_noise",
    "observations",
    "targets",
    "initial",
    "parameters",
    "input_limits",
    "cost",
    "success",
    "target_state",
    "lqg",
)
_COST_KEYS = (
    "stage",
    "Q",
    "R",
    "state_reference",
    "input_reference",
    "every",
    "aggregate",
    "terminate_when",
    "terminal_cost",
    "reward",
)


def read_task(rd: _Reader, doc: dict, default_name: str) -> Task:
    for k in doc:
        if k not in ("plant", "task"):
            raise rd.fail(
                k,
                f'unknown top-level table {k!r}{did_you_mean(k, ["plant", "task"])}; a task file has [plant] (or task.plant = "file") and [task]',
            )
    if "task" not in doc:
        raise rd.fail("task", "missing; a task file needs a [task] table")
    t = doc["task"]
    rd.check_keys(t, _TASK_KEYS, "task")
    if "plant" in t and "plant" in doc:
        raise rd.fail("task.plant", "the plant is given twice: inline [plant] and task.plant; keep one")
    if "plant" in doc:
        plant = rd.plant(doc["plant"])
    elif "plant" in t:
        ref = t["plant"]
        if not isinstance(ref, str):
            raise rd.fail("task.plant", f"expected a file name, got {ref!r}")
        plant = load_plant(rd.path.parent / ref)
    else:
        raise rd.fail("task.plant", 'missing; name a plant file (plant = "plant.toml") or add a [plant] table')
    for req in ("horizon", "dt", "cost"):
        if req not in t:
            raise rd.fail(f"task.{req}", "missing; a task needs horizon, dt and cost")
    horizon = rd.number(t["horizon"], "task.horizon")
    dt = rd.number(t["dt"], "task.dt")
    if dt <= 0:
        raise rd.fail("task.dt", f"{dt} must be > 0 seconds")
    if horizon <= 0:
        raise rd.fail("task.horizon", f"{horizon} must be > 0 seconds")
    n = horizon / dt
    if abs(n - round(n)) > 1e-6 * max(1.0, n):
        raise rd.fail("task.horizon", f"{horizon} s is not a whole number of control periods dt = {dt} s")
    substeps = t.get("substeps", 1)
    if not isinstance(substeps, int) or isinstance(substeps, bool) or substeps < 1:
        raise rd.fail("task.substeps", f"expected a whole number >= 1, got {substeps!r}")
    process_noise = rd.number(t.get("process_noise", 0.0), "task.process_noise")
    if process_noise < 0:
        raise rd.fail("task.process_noise", f"{process_noise} must be >= 0")

    # Targets come first: observations, cost and success may use them.
    targets, tdist = [], []
    ttab = t.get("targets", {})
    if not isinstance(ttab, dict):
        raise rd.fail("task.targets", "expected a table name = distribution")
    plant_names = list(plant.states) + list(plant.inputs) + [q.name for q in plant.parameters]
    kinds = {"state": plant.states, "input": plant.inputs, "parameter": [q.name for q in plant.parameters]}
    for name, spec in ttab.items():
        rd.unique(name, f"task.targets.{name}", "target", kinds)
        if name in plant_names or name in EXPRESSION_NAMESPACE or not name.isidentifier():
            raise rd.fail(f"task.targets.{name}", f"{name!r} cannot name a target (it is taken or invalid)")
        targets.append(name)
        tdist.append(rd.distribution(spec, f"task.targets.{name}"))

    sym = {n: symbol(n) for n in plant_names + targets}
    x_and_p = {n: sym[n] for n in list(plant.states) + [q.name for q in plant.parameters]}
    observations = _observations(rd, t.get("observations"), plant, x_and_p, plant_names + targets, {**kinds, "target": targets})
    initial = _initial(rd, t.get("initial"), plant)
    pdist = _parameters(rd, t.get("parameters", {}), plant)
    limits = _limits(rd, t.get("input_limits", {}), plant)
    no_inputs = {n: s for n, s in sym.items() if n not in plant.inputs}
    target_state = _target_state(
        rd, t.get("target_state"), plant, {**{n: sym[n] for n in targets}, **{q.name: sym[q.name] for q in plant.parameters}}
    )
    operating = {"targets": dict(zip(targets, tdist)), "parameters": pdist, "limits": limits, "initial": initial}
    cost = _cost(rd, t["cost"], plant, sym, no_inputs, dt, operating)
    success = None
    if "success" in t:
        s = t["success"]
        if not isinstance(s, dict):
            raise rd.fail("task.success", 'expected {condition = "...", when = "final"|"ever"}')
        rd.check_keys(s, ("condition", "when"), "task.success")
        if "condition" not in s:
            raise rd.fail("task.success.condition", "missing")
        when = s.get("when", "final")
        if when not in ("final", "ever"):
            raise rd.fail("task.success.when", f"{when!r} is not valid; use 'final' or 'ever'")
        success = Success(rd.expr(s["condition"], "task.success.condition", no_inputs, boolean=True), when)
    lqg = t.get("lqg", {})
    if not isinstance(lqg, dict):
        raise rd.fail("task.lqg", "expected a table")
    rd.check_keys(lqg, ("Q", "R", "enabled"), "task.lqg")
    for name, n, strict in (("Q", plant.nx, False), ("R", plant.nu, True)):
        if name in lqg:
            rd.definite(rd._matrix(lqg[name], f"task.lqg.{name}", n), lqg[name], f"task.lqg.{name}", strict)
    try:
        return Task(
            name=t.get("name", default_name),
            plant=plant,
            observations=observations,
            targets=tuple(targets),
            target_distribution=tuple(tdist),
            initial_state=initial,
            parameter_distribution=pdist,
            horizon=horizon,
            dt=dt,
            cost=cost,
            substeps=substeps,
            process_noise=process_noise,
            input_limits=limits,
            target_state=target_state,
            success=success,
            lqg=lqg,
            description=t.get("description", ""),
            source=str(rd.path),
        )
    except ModelError as err:
        raise rd.fail("task", str(err)) from None


def _observations(rd: _Reader, spec, plant: Plant, known, taken: list[str], kinds: dict[str, Any]) -> tuple[Observation, ...]:
    key = "task.observations"
    if spec is None:
        raise rd.fail(key, 'missing; list what the controller measures, e.g. y = {expr = "x", noise = 0.1}')
    if not isinstance(spec, dict) or not spec:
        raise rd.fail(key, 'expected a table name = {expr = "...", noise = std}')
    out = []
    for name, item in spec.items():
        k = f"{key}.{name}"
        rd.unique(name, k, "observation", kinds)
        if name in taken or name in EXPRESSION_NAMESPACE or not name.isidentifier():
            raise rd.fail(k, f"{name!r} cannot name an observation (it is taken or invalid); e.g. y_{name}")
        if isinstance(item, str):
            item = {"expr": item}
        if not isinstance(item, dict):
            raise rd.fail(k, f'expected {{expr = "...", noise = std}}, got {item!r}')
        rd.check_keys(item, ("expr", "noise"), k)
        if "expr" not in item:
            raise rd.fail(f"{k}.expr", "missing")
        text = item["expr"]
        if isinstance(text, str) and text.isidentifier() and text not in known and text not in EXPRESSION_NAMESPACE:
            raise rd.fail(
                f"{k}.expr",
                f"observation of unknown state {text!r}{did_you_mean(text, list(plant.states))}; states: {', '.join(plant.states)}",
            )
        e = rd.expr(text, f"{k}.expr", known)
        noise = rd.number(item.get("noise", 0.0), f"{k}.noise")
        if noise < 0:
            raise rd.fail(f"{k}.noise", f"standard deviation {noise} must be >= 0")
        out.append(Observation(name, e, noise))
    return tuple(out)


def _initial(rd: _Reader, spec, plant: Plant) -> tuple[Distribution, ...]:
    key = "task.initial"
    if spec is None:
        raise rd.fail(key, "missing; give a distribution for every state")
    if not isinstance(spec, dict):
        raise rd.fail(key, "expected a table state = distribution")
    for k in spec:
        if k not in plant.states:
            raise rd.fail(f"{key}.{k}", f"{k!r} is not a state{did_you_mean(k, plant.states)}; states: {', '.join(plant.states)}")
    missing = [s for s in plant.states if s not in spec]
    if missing:
        raise rd.fail(
            key,
            f"no distribution for states {', '.join(missing)}; give a number or {{uniform = [low, high]}} or {{normal = [mean, std]}}",
        )
    return tuple(rd.distribution(spec[s], f"{key}.{s}") for s in plant.states)


def _parameters(rd: _Reader, spec, plant: Plant) -> tuple[Distribution, ...]:
    key = "task.parameters"
    if not isinstance(spec, dict):
        raise rd.fail(key, 'expected a table parameter = "nominal" | "range" | distribution')
    names = [q.name for q in plant.parameters]
    for k in spec:
        if k not in names:
            raise rd.fail(
                f"{key}.{k}",
                f"{k!r} is not a parameter of plant {plant.name!r}{did_you_mean(k, names)}; parameters: {', '.join(names)}",
            )
    out = []
    for q in plant.parameters:
        v = spec.get(q.name, "nominal")
        if v == "nominal":
            out.append(Distribution("fixed", q.nominal))
        elif v == "range":
            if q.range is None:
                raise rd.fail(f"{key}.{q.name}", f'"range" asked for, but parameter {q.name!r} has no range in the plant')
            out.append(Distribution("uniform", *q.range))
        else:
            out.append(rd.distribution(v, f"{key}.{q.name}"))
    return tuple(out)


def _limits(rd: _Reader, spec, plant: Plant) -> tuple[tuple[float, float], ...]:
    key = "task.input_limits"
    if not isinstance(spec, dict):
        raise rd.fail(key, "expected a table input = [low, high]")
    for k in spec:
        if k not in plant.inputs:
            raise rd.fail(
                f"{key}.{k}", f"{k!r} is not an input{did_you_mean(k, plant.inputs)}; inputs: {', '.join(plant.inputs)}"
            )
    out = []
    for u in plant.inputs:
        v = spec.get(u, [-math.inf, math.inf])
        if not isinstance(v, list) or len(v) != 2 or any(isinstance(a, bool) or not isinstance(a, (int, float)) for a in v):
            raise rd.fail(f"{key}.{u}", f"expected [low, high], got {v!r}")
        lo, hi = float(v[0]), float(v[1])
        if math.isnan(lo) or math.isnan(hi):
            raise rd.fail(f"{key}.{u}", "limits cannot be nan")
        if lo > hi:
            raise rd.fail(f"{key}.{u}", f"low {lo} > high {hi}; write [low, high]")
        out.append((lo, hi))
    return tuple(out)


def _target_state(rd: _Reader, spec, plant: Plant, known) -> tuple:
    if spec is None:
        return ()
    key = "task.target_state"
    if not isinstance(spec, dict):
        raise rd.fail(key, "expected a table state = expression of the targets")
    for k in spec:
        if k not in plant.states:
            raise rd.fail(f"{key}.{k}", f"{k!r} is not a state{did_you_mean(k, plant.states)}")
    return tuple(rd.expr(spec[s], f"{key}.{s}", known) if s in spec else None for s in plant.states)


def _cost(rd: _Reader, spec, plant: Plant, sym, no_inputs, dt: float, operating: dict) -> Cost:
    key = "task.cost"
    if not isinstance(spec, dict):
        raise rd.fail(key, "expected a table")
    rd.check_keys(spec, _COST_KEYS, key)
    every_s = rd.number(spec.get("every", dt), f"{key}.every")
    every = every_s / dt
    if every < 0.999999 or abs(every - round(every)) > 1e-6 * every:
        raise rd.fail(f"{key}.every", f"{every_s} s is not a whole number of control periods dt = {dt} s")
    aggregate = spec.get("aggregate", "mean")
    if aggregate not in ("mean", "sum"):
        raise rd.fail(f"{key}.aggregate", f"{aggregate!r} is not valid; use 'mean' or 'sum'")
    quadratic = None
    if "stage" in spec:
        if any(k in spec for k in ("Q", "R", "state_reference", "input_reference")):
            raise rd.fail(key, 'give either stage = "expression" or the quadratic form Q, R, references, not both')
        stage = rd.expr(spec["stage"], f"{key}.stage", sym)
    elif "Q" in spec and "R" in spec:
        Q = rd._matrix(spec["Q"], f"{key}.Q", plant.nx)
        R = rd._matrix(spec["R"], f"{key}.R", plant.nu)
        rd.definite(Q, spec["Q"], f"{key}.Q", strict=False)
        rd.definite(R, spec["R"], f"{key}.R", strict=False)
        xr = spec.get("state_reference", [0] * plant.nx)
        if not isinstance(xr, list) or len(xr) != plant.nx:
            raise rd.fail(f"{key}.state_reference", f"expected {plant.nx} expressions (one per state), got {xr!r}")
        ref_known = {n: s for n, s in no_inputs.items() if n not in plant.states}
        xref = sp.Matrix([rd.expr(e, f"{key}.state_reference[{i}]", ref_known) for i, e in enumerate(xr)])
        ur = spec.get("input_reference", [0] * plant.nu)
        if ur == "equilibrium":
            uref = _equilibrium_input(rd, plant, Q, xref, operating)
        else:
            if not isinstance(ur, list) or len(ur) != plant.nu:
                raise rd.fail(f"{key}.input_reference", f'expected {plant.nu} expressions or "equilibrium", got {ur!r}')
            uref = sp.Matrix([rd.expr(e, f"{key}.input_reference[{i}]", ref_known) for i, e in enumerate(ur)])
        ex = sp.Matrix(plant.x) - xref
        eu = sp.Matrix(plant.u) - uref
        stage = (ex.T * Q * ex)[0, 0] + (eu.T * R * eu)[0, 0]
        quadratic = (Q, R, tuple(xref), tuple(uref))
    else:
        raise rd.fail(key, 'give stage = "expression" or a quadratic form with Q and R')
    term = None
    if "terminate_when" in spec:
        term = rd.expr(spec["terminate_when"], f"{key}.terminate_when", no_inputs, boolean=True)
    reward = spec.get("reward", False)
    if not isinstance(reward, bool):
        raise rd.fail(f"{key}.reward", f"expected true or false, got {reward!r}")
    return Cost(
        stage=stage,
        every=int(round(every)),
        aggregate=aggregate,
        terminate_when=term,
        terminal=rd.number(spec.get("terminal_cost", 0.0), f"{key}.terminal_cost"),
        reward=reward,
        quadratic=quadratic,
    )


def _equilibrium_input(rd: _Reader, plant: Plant, Q: sp.Matrix, xref: sp.Matrix, operating: dict) -> sp.Matrix:
    """`input_reference = "equilibrium"`: exact when the dynamics are affine in the inputs (and
    the states Q leaves free); otherwise solved numerically at the nominal targets and parameters,
    which must then not depend on a target that varies."""
    from ._backends import _unweighted
    from ._equilibrium import NotAffine, equilibrium_input, equilibrium_system, solve_equilibrium_input

    key = "task.cost.input_reference"
    free = [i for i in range(plant.nx) if _unweighted(Q, i)]
    try:
        return sp.Matrix(equilibrium_input(plant, list(xref), free))
    except NotAffine:
        pass
    except ModelError as err:
        raise rd.fail(key, str(err)) from None
    F, unknowns = equilibrium_system(plant, list(xref), free)
    varying = [r for r, d in operating["targets"].items() if d.kind != "fixed" and symbol(r) in F.free_symbols]
    if varying:
        raise rd.fail(
            key,
            f'"equilibrium": the dynamics are not affine in {", ".join(map(str, unknowns))}, so the input is solved '
            f"numerically at one operating point, but it depends on the target {', '.join(varying)}, which varies per "
            f"trajectory; give input_reference as one expression per input of the targets, or fix the target",
        )
    values = {symbol(r): d.mean for r, d in operating["targets"].items()}
    values |= {symbol(q.name): d.mean for q, d in zip(plant.parameters, operating["parameters"])}
    x_guess = [d.mean for d in operating["initial"]]
    try:
        u = solve_equilibrium_input(plant, list(xref), free, values, operating["limits"], x_guess)
    except ModelError as err:
        raise rd.fail(key, f'"equilibrium": {err}') from None
    return sp.Matrix([sp.Float(float(v)) for v in u])


def load_task(path: str | Path, name: str | None = None) -> Task:
    """Read a task file and return the `Task`; `name` defaults to the file's `task.name`."""
    path = Path(path)
    return read_task(_Reader(path), _read_toml(path), name or path.stem)
