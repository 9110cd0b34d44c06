"""Builder: a `SymbolicPolicy` -> the declarations the C templates lay out.

The builder decides everything about the code (names, CSE temporaries, literals, which arguments a
function takes, the provenance banner); the templates only place it. Nothing here runs a compiler.
"""

from __future__ import annotations

import dataclasses
import math
import re
import textwrap
from typing import Any

import sympy as sp

from plants import UserInputError
from plants._version import __version__
from synth import SymbolicPolicy

from ._printer import REALS, CPrinter

_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_RESERVED = {
    "auto",
    "break",
    "case",
    "char",
    "const",
    "continue",
    "default",
    "do",
    "double",
    "else",
    "enum",
    "extern",
    "float",
    "for",
    "goto",
    "if",
    "inline",
    "int",
    "long",
    "register",
    "restrict",
    "return",
    "short",
    "signed",
    "sizeof",
    "static",
    "struct",
    "switch",
    "typedef",
    "union",
    "unsigned",
    "void",
    "volatile",
    "while",
}


class CodegenError(UserInputError):
    """C code cannot be generated or verified as asked; the message names the argument and the fix."""


@dataclasses.dataclass(frozen=True)
class CParam:
    decl: str  # full parameter declaration, e.g. "const ctl_real_t z[CTL_NZ]"
    name: str
    used: bool


@dataclasses.dataclass(frozen=True)
class CFunction:
    """A static function computing `outputs[i] = expr` after `temps` (CSE) declarations."""

    name: str
    params: tuple[CParam, ...]
    temps: tuple[tuple[str, str], ...]
    outputs: tuple[tuple[str, str], ...]

    @property
    def signature(self) -> str:
        return ", ".join(p.decl for p in self.params) or "void"


def check_prefix(prefix: str) -> str:
    if not _IDENT.match(prefix or "") or prefix.lower() in _RESERVED:
        raise CodegenError(
            f"--prefix {prefix!r} is not a valid C identifier prefix; use letters, digits and '_', starting with a letter "
            "(for example 'sho_lqg')"
        )
    return prefix


def _simplify_unit_floats(expr: sp.Expr) -> sp.Expr:
    """Drop exact `1.0*` factors (`-1.0*` becomes negation) and fold constant subexpressions into one
    correctly rounded literal (`-pi/10`): what a compiler would do, without double rounding."""
    memo: dict = {}

    def walk(e):
        if e in memo:
            return memo[e]
        if not e.args or e.is_Atom:
            out = e
        else:
            args = [walk(a) for a in e.args]
            if isinstance(e, sp.Mul):
                new = []
                for a in args:
                    if a.is_Float and float(a) == 1.0:
                        continue
                    if a.is_Float and float(a) == -1.0:
                        new.append(sp.S.NegativeOne)
                        continue
                    new.append(a)
                out = sp.Mul(*new)
            else:
                out = e.func(*args)
            if out.args and out.is_number and not out.free_symbols:  # fold constant subexpressions (-pi/10)
                value = complex(out.evalf(30))
                if value.imag == 0 and math.isfinite(value.real):
                    out = sp.Float(value.real)
        memo[e] = out
        return out

    return walk(expr)


def _function(name, params, exprs, targets, printer: CPrinter, mapping) -> CFunction:
    exprs = [_simplify_unit_floats(sp.sympify(e)).xreplace(mapping) for e in exprs]
    temps, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("t"), optimizations=None, order="canonical")
    used_syms = set()
    for _, e in temps:
        used_syms |= {s.name for s in e.free_symbols}
    for e in reduced:
        used_syms |= {s.name for s in e.free_symbols}
    plist = []
    written = {t.split("[")[0] for t in targets}
    for decl, pname in params:
        used = pname in written or any(s == pname or s.startswith(pname + "[") for s in used_syms)
        plist.append(CParam(decl, pname, used))
    return CFunction(
        name=name,
        params=tuple(plist),
        temps=tuple((t.name, printer.doprint(e)) for t, e in temps),
        outputs=tuple((tgt, printer.doprint(e)) for tgt, e in zip(targets, reduced, strict=True)),
    )


def _comment_safe(text: str) -> str:
    return text.replace("*/", "* /").replace("/*", "/ *")


def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(
        _comment_safe(text), width=100, initial_indent=indent, subsequent_indent=indent + "    ", break_on_hyphens=False
    ) or [indent]


