"""`SymbolicPolicy`: the one policy format, produced by LQG, GP, ESPL and NDE alike.

Pure sympy: nothing here imports JAX. The sampled-data contract (docs/design.md), at tick k:

1. read `y_k` and the targets `r`;
2. `u_k = sat(g(z_k, r))` (dynamic) or `u_k = sat(g(y_k, r))` (static), `sat` clipping to the limits;
3. advance the latent state with `y_k`, `u_k` held: one explicit Euler or RK4 step of
   `dz/dt = f(z, y, u, r)`, or, for `integrator = "discrete"`, the map `z_{k+1} = f(z, y, u, r)`.

`z_0 = latent_init` (zeros unless the policy says otherwise; a time-varying Kalman filter starts
from the prior mean and covariance).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp

from plants import UserInputError, lower, symbol

from ._controller import PolicySizes, latent_step
from ._json import jsonable

SCHEMA_VERSION = 1
INTEGRATORS = ("euler", "rk4", "discrete")


class PolicyError(UserInputError):
    """A policy is inconsistent or a policy file cannot be read; the message says which part."""


@dataclasses.dataclass(frozen=True)
class SymbolicPolicy(PolicySizes):
    """A static (`u = g(y, r)`) or dynamic (latent ODE `f`, readout `g(z, r)`) symbolic controller.

    Attributes: `observations`, `targets`, `latent`, `controls` name the inputs and outputs in order;
    `f` (one expression per latent state) and `g` (one per control) are sympy expressions over
    symbols of those names; `integrator`, `dt`, `input_limits` and `latent_init` complete the
    discrete controller; `provenance` records where it came from (task, method, seed, cost, ...).
    """

    observations: tuple[str, ...]
    targets: tuple[str, ...]
    latent: tuple[str, ...]
    controls: tuple[str, ...]
    f: tuple[sp.Expr, ...]
    g: tuple[sp.Expr, ...]
    dt: float
    integrator: str = "euler"
    input_limits: tuple[tuple[float, float], ...] = ()
    latent_init: tuple[float, ...] = ()
    provenance: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "f", tuple(sp.sympify(e) for e in self.f))
        object.__setattr__(self, "g", tuple(sp.sympify(e) for e in self.g))
        for name in ("observations", "targets", "latent", "controls"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not self.input_limits:
            object.__setattr__(self, "input_limits", tuple((-math.inf, math.inf) for _ in self.controls))
        object.__setattr__(self, "input_limits", tuple((float(lo), float(hi)) for lo, hi in self.input_limits))
        if not self.latent_init:
            object.__setattr__(self, "latent_init", tuple(0.0 for _ in self.latent))
        object.__setattr__(self, "latent_init", tuple(float(v) for v in self.latent_init))
        object.__setattr__(self, "provenance", dict(self.provenance))
        if self.integrator not in INTEGRATORS:
            raise PolicyError(f"integrator {self.integrator!r} is not valid; use one of {', '.join(INTEGRATORS)}")
        if not (self.dt > 0 and math.isfinite(self.dt)):
            raise PolicyError(f"dt {self.dt} must be a positive number of seconds")
        if len(self.f) != len(self.latent):
            raise PolicyError(f"{len(self.f)} latent expressions f for {len(self.latent)} latent states")
        if len(self.g) != len(self.controls):
            raise PolicyError(f"{len(self.g)} readout expressions g for {len(self.controls)} controls")
        if len(self.input_limits) != len(self.controls):
            raise PolicyError(f"{len(self.input_limits)} input limits for {len(self.controls)} controls")
        if len(self.latent_init) != len(self.latent):
            raise PolicyError(f"{len(self.latent_init)} initial values for {len(self.latent)} latent states")
        names = self.observations + self.targets + self.latent + self.controls
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise PolicyError(f"names used twice among the policy's inputs and outputs: {', '.join(dup)}")
        f_allowed = set(self.y) | set(self.z) | set(self.u) | set(self.r)
        g_allowed = (set(self.z) if self.latent else set(self.y)) | set(self.r)
        for i, e in enumerate(self.f):
            extra = e.free_symbols - f_allowed
            if extra:
                raise PolicyError(f"f[{i}] ({self.latent[i]}) uses {', '.join(sorted(map(str, extra)))}, not inputs of f")
        for i, e in enumerate(self.g):
            extra = e.free_symbols - g_allowed
            if extra:
                what = "latent states and targets" if self.latent else "observations and targets"
                raise PolicyError(
                    f"g[{i}] ({self.controls[i]}) uses {', '.join(sorted(map(str, extra)))}; a readout sees only {what}"
                )

    # Symbols and sizes -------------------------------------------------------------------------
    @property
    def y(self) -> tuple[sp.Symbol, ...]:
        return tuple(symbol(n) for n in self.observations)

    @property
    def r(self) -> tuple[sp.Symbol, ...]:
        return tuple(symbol(n) for n in self.targets)

    @property
    def z(self) -> tuple[sp.Symbol, ...]:
        return tuple(symbol(n) for n in self.latent)

    @property
    def u(self) -> tuple[sp.Symbol, ...]:
        return tuple(symbol(n) for n in self.controls)

    @property
    def readout_inputs(self) -> tuple[sp.Symbol, ...]:
        """The symbols `g` is a function of, in order: (z, r) for dynamic, (y, r) for static."""
        return (self.z if self.latent else self.y) + self.r

    # Size measures -----------------------------------------------------------------------------
    def complexity(self) -> dict[str, int]:
        """Operations and constants of the expressions (sympy `count_ops`, number atoms)."""
        exprs = list(self.f) + list(self.g)
        return {
            "operations": int(sum(sp.count_ops(e) for e in exprs)),
            "constants": int(sum(len([a for a in e.atoms(sp.Number) if a not in (sp.S.One, sp.S.NegativeOne)]) for e in exprs)),
            "nodes": int(sum(sum(1 for _ in sp.preorder_traversal(e)) for e in exprs)),
        }

    # Python float64 reference of the contract ----------------------------------------------------
    def reference(self, dtype=np.float64) -> PolicyReference:
        """The numpy implementation of one tick of the contract, in float64 unless `dtype` says otherwise."""
        return PolicyReference(self, dtype)

    def run_reference(self, ys: np.ndarray, r: np.ndarray | None = None, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
        """Feed observations `ys` (T, ny) with fixed targets `r`; return controls (T, nu) and latent
        states before each tick (T+1, nz). The open-loop replay that generated C is compared with
        (float64; `dtype` float32: the same replay in single precision, returned as float64)."""
        ref = self.reference(dtype)
        r = np.zeros(self.nr) if r is None else np.asarray(r, float)
        z = np.array(self.latent_init, float).astype(dtype)
        us, zs = [], [z]
        with np.errstate(all="ignore"):
            for y in np.asarray(ys, float):
                u, z = ref.step(z, y, r)
                us.append(u)
                zs.append(z)
        return (np.array(us, float).reshape(len(us), self.nu), np.array(zs, float).reshape(len(zs), self.nz))

    # Serialisation -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        def enc(e: sp.Expr) -> dict[str, str]:
            return {"srepr": sp.srepr(e), "text": sp.sstr(e)}

        return {
            "schema": "symctl.policy",
            "schema_version": SCHEMA_VERSION,
            "kind": self.kind,
            "observations": list(self.observations),
            "targets": list(self.targets),
            "latent": list(self.latent),
            "controls": list(self.controls),
            "f": [enc(e) for e in self.f],
            "g": [enc(e) for e in self.g],
            "integrator": self.integrator,
            "dt": self.dt,
            "input_limits": jsonable(self.input_limits),
            "latent_init": list(self.latent_init),
            "provenance": jsonable(self.provenance),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.to_json(), encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str = "policy") -> SymbolicPolicy:
        if d.get("schema") != "symctl.policy":
            raise PolicyError(f'{source}: not a symctl policy (missing "schema": "symctl.policy")')
        version = d.get("schema_version")
        if version != SCHEMA_VERSION:
            raise PolicyError(f"{source}: schema_version {version!r} is not supported; this symctl reads {SCHEMA_VERSION}")
        for key in ("observations", "targets", "latent", "controls", "f", "g", "dt"):
            if key not in d:
                raise PolicyError(f"{source}: missing key {key!r}")

        def dec(item, where):
            try:
                return _parse_srepr(item["srepr"])
            except Exception as err:
                raise PolicyError(f"{source}: {where}: cannot read expression: {err}") from None

        f = tuple(dec(e, f"f[{i}]") for i, e in enumerate(d["f"]))
        g = tuple(dec(e, f"g[{i}]") for i, e in enumerate(d["g"]))
        try:
            return cls(
                observations=tuple(d["observations"]),
                targets=tuple(d["targets"]),
                latent=tuple(d["latent"]),
                controls=tuple(d["controls"]),
                f=f,
                g=g,
                dt=float(d["dt"]),
                integrator=d.get("integrator", "euler"),
                input_limits=tuple((float(lo), float(hi)) for lo, hi in d.get("input_limits", [])),
                latent_init=tuple(d.get("latent_init", [])),
                provenance=d.get("provenance", {}),
            )
        except PolicyError as err:
            raise PolicyError(f"{source}: {err}") from None

    @classmethod
    def from_json(cls, text: str, source: str = "policy") -> SymbolicPolicy:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as err:
            raise PolicyError(f"{source}: not valid JSON: {err}") from None
        return cls.from_dict(d, source)

    @classmethod
    def load(cls, path: str | Path) -> SymbolicPolicy:
        path = Path(path)
        if path.is_dir():
            path = path / "policy.json"
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise PolicyError(f"{path}: file not found") from None
        return cls.from_json(text, str(path))

    def digest(self) -> str:
        """SHA-256 of the controller itself (expressions, names, integrator, dt, limits, init)."""
        d = self.to_dict()
        d.pop("provenance")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()

    def __eq__(self, other: object) -> bool:
        """Equal when they write the same policy.json. sympy can build a product whose factors are in
        another order than a fresh build sorts them (`Abs(z1**3/z0)` evaluates to
        `z1**2*Abs(z1)*Abs(1/z0)`): such expressions print alike, srepr included, but compare unequal
        as trees, so a policy would not equal itself read back."""
        if not isinstance(other, SymbolicPolicy):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def with_provenance(self, **items: Any) -> SymbolicPolicy:
        return dataclasses.replace(self, provenance={**self.provenance, **items})

    def __str__(self) -> str:
        lines = []
        for n, e in zip(self.latent, self.f):
            lhs = f"{n}[k+1]" if self.integrator == "discrete" else f"d{n}/dt"
            lines.append(f"{lhs} = {sp.sstr(e)}")
        for n, e, (lo, hi) in zip(self.controls, self.g, self.input_limits):
            sat = f"  (clipped to [{lo:g}, {hi:g}])" if math.isfinite(lo) or math.isfinite(hi) else ""
            lines.append(f"{n} = {sp.sstr(e)}{sat}")
        return "\n".join(lines)


def names_in_use(task) -> set[str]:
    """The names a policy for `task` cannot give its latent states: the task's observations,
    targets, inputs and states."""
    return {o.name for o in task.observations} | set(task.targets) | set(task.plant.inputs) | set(task.plant.states)


def latent_names(task, nz: int) -> tuple[str, ...]:
    """`nz` latent state names for a policy of `task`: `a1`, `a2`, ..., skipping names in use."""
    taken, names, i = names_in_use(task), [], 1
    while len(names) < nz:
        if f"a{i}" not in taken:
            names.append(f"a{i}")
        i += 1
    return tuple(names)


class PolicyReference:
    """numpy evaluation of one tick of the contract: float64 (the Python reference for C), or
    `dtype` float32 to see what single-precision arithmetic makes of the same expressions."""

    def __init__(self, policy: SymbolicPolicy, dtype=np.float64):
        self.policy = policy
        self.dtype = dt = np.dtype(dtype)
        p = policy
        self._g = lower(p.g, [p.readout_inputs], "numpy")
        self._f = lower(p.f, [p.y, p.z, p.u, p.r], "numpy") if p.latent else None
        self._lo = np.array([lo for lo, _ in p.input_limits], dt)
        self._hi = np.array([hi for _, hi in p.input_limits], dt)
        self._h = dt.type(p.dt)

    def _values(self, out) -> np.ndarray:
        return np.array([self.dtype.type(v) for v in out], dtype=self.dtype)

    def control(self, z: np.ndarray, y: np.ndarray, r: np.ndarray) -> np.ndarray:
        p = self.policy
        inputs = np.concatenate([z if p.latent else y, r]).astype(self.dtype)
        return np.clip(self._values(self._g(inputs)), self._lo, self._hi)

    def dz(self, z, y, u, r) -> np.ndarray:
        return self._values(self._f(y, z, u, r))

    def step(self, z: np.ndarray, y: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One tick: returns `(u_k, z_{k+1})`."""
        p = self.policy
        z = np.asarray(z, self.dtype)
        y = np.asarray(y, self.dtype)
        r = np.asarray(r, self.dtype)
        u = self.control(z, y, r)
        if not p.latent:
            return u, z
        with np.errstate(all="ignore"):
            z_next = latent_step(lambda zz: self.dz(zz, y, u, r), z, self._h, p.integrator)
        return u, z_next


