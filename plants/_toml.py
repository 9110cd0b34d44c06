"""Read plants from TOML files, and the value readers task files share. Every error names the
file, the key and the fix.

The `[task]` table is read in `plants/_toml_task.py`. The format is documented in
`plants/FORMAT.md` (shipped with the package) and in the README.
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

from ._model import Distribution, ModelError, Parameter, Plant, symbol
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
