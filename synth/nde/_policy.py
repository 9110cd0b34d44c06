"""`NetworkPolicy`: the NDE's trained networks as a controller under the sampled-data contract.

At tick k, with the affine input and output maps of its units (identity as trained; `denormalise`
folds a task's scaling in, as it does into a symbolic policy's constants):

    yn = (y_k - y0) / sy,  rn = (r - r0) / sr
    u_k = sat(u0 + su * g(z_k, rn))
    un = (u_k - u0) / su
    z_{k+1} = z_k + dt * f(z_k, yn, un, rn)        (explicit Euler; or one RK4 step)

with `z_0 = 0`. The simulator runs it through `controller()`, validation's CasADi closed loop
through `casadi_step()`: the same tick written twice, checked against each other by the tests.

Files, in a run folder: `network.json` (schema, version, architecture, names, period, limits, the
unit maps, provenance, the count and SHA-256 of the parameters) and `network.npz` (the parameter
vector `theta`, float64). `load` checks the schema and its version, the architecture, and that the
parameters are those the JSON describes, and names the file and key of anything wrong.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from plants import Scaling, UserInputError

from .._controller import AbstractNetworkPolicy, Controller, latent_step
from .._json import jsonable
from .._parallel import KeptCache
from ._network import Architecture, ArchitectureError

SCHEMA = "symctl.network_policy"
SCHEMA_VERSION = 1
JSON_FILE, NPZ_FILE = "network.json", "network.npz"
INTEGRATORS = ("euler", "rk4")


class NetworkPolicyError(UserInputError):
    """A network policy's files are missing, of another version, or inconsistent."""