_SREPR_NAMESPACE: dict[str, Any] = {
    name: getattr(sp, name)
    for name in (
        "Symbol",
        "Integer",
        "Rational",
        "Float",
        "Add",
        "Mul",
        "Pow",
        "sin",
        "cos",
        "tan",
        "exp",
        "log",
        "sqrt",
        "tanh",
        "Abs",
        "Max",
        "Min",
        "Piecewise",
        "Mod",
        "sign",
        "floor",
        "ceiling",
        "atan2",
        "asin",
        "acos",
        "atan",
        "sinh",
        "cosh",
        "StrictLessThan",
        "StrictGreaterThan",
        "LessThan",
        "GreaterThan",
        "Equality",
        "Unequality",
        "And",
        "Or",
        "Not",
        "pi",
        "E",
        "true",
        "false",
        "Tuple",
        "nan",
        "zoo",
        "oo",
        "I",
        "re",
        "im",
        "arg",
        "conjugate",
        "exp_polar",
    )
}
_SREPR_NAMESPACE["ExprCondPair"] = sp.functions.elementary.piecewise.ExprCondPair
_SREPR_NAMESPACE.update(
    {"BooleanTrue": lambda: sp.true, "BooleanFalse": lambda: sp.false, "Pi": lambda: sp.pi, "Exp1": lambda: sp.E}
)


def _parse_srepr(text: str) -> sp.Expr:
    """Rebuild an expression from `srepr` text with a closed namespace (no arbitrary code). A tree
    sympy left uncombined when it was built (`sqrt(Abs(z)**3)` is `sqrt(Abs(z))*Abs(z)`) would
    combine when rebuilt (`Abs(z)**(3/2)`, other float operations): then it is rebuilt unevaluated,
    node for node as written."""
    if "__" in text or "lambda" in text or "import" in text:
        raise ValueError("expression text contains forbidden tokens")
    expr = eval(text, {"__builtins__": {}}, dict(_SREPR_NAMESPACE))  # noqa: S307 - closed namespace
    if sp.srepr(expr) != text:
        with sp.evaluate(False):
            written = eval(text, {"__builtins__": {}}, dict(_SREPR_NAMESPACE))  # noqa: S307
        if sp.srepr(written) == text:
            return written
    return expr