def build(policy: SymbolicPolicy, prefix: str, real: str = "float", safe_output=None) -> dict[str, Any]:
    """Everything the templates need to lay out the controller of `policy` as C."""
    check_prefix(prefix)
    if real not in REALS:
        raise CodegenError(f"--real {real!r} is not valid; use float or double")
    if policy.nu == 0:
        raise CodegenError("the policy has no controls; there is nothing to generate")
    pr = CPrinter(real)
    P = prefix.upper()
    rt = f"{prefix}_real_t"
    ny, nr, nz, nu = policy.ny, policy.nr, policy.nz, policy.nu
    lo_hi = []
    for lo, hi in policy.input_limits:
        lo_hi.append((pr.lit(lo) if math.isfinite(lo) else None, pr.lit(hi) if math.isfinite(hi) else None))
    if safe_output is None:
        safe = [min(max(0.0, lo), hi) for lo, hi in policy.input_limits]
    else:
        safe = [float(v) for v in safe_output]
        if len(safe) != nu or not all(math.isfinite(v) for v in safe):
            raise CodegenError(f"safe_output {safe_output!r} must give {nu} finite values, one per control")

    def arr(kind, n, macro, const=True):
        c = "const " if const else ""
        return f"{c}{rt} {kind}[{P}_{macro}]" if n > 0 else f"{c}{rt} *{kind}"

    def syms(symbols, name):
        return {s: sp.Symbol(f"{name}[{i}]") for i, s in enumerate(symbols)}

    # readout g: (z, r) for dynamic policies, (y, r) for static ones
    if policy.latent:
        g_map = {**syms(policy.z, "z"), **syms(policy.r, "r")}
        g_params = [(arr("z", nz, "NZ"), "z")]
    else:
        g_map = {**syms(policy.y, "y"), **syms(policy.r, "r")}
        g_params = [(arr("y", ny, "NY"), "y")] if ny else []
    if nr:
        g_params.append((arr("r", nr, "NR"), "r"))
    g_params.append((f"{rt} u[{P}_NU]", "u"))
    readout = _function(f"{prefix}_readout", g_params, policy.g, [f"u[{i}]" for i in range(nu)], pr, g_map)

    latent = None
    if nz:
        f_map = {**syms(policy.y, "y"), **syms(policy.z, "z"), **syms(policy.u, "u"), **syms(policy.r, "r")}
        f_params = []
        if ny:
            f_params.append((arr("y", ny, "NY"), "y"))
        f_params.append((arr("z", nz, "NZ"), "z"))
        f_params.append((arr("u", nu, "NU"), "u"))
        if nr:
            f_params.append((arr("r", nr, "NR"), "r"))
        f_params.append((f"{rt} out[{P}_NZ]", "out"))
        latent = _function(f"{prefix}_latent", f_params, policy.f, [f"out[{i}]" for i in range(nz)], pr, f_map)

    real_size = 4 if real == "float" else 8
    n_stage = {"euler": 1, "rk4": 5, "discrete": 0}[policy.integrator] if nz else 0
    array_bytes = real_size * (2 * nu + nz + n_stage * nz)
    temps = len(readout.temps) + (len(latent.temps) if latent else 0)

    prov = policy.provenance
    banner = [
        f"Generated by symctl {__version__} with sympy {sp.__version__}. Do not edit: regenerate instead.",
        f"Policy sha256: {policy.digest()}",
        f"Task: {prov.get('task', 'unknown')}; method: {prov.get('method', 'unknown')}",
        f"{policy.kind.capitalize()} policy, integrator {policy.integrator}, dt = {policy.dt!r} s, real type {real}.",
    ]
    banner.append("Observations y[]: " + (", ".join(policy.observations) or "none"))
    banner.append("Targets r[]: " + (", ".join(policy.targets) or "none"))
    banner.append(
        "Latent states z[]: "
        + (", ".join(f"{n} (z0 = {v!r})" for n, v in zip(policy.latent, policy.latent_init, strict=True)) or "none")
    )
    banner.append(
        "Controls u[]: "
        + ", ".join(f"{n} in [{lo!r}, {hi!r}]" for n, (lo, hi) in zip(policy.controls, policy.input_limits, strict=True))
    )
    banner.append("Expressions (sympy):")
    lines = []
    for text in banner:
        lines.extend(_wrap(text, ""))
    for n, e in zip(policy.latent, policy.f, strict=True):
        lhs = f"{n}[k+1]" if policy.integrator == "discrete" else f"d{n}/dt"
        lines.extend(_wrap(f"{lhs} = {sp.sstr(e)}", "  "))
    for n, e in zip(policy.controls, policy.g, strict=True):
        lines.extend(_wrap(f"{n} = {sp.sstr(e)}", "  "))

    return {
        "prefix": prefix,
        "P": P,
        "real": real,
        "real_t": rt,
        "ctype": real,
        "ny": ny,
        "nr": nr,
        "nz": nz,
        "nu": nu,
        "dt": pr.lit(policy.dt),
        "half_dt": pr.lit(policy.dt / 2),
        "sixth_dt": pr.lit(policy.dt / 6),
        "two": pr.lit(2),
        "integrator": policy.integrator,
        "kind": policy.kind,
        "observations": policy.observations,
        "targets": policy.targets,
        "latent": policy.latent,
        "controls": policy.controls,
        "latent_init": [pr.lit(v) for v in policy.latent_init],
        "safe": [pr.lit(v) for v in safe],
        "safe_values": safe,
        "limits": lo_hi,
        "readout": readout,
        "latent_fn": latent,
        "y_param": arr("y", ny, "NY"),
        "r_param": arr("r", nr, "NR"),
        "array_bytes": array_bytes,
        "temps": temps,
        "real_size": real_size,
        "banner": lines,
        "digest": policy.digest(),
        "isfinite": "isfinite",
    }
