"""Read plants and tasks from TOML files. Every error names the file, the key and the fix.

The format is documented in `plants/FORMAT.md` (shipped with the package) and in the README.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp
from sympy.core.function import AppliedUndef

from ._model import (
    Cost,
    Distribution,
    ModelError,
    Observation,
    Parameter,
    Plant,
    Success,
    Task,
    symbol,
)
from ._operators import EXPRESSION_NAMESPACE
from ._parse import ExpressionLimit, parse_expression


class TaskFileError(ModelError):
    """A plant or task file is malformed; the message names the file, the key and what is valid."""

    def __init__(self, path: str | Path, key: str, message: str):
        self.path = str(path)
        self.key = key
        super().__init__(f"{path}: [{key}] {message}" if key else f"{path}: {message}")


def did_you_mean(name: str, valid: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


_PLANT_KEYS = ("name", "description", "time", "states", "inputs", "parameters", "definitions", "dynamics", "diffusion")
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


class _Reader:
    """Reads one file, carrying its path for error messages."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, message: str) -> TaskFileError:
        return TaskFileError(self.path, key, message)

    def check_keys(self, table: dict, valid: tuple[str, ...], where: str) -> None:
        for k in table:
            if k not in valid:
                raise self.fail(
                    f"{where}.{k}" if where else k,
                    f"unknown key {k!r}{did_you_mean(k, valid)}; valid keys: {', '.join(valid)}",
                )

    def number(self, value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(key, f"expected a number, got {value!r}")
        if not math.isfinite(value):
            raise self.fail(key, f"{value} is not a finite number")
        return float(value)

    def names(self, value: Any, key: str, kind: str) -> tuple[list[str], dict[str, str]]:
        """A list of names of `kind` ("state", "input"), each a string or a table {name, unit}."""
        if not isinstance(value, list) or not value:
            raise self.fail(key, f"expected a non-empty list of names, got {value!r}")
        names, units = [], {}
        for item in value:
            if isinstance(item, dict):
                if "name" not in item:
                    raise self.fail(key, f"entry {item!r} has no 'name'")
                name, unit = item["name"], item.get("unit", "")
            else:
                name, unit = item, ""
            if not isinstance(name, str) or not name.isidentifier():
                raise self.fail(key, f"{name!r} is not a valid name (letters, digits, underscore)")
            if name in EXPRESSION_NAMESPACE:
                raise self.fail(key, f"{name!r} is a function or constant of the expression language; choose another name")
            if name in names:
                raise self.fail(key, f"{kind} {name!r} is listed twice; each {kind} needs a name of its own")
            names.append(name)
            if unit:
                units[name] = unit
        return names, units

    def unique(self, name: str, key: str, kind: str, taken: dict[str, Any]) -> None:
        """Refuse `name` for a `kind` if a state, input, parameter, ... already has it (`taken`:
        kind -> the names of that kind)."""
        for other, names in taken.items():
            if name in names:
                raise self.fail(
                    key,
                    f"{name!r} is already the name of a{'n' if other[0] in 'aeio' else ''} {other}; "
                    f"give the {kind} a name of its own",
                )

    def definite(self, M: sp.Matrix, value: Any, key: str, strict: bool) -> None:
        """Refuse a weight matrix `M` (given as `value`) that is not positive semidefinite
        (`strict`: definite); the symmetric part counts, as in x^T M x."""
        A = np.array(M.tolist(), dtype=float)
        smallest = float(np.min(np.linalg.eigvalsh((A + A.T) / 2)))
        scale = float(np.max(np.abs(A))) if A.size else 0.0
        if smallest < -1e-12 * scale or (strict and smallest <= 1e-12 * scale):
            name = key.rsplit(".", 1)[-1]
            need = (
                "positive definite (every eigenvalue > 0: LQR needs a cost on every input)"
                if strict
                else "positive semidefinite (no eigenvalue < 0: a negative weight rewards the error it should cost)"
            )
            raise self.fail(key, f"{name} = {value!r} is not {need}; its smallest eigenvalue is {smallest:.6g}")

    def expr(self, text: Any, key: str, known: dict[str, sp.Symbol], boolean: bool = False) -> sp.Basic:
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            if not math.isfinite(text):
                raise self.fail(key, f"{text} is not a finite number")
            return sp.Float(text) if isinstance(text, float) else sp.Integer(text)
        if not isinstance(text, str):
            raise self.fail(key, f"expected an expression string, got {text!r}")
        local = dict(EXPRESSION_NAMESPACE)
        local.update(known)
        try:
            e = parse_expression(text, local)
        except ExpressionLimit as err:
            shown = text if len(text) <= 60 else text[:60] + "..."
            raise self.fail(key, f"expression {shown!r} is refused: {err}") from None
        except Exception as err:  # sympy raises many kinds: report them all the same way
            raise self.fail(key, f"cannot parse expression {text!r}: {type(err).__name__}: {err}".rstrip(": ")) from None
        if not isinstance(e, sp.Basic):
            raise self.fail(key, f"expression {text!r} is not a formula")
        undefined = e.atoms(AppliedUndef)
        if undefined:
            f = sorted(type(a).__name__ for a in undefined)[0]
            funcs = [k for k, v in EXPRESSION_NAMESPACE.items() if callable(v)]
            raise self.fail(key, f"unknown function {f!r} in {text!r}{did_you_mean(f, funcs)}; functions: {', '.join(funcs)}")
        allowed = set().union(*[v.free_symbols for v in known.values()]) if known else set()
        unknown = sorted(s.name for s in e.free_symbols if s not in allowed)
        if unknown:
            u = unknown[0]
            raise self.fail(
                key,
                f"unknown symbol {u!r} in {text!r}{did_you_mean(u, list(known))}; known symbols: {', '.join(known) or '(none)'}",
            )
        is_condition = isinstance(
            e, (sp.core.relational.Relational, sp.logic.boolalg.BooleanFunction, sp.logic.boolalg.BooleanAtom)
        )
        if boolean and not is_condition:
            raise self.fail(key, f"expected a condition such as 'x > 1.5', got {text!r}")
        if not boolean and is_condition:
            raise self.fail(key, f"expected a value, got the condition {text!r}")
        if not boolean and e.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
            raise self.fail(key, f"expression {text!r} is not finite")
        return e

    def distribution(self, value: Any, key: str) -> Distribution:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return Distribution("fixed", self.number(value, key))
        if not isinstance(value, dict) or len(value) != 1:
            raise self.fail(key, f"expected a number, {{uniform = [low, high]}} or {{normal = [mean, std]}}, got {value!r}")
        ((kind, args),) = value.items()
        if kind == "fixed":
            return Distribution("fixed", self.number(args, key))
        if kind not in ("uniform", "normal"):
            raise self.fail(
                key,
                f"unknown distribution {kind!r}{did_you_mean(kind, ['uniform', 'normal', 'fixed'])}; valid: uniform, normal, fixed",
            )
        if not isinstance(args, list) or len(args) != 2:
            raise self.fail(key, f"{kind} takes a list of two numbers, got {args!r}")
        a, b = (self.number(v, key) for v in args)
        try:
            return Distribution(kind, a, b)
        except ModelError as err:
            raise self.fail(key, str(err)) from None

    # Plant -----------------------------------------------------------------------------------
    def plant(self, table: dict, where: str = "plant") -> Plant:
        if not isinstance(table, dict):
            raise self.fail(where, f"expected a table, got {table!r}")
        self.check_keys(table, _PLANT_KEYS, where)
        for req in ("states", "inputs", "dynamics"):
            if req not in table:
                raise self.fail(f"{where}.{req}", "missing; a plant needs states, inputs and dynamics")
        name = table.get("name", self.path.stem)
        states, units = self.names(table["states"], f"{where}.states", "state")
        inputs, u_units = self.names(table["inputs"], f"{where}.inputs", "input")
        for u in inputs:
            self.unique(u, f"{where}.inputs", "input", {"state": states})
        units.update(u_units)
        params = []
        ptab = table.get("parameters", {})
        if not isinstance(ptab, dict):
            raise self.fail(f"{where}.parameters", "expected a table of name = {nominal = ..., range = [low, high], unit = ...}")
        for pname, spec in ptab.items():
            key = f"{where}.parameters.{pname}"
            if pname in EXPRESSION_NAMESPACE or not pname.isidentifier():
                raise self.fail(key, f"{pname!r} cannot be a parameter name")
            self.unique(pname, key, "parameter", {"state": states, "input": inputs})
            if isinstance(spec, (int, float)) and not isinstance(spec, bool):
                spec = {"nominal": spec}
            if not isinstance(spec, dict):
                raise self.fail(key, f"expected a number or {{nominal = ..., range = [low, high]}}, got {spec!r}")
            self.check_keys(spec, ("nominal", "range", "unit", "description"), key)
            if "nominal" not in spec:
                raise self.fail(key, "missing nominal value; write nominal = <number>")
            nominal = self.number(spec["nominal"], f"{key}.nominal")
            rng = spec.get("range")
            if rng is not None:
                if not isinstance(rng, list) or len(rng) != 2:
                    raise self.fail(f"{key}.range", f"expected [low, high], got {rng!r}")
                lo, hi = (self.number(v, f"{key}.range") for v in rng)
                if lo > hi:
                    raise self.fail(f"{key}.range", f"low {lo} > high {hi}; write [low, high]")
                if not lo <= nominal <= hi:
                    raise self.fail(f"{key}.nominal", f"nominal {nominal} is outside its range [{lo}, {hi}]")
                rng = (lo, hi)
            params.append(Parameter(pname, nominal, rng, str(spec.get("unit", "")), str(spec.get("description", ""))))
        known: dict[str, sp.Basic] = {n: symbol(n) for n in states + inputs + [q.name for q in params]}
        defs = table.get("definitions", {})
        if not isinstance(defs, dict):
            raise self.fail(f"{where}.definitions", 'expected a table name = "expression" (each may use the ones above it)')
        local = dict(known)
        for dname, text in defs.items():
            self.unique(
                dname,
                f"{where}.definitions.{dname}",
                "definition",
                {"state": states, "input": inputs, "parameter": [q.name for q in params]},
            )
            if dname in local or dname in EXPRESSION_NAMESPACE or not dname.isidentifier():
                raise self.fail(f"{where}.definitions.{dname}", f"{dname!r} cannot name a definition (it is taken or invalid)")
            local[dname] = self.expr(text, f"{where}.definitions.{dname}", local)
        known = local
        time = table.get("time", "continuous")
        if time not in ("continuous", "discrete"):
            raise self.fail(f"{where}.time", f"{time!r} is not valid; use 'continuous' (dx/dt = F) or 'discrete' (x+ = F)")
        dynamics = self._per_state(table["dynamics"], f"{where}.dynamics", states, known, required=True)
        diffusion = self._per_state(table.get("diffusion", {}), f"{where}.diffusion", states, known, required=False)
        for i, s in enumerate(states):
            if diffusion[i].free_symbols - {symbol(q.name) for q in params}:
                raise self.fail(f"{where}.diffusion.{s}", "diffusion may depend on parameters only")
        try:
            return Plant(
                name=name,
                states=tuple(states),
                inputs=tuple(inputs),
                parameters=tuple(params),
                dynamics=tuple(dynamics),
                diffusion=tuple(diffusion),
                time=time,
                units=units,
                description=table.get("description", ""),
            )
        except ModelError as err:
            raise self.fail(where, str(err)) from None

    def _per_state(self, spec: Any, key: str, states: list[str], known, required: bool) -> list[sp.Expr]:
        if isinstance(spec, list):
            if len(spec) != len(states):
                raise self.fail(
                    key, f"{len(spec)} expressions for {len(states)} states ({', '.join(states)}); give one per state"
                )
            return [self.expr(e, f"{key}[{i}]", known) for i, e in enumerate(spec)]
        if not isinstance(spec, dict):
            raise self.fail(key, f'expected a table state = "expression" or a list, got {spec!r}')
        for k in spec:
            if k not in states:
                raise self.fail(f"{key}.{k}", f"{k!r} is not a state{did_you_mean(k, states)}; states: {', '.join(states)}")
        if required:
            missing = [s for s in states if s not in spec]
            if missing:
                raise self.fail(key, f"{len(spec)} expressions for {len(states)} states; missing: {', '.join(missing)}")
        return [self.expr(spec[s], f"{key}.{s}", known) if s in spec else sp.Integer(0) for s in states]

    # Task ------------------------------------------------------------------------------------
    def task(self, doc: dict, default_name: str) -> Task:
        for k in doc:
            if k not in ("plant", "task"):
                raise self.fail(
                    k,
                    f'unknown top-level table {k!r}{did_you_mean(k, ["plant", "task"])}; a task file has [plant] (or task.plant = "file") and [task]',
                )
        if "task" not in doc:
            raise self.fail("task", "missing; a task file needs a [task] table")
        t = doc["task"]
        self.check_keys(t, _TASK_KEYS, "task")
        if "plant" in t and "plant" in doc:
            raise self.fail("task.plant", "the plant is given twice: inline [plant] and task.plant; keep one")
        if "plant" in doc:
            plant = self.plant(doc["plant"])
        elif "plant" in t:
            ref = t["plant"]
            if not isinstance(ref, str):
                raise self.fail("task.plant", f"expected a file name, got {ref!r}")
            plant = load_plant(self.path.parent / ref)
        else:
            raise self.fail("task.plant", 'missing; name a plant file (plant = "plant.toml") or add a [plant] table')
        for req in ("horizon", "dt", "cost"):
            if req not in t:
                raise self.fail(f"task.{req}", "missing; a task needs horizon, dt and cost")
        horizon = self.number(t["horizon"], "task.horizon")
        dt = self.number(t["dt"], "task.dt")
        if dt <= 0:
            raise self.fail("task.dt", f"{dt} must be > 0 seconds")
        if horizon <= 0:
            raise self.fail("task.horizon", f"{horizon} must be > 0 seconds")
        n = horizon / dt
        if abs(n - round(n)) > 1e-6 * max(1.0, n):
            raise self.fail("task.horizon", f"{horizon} s is not a whole number of control periods dt = {dt} s")
        substeps = t.get("substeps", 1)
        if not isinstance(substeps, int) or isinstance(substeps, bool) or substeps < 1:
            raise self.fail("task.substeps", f"expected a whole number >= 1, got {substeps!r}")
        process_noise = self.number(t.get("process_noise", 0.0), "task.process_noise")
        if process_noise < 0:
            raise self.fail("task.process_noise", f"{process_noise} must be >= 0")

        # Targets come first: observations, cost and success may use them.
        targets, tdist = [], []
        ttab = t.get("targets", {})
        if not isinstance(ttab, dict):
            raise self.fail("task.targets", "expected a table name = distribution")
        plant_names = list(plant.states) + list(plant.inputs) + [q.name for q in plant.parameters]
        kinds = {"state": plant.states, "input": plant.inputs, "parameter": [q.name for q in plant.parameters]}
        for name, spec in ttab.items():
            self.unique(name, f"task.targets.{name}", "target", kinds)
            if name in plant_names or name in EXPRESSION_NAMESPACE or not name.isidentifier():
                raise self.fail(f"task.targets.{name}", f"{name!r} cannot name a target (it is taken or invalid)")
            targets.append(name)
            tdist.append(self.distribution(spec, f"task.targets.{name}"))

        sym = {n: symbol(n) for n in plant_names + targets}
        x_and_p = {n: sym[n] for n in list(plant.states) + [q.name for q in plant.parameters]}
        observations = self._observations(
            t.get("observations"), plant, x_and_p, plant_names + targets, {**kinds, "target": targets}
        )
        initial = self._initial(t.get("initial"), plant)
        pdist = self._parameters(t.get("parameters", {}), plant)
        limits = self._limits(t.get("input_limits", {}), plant)
        no_inputs = {n: s for n, s in sym.items() if n not in plant.inputs}
        target_state = self._target_state(
            t.get("target_state"), plant, {**{n: sym[n] for n in targets}, **{q.name: sym[q.name] for q in plant.parameters}}
        )
        operating = {"targets": dict(zip(targets, tdist)), "parameters": pdist, "limits": limits, "initial": initial}
        cost = self._cost(t["cost"], plant, sym, no_inputs, dt, operating)
        success = None
        if "success" in t:
            s = t["success"]
            if not isinstance(s, dict):
                raise self.fail("task.success", 'expected {condition = "...", when = "final"|"ever"}')
            self.check_keys(s, ("condition", "when"), "task.success")
            if "condition" not in s:
                raise self.fail("task.success.condition", "missing")
            when = s.get("when", "final")
            if when not in ("final", "ever"):
                raise self.fail("task.success.when", f"{when!r} is not valid; use 'final' or 'ever'")
            success = Success(self.expr(s["condition"], "task.success.condition", no_inputs, boolean=True), when)
        lqg = t.get("lqg", {})
        if not isinstance(lqg, dict):
            raise self.fail("task.lqg", "expected a table")
        self.check_keys(lqg, ("Q", "R", "enabled"), "task.lqg")
        for name, n, strict in (("Q", plant.nx, False), ("R", plant.nu, True)):
            if name in lqg:
                self.definite(self._matrix(lqg[name], f"task.lqg.{name}", n), lqg[name], f"task.lqg.{name}", strict)
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
                source=str(self.path),
            )
        except ModelError as err:
            raise self.fail("task", str(err)) from None

    def _observations(self, spec, plant: Plant, known, taken: list[str], kinds: dict[str, Any]) -> tuple[Observation, ...]:
        key = "task.observations"
        if spec is None:
            raise self.fail(key, 'missing; list what the controller measures, e.g. y = {expr = "x", noise = 0.1}')
        if not isinstance(spec, dict) or not spec:
            raise self.fail(key, 'expected a table name = {expr = "...", noise = std}')
        out = []
        for name, item in spec.items():
            k = f"{key}.{name}"
            self.unique(name, k, "observation", kinds)
            if name in taken or name in EXPRESSION_NAMESPACE or not name.isidentifier():
                raise self.fail(k, f"{name!r} cannot name an observation (it is taken or invalid); e.g. y_{name}")
            if isinstance(item, str):
                item = {"expr": item}
            if not isinstance(item, dict):
                raise self.fail(k, f'expected {{expr = "...", noise = std}}, got {item!r}')
            self.check_keys(item, ("expr", "noise"), k)
            if "expr" not in item:
                raise self.fail(f"{k}.expr", "missing")
            text = item["expr"]
            if isinstance(text, str) and text.isidentifier() and text not in known and text not in EXPRESSION_NAMESPACE:
                raise self.fail(
                    f"{k}.expr",
                    f"observation of unknown state {text!r}{did_you_mean(text, list(plant.states))}; states: {', '.join(plant.states)}",
                )
            e = self.expr(text, f"{k}.expr", known)
            noise = self.number(item.get("noise", 0.0), f"{k}.noise")
            if noise < 0:
                raise self.fail(f"{k}.noise", f"standard deviation {noise} must be >= 0")
            out.append(Observation(name, e, noise))
        return tuple(out)

    def _initial(self, spec, plant: Plant) -> tuple[Distribution, ...]:
        key = "task.initial"
        if spec is None:
            raise self.fail(key, "missing; give a distribution for every state")
        if not isinstance(spec, dict):
            raise self.fail(key, "expected a table state = distribution")
        for k in spec:
            if k not in plant.states:
                raise self.fail(
                    f"{key}.{k}", f"{k!r} is not a state{did_you_mean(k, plant.states)}; states: {', '.join(plant.states)}"
                )
        missing = [s for s in plant.states if s not in spec]
        if missing:
            raise self.fail(
                key,
                f"no distribution for states {', '.join(missing)}; give a number or {{uniform = [low, high]}} or {{normal = [mean, std]}}",
            )
        return tuple(self.distribution(spec[s], f"{key}.{s}") for s in plant.states)

    def _parameters(self, spec, plant: Plant) -> tuple[Distribution, ...]:
        key = "task.parameters"
        if not isinstance(spec, dict):
            raise self.fail(key, 'expected a table parameter = "nominal" | "range" | distribution')
        names = [q.name for q in plant.parameters]
        for k in spec:
            if k not in names:
                raise self.fail(
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
                    raise self.fail(f"{key}.{q.name}", f'"range" asked for, but parameter {q.name!r} has no range in the plant')
                out.append(Distribution("uniform", *q.range))
            else:
                out.append(self.distribution(v, f"{key}.{q.name}"))
        return tuple(out)

    def _limits(self, spec, plant: Plant) -> tuple[tuple[float, float], ...]:
        key = "task.input_limits"
        if not isinstance(spec, dict):
            raise self.fail(key, "expected a table input = [low, high]")
        for k in spec:
            if k not in plant.inputs:
                raise self.fail(
                    f"{key}.{k}", f"{k!r} is not an input{did_you_mean(k, plant.inputs)}; inputs: {', '.join(plant.inputs)}"
                )
        out = []
        for u in plant.inputs:
            v = spec.get(u, [-math.inf, math.inf])
            if not isinstance(v, list) or len(v) != 2 or any(isinstance(a, bool) or not isinstance(a, (int, float)) for a in v):
                raise self.fail(f"{key}.{u}", f"expected [low, high], got {v!r}")
            lo, hi = float(v[0]), float(v[1])
            if math.isnan(lo) or math.isnan(hi):
                raise self.fail(f"{key}.{u}", "limits cannot be nan")
            if lo > hi:
                raise self.fail(f"{key}.{u}", f"low {lo} > high {hi}; write [low, high]")
            out.append((lo, hi))
        return tuple(out)

    def _target_state(self, spec, plant: Plant, known) -> tuple:
        if spec is None:
            return ()
        key = "task.target_state"
        if not isinstance(spec, dict):
            raise self.fail(key, "expected a table state = expression of the targets")
        for k in spec:
            if k not in plant.states:
                raise self.fail(f"{key}.{k}", f"{k!r} is not a state{did_you_mean(k, plant.states)}")
        return tuple(self.expr(spec[s], f"{key}.{s}", known) if s in spec else None for s in plant.states)

    def _cost(self, spec, plant: Plant, sym, no_inputs, dt: float, operating: dict) -> Cost:
        key = "task.cost"
        if not isinstance(spec, dict):
            raise self.fail(key, "expected a table")
        self.check_keys(spec, _COST_KEYS, key)
        every_s = self.number(spec.get("every", dt), f"{key}.every")
        every = every_s / dt
        if every < 0.999999 or abs(every - round(every)) > 1e-6 * every:
            raise self.fail(f"{key}.every", f"{every_s} s is not a whole number of control periods dt = {dt} s")
        aggregate = spec.get("aggregate", "mean")
        if aggregate not in ("mean", "sum"):
            raise self.fail(f"{key}.aggregate", f"{aggregate!r} is not valid; use 'mean' or 'sum'")
        quadratic = None
        if "stage" in spec:
            if any(k in spec for k in ("Q", "R", "state_reference", "input_reference")):
                raise self.fail(key, 'give either stage = "expression" or the quadratic form Q, R, references, not both')
            stage = self.expr(spec["stage"], f"{key}.stage", sym)
        elif "Q" in spec and "R" in spec:
            Q = self._matrix(spec["Q"], f"{key}.Q", plant.nx)
            R = self._matrix(spec["R"], f"{key}.R", plant.nu)
            self.definite(Q, spec["Q"], f"{key}.Q", strict=False)
            self.definite(R, spec["R"], f"{key}.R", strict=False)
            xr = spec.get("state_reference", [0] * plant.nx)
            if not isinstance(xr, list) or len(xr) != plant.nx:
                raise self.fail(f"{key}.state_reference", f"expected {plant.nx} expressions (one per state), got {xr!r}")
            ref_known = {n: s for n, s in no_inputs.items() if n not in plant.states}
            xref = sp.Matrix([self.expr(e, f"{key}.state_reference[{i}]", ref_known) for i, e in enumerate(xr)])
            ur = spec.get("input_reference", [0] * plant.nu)
            if ur == "equilibrium":
                uref = self._equilibrium_input(plant, Q, xref, operating)
            else:
                if not isinstance(ur, list) or len(ur) != plant.nu:
                    raise self.fail(f"{key}.input_reference", f'expected {plant.nu} expressions or "equilibrium", got {ur!r}')
                uref = sp.Matrix([self.expr(e, f"{key}.input_reference[{i}]", ref_known) for i, e in enumerate(ur)])
            ex = sp.Matrix(plant.x) - xref
            eu = sp.Matrix(plant.u) - uref
            stage = (ex.T * Q * ex)[0, 0] + (eu.T * R * eu)[0, 0]
            quadratic = (Q, R, tuple(xref), tuple(uref))
        else:
            raise self.fail(key, 'give stage = "expression" or a quadratic form with Q and R')
        term = None
        if "terminate_when" in spec:
            term = self.expr(spec["terminate_when"], f"{key}.terminate_when", no_inputs, boolean=True)
        reward = spec.get("reward", False)
        if not isinstance(reward, bool):
            raise self.fail(f"{key}.reward", f"expected true or false, got {reward!r}")
        return Cost(
            stage=stage,
            every=int(round(every)),
            aggregate=aggregate,
            terminate_when=term,
            terminal=self.number(spec.get("terminal_cost", 0.0), f"{key}.terminal_cost"),
            reward=reward,
            quadratic=quadratic,
        )

    def _equilibrium_input(self, plant: Plant, Q: sp.Matrix, xref: sp.Matrix, operating: dict) -> sp.Matrix:
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
            raise self.fail(key, str(err)) from None
        F, unknowns = equilibrium_system(plant, list(xref), free)
        varying = [r for r, d in operating["targets"].items() if d.kind != "fixed" and symbol(r) in F.free_symbols]
        if varying:
            raise self.fail(
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
            raise self.fail(key, f'"equilibrium": {err}') from None
        return sp.Matrix([sp.Float(float(v)) for v in u])

    def _matrix(self, value, key: str, n: int) -> sp.Matrix:
        def num(v):
            x = self.number(v, key)
            return sp.Integer(int(x)) if isinstance(v, int) else sp.Float(x)

        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value] * n
        if not isinstance(value, list):
            raise self.fail(key, f"expected a list of {n} diagonal entries or an {n}x{n} matrix, got {value!r}")
        if value and all(isinstance(v, list) for v in value):
            if len(value) != n or any(len(row) != n for row in value):
                raise self.fail(key, f"expected an {n}x{n} matrix")
            return sp.Matrix([[num(v) for v in row] for row in value])
        if len(value) != n:
            raise self.fail(key, f"expected {n} diagonal entries, got {len(value)}")
        return sp.diag(*[num(v) for v in value])


def _read_toml(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TaskFileError(path, "", "file not found") from None
    except OSError as err:
        raise TaskFileError(path, "", f"cannot read: {err.strerror}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise TaskFileError(path, "", f"not valid TOML: {err}") from None


def load_plant(path: str | Path) -> Plant:
    """Read a plant file (a `[plant]` table) and return the `Plant`."""
    path = Path(path)
    doc = _read_toml(path)
    reader = _Reader(path)
    if "plant" not in doc:
        raise TaskFileError(path, "plant", "missing; a plant file needs a [plant] table")
    extra = [k for k in doc if k != "plant"]
    if extra:
        raise TaskFileError(path, extra[0], f"unknown top-level table {extra[0]!r}; a plant file has only [plant]")
    return reader.plant(doc["plant"])


def load_task(path: str | Path, name: str | None = None) -> Task:
    """Read a task file and return the `Task`; `name` defaults to the file's `task.name`."""
    path = Path(path)
    doc = _read_toml(path)
    return _Reader(path).task(doc, name or path.stem)
