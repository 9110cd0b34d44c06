"""The NDE's two networks and their flat parameter vector.

The latent dynamics `dz/dt = f(z, y, u, r)` and the readout `u = g(z, r)` are multilayer
perceptrons: `f` reads `[y, z, u, r]`, has `hidden_f` tanh layers and a tanh output (so each latent
rate lies in (-1, 1)); `g` reads `[z, r]`, has `hidden_g` tanh layers and a linear output. With no
hidden layers (the default) this is the paper's NDE: `dz/dt = tanh(W [y; z; u; r] + b)`,
`u = V [z; r] + c`.

All weights live in one vector `theta`, layer by layer (`f`'s, then `g`'s), each layer its weight
matrix (out, in) row by row, then its bias. The same layout is read by JAX (`apply_f`, `apply_g`,
traceable and vmappable over `theta`) and CasADi (`casadi_f`, `casadi_g`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from plants import UserInputError


class ArchitectureError(UserInputError):
    """An architecture description is invalid; the message names the field and what is valid."""


@dataclasses.dataclass(frozen=True)
class Architecture:
    """Sizes of the NDE: observations `ny`, targets `nr`, controls `nu`, latent states `nz`, and
    the widths of the hidden layers of `f` and `g`."""

    ny: int
    nr: int
    nu: int
    nz: int
    hidden_f: tuple[int, ...] = ()
    hidden_g: tuple[int, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "hidden_f", tuple(int(w) for w in self.hidden_f))
        object.__setattr__(self, "hidden_g", tuple(int(w) for w in self.hidden_g))
        for name in ("ny", "nr", "nu", "nz"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
                raise ArchitectureError(f"architecture {name} = {v!r} is not valid; give a count >= 0")
        if self.nz < 1 or self.nu < 1:
            raise ArchitectureError(
                f"architecture nz = {self.nz}, nu = {self.nu}: an NDE needs at least one latent state and one control"
            )
        for name in ("hidden_f", "hidden_g"):
            if any(w < 1 for w in getattr(self, name)):
                raise ArchitectureError(f"architecture {name} = {list(getattr(self, name))} is not valid; give widths >= 1")

    @property
    def f_sizes(self) -> tuple[int, ...]:
        return (self.ny + self.nz + self.nu + self.nr, *self.hidden_f, self.nz)

    @property
    def g_sizes(self) -> tuple[int, ...]:
        return (self.nz + self.nr, *self.hidden_g, self.nu)

    def layers(self) -> list[tuple[str, int, int, int]]:
        """Every layer as (network, inputs, outputs, offset of its weights in `theta`)."""
        out, offset = [], 0
        for net, sizes in (("f", self.f_sizes), ("g", self.g_sizes)):
            for n_in, n_out in zip(sizes[:-1], sizes[1:]):
                out.append((net, n_in, n_out, offset))
                offset += n_out * (n_in + 1)
        return out

    @property
    def n_params(self) -> int:
        return sum(n_out * (n_in + 1) for _, n_in, n_out, _ in self.layers())

    def to_dict(self) -> dict[str, Any]:
        return {
            "ny": self.ny,
            "nr": self.nr,
            "nu": self.nu,
            "nz": self.nz,
            "hidden_f": list(self.hidden_f),
            "hidden_g": list(self.hidden_g),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "architecture") -> Architecture:
        fields = [f.name for f in dataclasses.fields(cls)]
        if not isinstance(d, dict):
            raise ArchitectureError(f"{where}: expected a table of {', '.join(fields)}, got {d!r}")
        unknown = sorted(set(d) - set(fields))
        missing = [k for k in ("ny", "nr", "nu", "nz") if k not in d]
        if unknown or missing:
            raise ArchitectureError(
                f"{where}: "
                + "; ".join(
                    ([f"unknown keys {', '.join(unknown)}"] if unknown else [])
                    + ([f"missing keys {', '.join(missing)}"] if missing else [])
                )
                + f"; the keys are {', '.join(fields)}"
            )
        try:
            return cls(**d)
        except ArchitectureError as err:
            raise ArchitectureError(f"{where}: {err}") from None
        except (TypeError, ValueError) as err:
            raise ArchitectureError(f"{where}: {err}") from None

    def operations(self) -> int:
        """Arithmetic operations of one evaluation of `f` and `g`: a multiply and an add per weight,
        a tanh per unit of every tanh layer (every layer but `g`'s output)."""
        weights = sum(2 * n_in * n_out for _, n_in, n_out, _ in self.layers())
        return weights + sum(self.hidden_f) + self.nz + sum(self.hidden_g)


def _split(arch: Architecture, theta, net: str):
    """(W, b) of each layer of `net` as views of `theta` (numpy, JAX or CasADi column)."""
    out = []
    for name, n_in, n_out, off in arch.layers():
        if name != net:
            continue
        w = theta[off : off + n_out * n_in]
        b = theta[off + n_out * n_in : off + n_out * (n_in + 1)]
        out.append((w, b, n_in, n_out))
    return out


def apply_f(arch: Architecture, theta, x):
    """`f` at `x = [y, z, u, r]` (JAX; `theta` and `x` of one dtype)."""
    import jax.numpy as jnp

    for w, b, n_in, n_out in _split(arch, theta, "f"):
        x = jnp.tanh(w.reshape(n_out, n_in) @ x + b)
    return x


def apply_g(arch: Architecture, theta, x):
    """`g` at `x = [z, r]` (JAX)."""
    import jax.numpy as jnp

    layers = _split(arch, theta, "g")
    for i, (w, b, n_in, n_out) in enumerate(layers):
        x = w.reshape(n_out, n_in) @ x + b
        if i < len(layers) - 1:
            x = jnp.tanh(x)
    return x


def _casadi_layers(arch: Architecture, theta: np.ndarray, net: str):
    import casadi as ca

    return [
        (ca.DM(np.asarray(w, float).reshape(n_out, n_in)), ca.DM(np.asarray(b, float).reshape(n_out, 1)))
        for w, b, n_in, n_out in _split(arch, np.asarray(theta, float), net)
    ]


def casadi_f(arch: Architecture, theta: np.ndarray, x):
    """`f` at the CasADi column `x = [y; z; u; r]`, the weights as constants."""
    import casadi as ca

    for W, b in _casadi_layers(arch, theta, "f"):
        x = ca.tanh(ca.mtimes(W, x) + b)
    return x


def casadi_g(arch: Architecture, theta: np.ndarray, x):
    """`g` at the CasADi column `x = [z; r]`."""
    import casadi as ca

    layers = _casadi_layers(arch, theta, "g")
    for i, (W, b) in enumerate(layers):
        x = ca.mtimes(W, x) + b
        if i < len(layers) - 1:
            x = ca.tanh(x)
    return x