@dataclasses.dataclass(frozen=True, eq=False)
class NetworkPolicy(AbstractNetworkPolicy):
    """The NDE's latent ODE and readout (`Architecture`, parameter vector `theta`) as a dynamic
    controller: names of its observations, targets, latent states and controls, period `dt`,
    latent `integrator` ("euler" or "rk4"), `input_limits`, the unit maps (`y0`, `sy`, `r0`, `sr`,
    `u0`, `su`: `original = offset + scale * network's`) and `provenance`."""

    architecture: Architecture
    theta: np.ndarray
    observations: tuple[str, ...]
    targets: tuple[str, ...]
    latent: tuple[str, ...]
    controls: tuple[str, ...]
    dt: float
    integrator: str = "euler"
    input_limits: tuple[tuple[float, float], ...] = ()
    y0: tuple[float, ...] = ()
    sy: tuple[float, ...] = ()
    r0: tuple[float, ...] = ()
    sr: tuple[float, ...] = ()
    u0: tuple[float, ...] = ()
    su: tuple[float, ...] = ()
    provenance: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        a = self.architecture
        for name in ("observations", "targets", "latent", "controls"):
            object.__setattr__(self, name, tuple(str(n) for n in getattr(self, name)))
        theta = np.array(self.theta, dtype=np.float64).reshape(-1)
        theta.setflags(write=False)
        object.__setattr__(self, "theta", theta)
        if not self.input_limits:
            object.__setattr__(self, "input_limits", tuple((-math.inf, math.inf) for _ in self.controls))
        object.__setattr__(self, "input_limits", tuple((float(lo), float(hi)) for lo, hi in self.input_limits))
        for off, scale, n in (("y0", "sy", a.ny), ("r0", "sr", a.nr), ("u0", "su", a.nu)):
            object.__setattr__(self, off, tuple(float(v) for v in getattr(self, off)) or (0.0,) * n)
            object.__setattr__(self, scale, tuple(float(v) for v in getattr(self, scale)) or (1.0,) * n)
            if len(getattr(self, off)) != n or len(getattr(self, scale)) != n:
                raise NetworkPolicyError(f"unit map {off}/{scale}: give {n} offsets and {n} scales")
            if not all(math.isfinite(o) for o in getattr(self, off)) or not all(
                math.isfinite(s) and s > 0 for s in getattr(self, scale)
            ):
                raise NetworkPolicyError(f"unit map {off}/{scale}: offsets must be finite and scales finite and > 0")
        object.__setattr__(self, "provenance", dict(self.provenance))
        counts = (("observations", a.ny), ("targets", a.nr), ("latent", a.nz), ("controls", a.nu), ("input_limits", a.nu))
        for name, n in counts:
            if len(getattr(self, name)) != n:
                raise NetworkPolicyError(f"{name}: {len(getattr(self, name))} given, the architecture has {n}")
        if theta.size != a.n_params:
            raise NetworkPolicyError(f"theta: {theta.size} parameters, the architecture needs {a.n_params}")
        if self.integrator not in INTEGRATORS:
            raise NetworkPolicyError(f"integrator {self.integrator!r} is not valid; use one of {', '.join(INTEGRATORS)}")
        if not (self.dt > 0 and math.isfinite(self.dt)):
            raise NetworkPolicyError(f"dt {self.dt} must be a positive number of seconds")

    # The contract ------------------------------------------------------------------------------
    @property
    def latent_init(self) -> tuple[float, ...]:
        return (0.0,) * self.nz

    def params(self) -> dict[str, np.ndarray]:
        """The simulator parameters of this policy for `controller_for(...)`'s Controller."""
        arr = functools.partial(np.asarray, dtype=np.float64)
        return {
            "theta": self.theta,
            "y0": arr(self.y0),
            "sy": arr(self.sy),
            "r0": arr(self.r0),
            "sr": arr(self.sr),
            "u0": arr(self.u0),
            "su": arr(self.su),
        }

    def controller(self) -> tuple[Controller, dict[str, np.ndarray]]:
        return controller_for(self.architecture, self.integrator, self.dt), self.params()

    @functools.cached_property
    def _casadi(self):
        import casadi as ca

        from ._network import casadi_f, casadi_g

        a, h = self.architecture, self.dt
        z, y, r = ca.SX.sym("z", a.nz), ca.SX.sym("y", a.ny), ca.SX.sym("r", a.nr)
        y0, sy, r0, sr, u0, su = (
            ca.DM(np.asarray(v, float).reshape(-1, 1)) for v in (self.y0, self.sy, self.r0, self.sr, self.u0, self.su)
        )
        rn = (r - r0) / sr
        raw = u0 + su * casadi_g(a, self.theta, ca.vertcat(z, rn))
        lo, hi = ca.DM([lo for lo, _ in self.input_limits]), ca.DM([hi for _, hi in self.input_limits])
        u = ca.fmin(ca.fmax(raw, lo), hi)
        yn, un = (y - y0) / sy, (u - u0) / su

        def dz(zz):
            return casadi_f(a, self.theta, ca.vertcat(yn, zz, un, rn))

        z_next = latent_step(dz, z, h, self.integrator)
        return ca.Function("policy_step", [z, y, r], [u, z_next], ["z", "y", "r"], ["u", "z_next"])

    def casadi_step(self):
        return self._casadi

    # Units ------------------------------------------------------------------------------------
    def denormalise(self, scaling: Scaling) -> NetworkPolicy:
        """This policy, designed on `plants.normalise(task)`, as the same controller for `task`:
        the scaling is composed into the unit maps (the network's numbers are unchanged) and the
        input limits mapped back; provenance gains `"scaling"`."""
        for kind, have, want in (
            ("observations", self.observations, scaling.observations),
            ("targets", self.targets, scaling.targets),
            ("inputs", self.controls, scaling.inputs),
        ):
            if tuple(have) != tuple(want):
                raise NetworkPolicyError(
                    f"the scaling's {kind} {list(want)} are not the policy's {list(have)}; denormalise with the "
                    "scaling returned by plants.normalise for the task the policy was designed on"
                )
        if scaling.is_identity:
            return self

        def compose(off, scale, o2, s2):  # original = o2 + s2 * (off + scale * network's)
            return tuple(b + t * a for a, b, t in zip(off, o2, s2)), tuple(t * s for s, t in zip(scale, s2))

        y0, sy = compose(self.y0, self.sy, scaling.y0, scaling.sy)
        r0, sr = compose(self.r0, self.sr, scaling.r0, scaling.sr)
        u0, su = compose(self.u0, self.su, scaling.u0, scaling.su)
        limits = tuple(
            (float(f"{o + s * lo:.15g}"), float(f"{o + s * hi:.15g}"))
            for (lo, hi), o, s in zip(self.input_limits, scaling.u0, scaling.su)
        )
        return dataclasses.replace(
            self,
            y0=y0,
            sy=sy,
            r0=r0,
            sr=sr,
            u0=u0,
            su=su,
            input_limits=limits,
            provenance={**self.provenance, "scaling": scaling.to_dict()},
        )

    # Description ------------------------------------------------------------------------------
    def complexity(self) -> dict[str, int]:
        """Parameters (weights and biases: the constants), operations of one evaluation of `f` and
        `g`, latent states and hidden layers."""
        a = self.architecture
        return {
            "operations": a.operations(),
            "constants": a.n_params,
            "parameters": a.n_params,
            "latent": a.nz,
            "hidden_layers": len(a.hidden_f) + len(a.hidden_g),
        }

    def digest(self) -> str:
        d = self.to_dict()
        d.pop("provenance")
        h = hashlib.sha256(json.dumps(d, sort_keys=True).encode())
        h.update(self.theta.astype("<f8").tobytes())
        return h.hexdigest()

    def with_provenance(self, **items: Any) -> NetworkPolicy:
        return dataclasses.replace(self, provenance={**self.provenance, **items})

    def summary(self) -> dict[str, Any]:
        a = self.architecture
        return {
            "digest": self.digest(),
            "kind": self.kind,
            "network": True,
            "observations": list(self.observations),
            "targets": list(self.targets),
            "latent": list(self.latent),
            "controls": list(self.controls),
            "architecture": a.to_dict(),
            "parameters": a.n_params,
            "integrator": self.integrator,
            "dt": self.dt,
        }

    def __str__(self) -> str:
        a = self.architecture
        f_in = ", ".join(self.observations + self.latent + self.controls + self.targets)
        g_in = ", ".join(self.latent + self.targets)
        hf = " -> ".join(str(w) for w in a.hidden_f)
        hg = " -> ".join(str(w) for w in a.hidden_g)
        lines = [
            f"neural ODE policy ({a.n_params} parameters, latent {', '.join(self.latent)}, {self.integrator} at dt = {self.dt:g} s)",
            f"d[{', '.join(self.latent)}]/dt = tanh-MLP({f_in}{'; hidden ' + hf if hf else ''})",
            f"[{', '.join(self.controls)}] = MLP({g_in}{'; hidden ' + hg if hg else ''})",
        ]
        for n, (lo, hi) in zip(self.controls, self.input_limits):
            if math.isfinite(lo) or math.isfinite(hi):
                lines.append(f"  {n} clipped to [{lo:g}, {hi:g}]")
        return "\n".join(lines)

    # Files ------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The content of `network.json` (the parameters themselves are in `network.npz`)."""
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "kind": self.kind,
            "architecture": self.architecture.to_dict(),
            "observations": list(self.observations),
            "targets": list(self.targets),
            "latent": list(self.latent),
            "controls": list(self.controls),
            "integrator": self.integrator,
            "dt": self.dt,
            "input_limits": jsonable(self.input_limits),
            "units": {
                "y0": list(self.y0),
                "sy": list(self.sy),
                "r0": list(self.r0),
                "sr": list(self.sr),
                "u0": list(self.u0),
                "su": list(self.su),
            },
            "parameters": {
                "file": NPZ_FILE,
                "array": "theta",
                "count": int(self.theta.size),
                "sha256": hashlib.sha256(self.theta.astype("<f8").tobytes()).hexdigest(),
            },
            "provenance": jsonable(self.provenance),
        }

    def save(self, folder: str | Path, stem: str = "network") -> Path:
        """Write `<stem>.json` and `<stem>.npz` into `folder` (created); returns the JSON's path."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        d = self.to_dict()
        d["parameters"]["file"] = f"{stem}.npz"
        with open(folder / f"{stem}.npz", "wb") as fh:
            np.savez(fh, theta=self.theta)
        path = folder / f"{stem}.json"
        path.write_text(json.dumps(d, indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> NetworkPolicy:
        """Read a network policy from its `network.json` (or a run folder holding one) and the
        `.npz` it names."""
        path = Path(path)
        if path.is_dir():
            path = path / JSON_FILE
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NetworkPolicyError(f"{path}: file not found") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise NetworkPolicyError(f"{path}: not a readable JSON file ({err})") from None
        if not isinstance(d, dict) or d.get("schema") != SCHEMA:
            found = d.get("schema") if isinstance(d, dict) else None
            raise NetworkPolicyError(f"{path}: [schema] is {found!r}, not {SCHEMA!r}: this is not a symctl network policy")
        if d.get("schema_version") != SCHEMA_VERSION:
            raise NetworkPolicyError(
                f"{path}: [schema_version] {d.get('schema_version')!r} is not read by this symctl, which reads "
                f"version {SCHEMA_VERSION}; use the symctl that wrote it"
            )

        def key(name, kind=None):
            if name not in d:
                raise NetworkPolicyError(f"{path}: [{name}] is missing")
            v = d[name]
            if kind is not None and not isinstance(v, kind):
                raise NetworkPolicyError(f"{path}: [{name}] = {v!r} is not valid; expected {kind.__name__}")
            return v

        try:
            arch = Architecture.from_dict(key("architecture", dict), f"{path}: [architecture]")
        except ArchitectureError as err:
            raise NetworkPolicyError(str(err)) from None
        par = key("parameters", dict)
        npz = path.parent / str(par.get("file", NPZ_FILE))
        try:
            with open(npz, "rb") as fh, np.load(fh, allow_pickle=False) as z:
                theta = np.asarray(z[par.get("array", "theta")], dtype=np.float64)
        except FileNotFoundError:
            raise NetworkPolicyError(f"{path}: [parameters] names {npz.name}, which is not next to it") from None
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
            raise NetworkPolicyError(f"{npz}: cannot read the parameters ({err})") from None
        if theta.ndim != 1 or theta.size != arch.n_params or par.get("count") != theta.size:
            raise NetworkPolicyError(
                f"{npz}: {theta.size} parameters of shape {theta.shape}; [parameters] count says "
                f"{par.get('count')!r} and the architecture needs {arch.n_params}"
            )
        if hashlib.sha256(theta.astype("<f8").tobytes()).hexdigest() != par.get("sha256"):
            raise NetworkPolicyError(
                f"{npz}: the parameters are not those {path.name} was written with ([parameters] sha256 differs)"
            )
        units = key("units", dict)
        try:
            return cls(
                architecture=arch,
                theta=theta,
                observations=tuple(key("observations", list)),
                targets=tuple(key("targets", list)),
                latent=tuple(key("latent", list)),
                controls=tuple(key("controls", list)),
                dt=float(key("dt")),
                integrator=key("integrator", str),
                input_limits=tuple((float(lo), float(hi)) for lo, hi in key("input_limits", list)),
                **{k: tuple(units.get(k, ())) for k in ("y0", "sy", "r0", "sr", "u0", "su")},
                provenance=dict(d.get("provenance") or {}),
            )
        except NetworkPolicyError as err:
            raise NetworkPolicyError(f"{path}: {err}") from None
        except (TypeError, ValueError) as err:
            raise NetworkPolicyError(f"{path}: {err}") from None


# The simulator's controller: one per architecture, integrator and period ----------------------------
_CONTROLLERS = KeptCache(32)


def controller_for(arch: Architecture, integrator: str, dt: float) -> Controller:
    """The `Controller` of every network policy of this architecture, integrator and period (one
    object, so the simulator compiles it once); its parameters are `NetworkPolicy.params()`."""
    key = (arch, integrator, float(dt))
    return _CONTROLLERS.get(key) or _CONTROLLERS.put(key, _build(arch, integrator, float(dt)))


def _build(arch: Architecture, integrator: str, h: float) -> Controller:
    import jax.numpy as jnp

    from ._network import apply_f, apply_g

    def init(params):
        return jnp.zeros((arch.nz,), params["theta"].dtype)

    def act(params, z, y, r):
        dt_ = z.dtype
        p = {k: v.astype(dt_) for k, v in params.items()}
        rn = (r - p["r0"]) / p["sr"]
        return p["u0"] + p["su"] * apply_g(arch, p["theta"], jnp.concatenate([z, rn]))

    def advance(params, z, y, u, r):
        dt_ = z.dtype
        p = {k: v.astype(dt_) for k, v in params.items()}
        yn, un, rn = (y - p["y0"]) / p["sy"], (u - p["u0"]) / p["su"], (r - p["r0"]) / p["sr"]

        def dz(zz):
            return apply_f(arch, p["theta"], jnp.concatenate([yn, zz, un, rn]))

        return latent_step(dz, z, h, integrator)

    return Controller(nz=arch.nz, init=init, act=act, advance=advance, name="nde")
