"""Exports of a `SymbolicPolicy` beside C: LaTeX, Python source, a CasADi Function, and for linear
policies a python-control state-space object. Each is the same discrete controller (the
sampled-data contract), not a re-derivation."""

from __future__ import annotations

import math

import numpy as np
import sympy as sp

from ._controller import latent_step
from ._policy import PolicyError, SymbolicPolicy


def to_latex(policy: SymbolicPolicy) -> str:
    """The policy's equations as a LaTeX `aligned` block."""
    lines = []
    for name, e in zip(policy.latent, policy.f):
        lhs = (
            rf"{sp.latex(sp.Symbol(name))}_{{k+1}}"
            if policy.integrator == "discrete"
            else rf"\dot{{{sp.latex(sp.Symbol(name))}}}"
        )
        lines.append(rf"{lhs} &= {sp.latex(e)}")
    for name, e, (lo, hi) in zip(policy.controls, policy.g, policy.input_limits):
        body = sp.latex(e)
        if math.isfinite(lo) or math.isfinite(hi):
            body = rf"\operatorname{{sat}}_{{[{lo:g},\,{hi:g}]}}\left({body}\right)"
        lines.append(rf"{sp.latex(sp.Symbol(name))} &= {body}")
    return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}\n"


def to_python(policy: SymbolicPolicy) -> str:
    """A self-contained Python module (only `math`) with `init()` and `step(z, y, r) -> (u, z_next)`."""
    from sympy.printing.pycode import PythonCodePrinter

    printer = PythonCodePrinter({"fully_qualified_modules": True, "standard": "python3"})
    p = policy
    env = {
        s: sp.Symbol(f"{grp}[{i}]") for grp, syms in (("y", p.y), ("z", p.z), ("r", p.r), ("u", p.u)) for i, s in enumerate(syms)
    }

    def code(e):
        return printer.doprint(e.xreplace(env))

    lim = [(lo, hi) for lo, hi in p.input_limits]
    out = [
        f'"""Policy {p.digest()[:16]} ({p.provenance.get("method", "policy")} for {p.provenance.get("task", "?")}), exported by symctl.',
        f"Inputs y = {list(p.observations)}, targets r = {list(p.targets)}, latent z = {list(p.latent)}, controls u = {list(p.controls)};",
        f'period dt = {p.dt!r} s, latent update: {p.integrator}."""',
        "",
        "import math",
        "",
        f"DT = {p.dt!r}",
        f"LIMITS = {[(float(lo), float(hi)) for lo, hi in lim]!r}".replace("inf", "math.inf"),
        "",
        "",
        "def init():",
        f"    return {list(p.latent_init)!r}",
        "",
        "",
        "def readout(z, y, r):",
        f"    raw = [{', '.join(code(e) for e in p.g)}]",
        "    return [min(max(v, lo), hi) for v, (lo, hi) in zip(raw, LIMITS)]",
        "",
        "",
        "def dz(z, y, u, r):",
        f"    return [{', '.join(code(e) for e in p.f)}]",
        "",
        "",
        "def step(z, y, r):",
        '    """One tick of the sampled-data contract: returns (u_k, z_{k+1})."""',
        "    u = readout(z, y, r)",
    ]
    if not p.latent:
        out.append("    return u, z")
    elif p.integrator == "discrete":
        out.append("    return u, dz(z, y, u, r)")
    elif p.integrator == "euler":
        out.append("    return u, [a + DT * b for a, b in zip(z, dz(z, y, u, r))]")
    else:
        out += [
            "    k1 = dz(z, y, u, r)",
            "    k2 = dz([a + DT / 2 * b for a, b in zip(z, k1)], y, u, r)",
            "    k3 = dz([a + DT / 2 * b for a, b in zip(z, k2)], y, u, r)",
            "    k4 = dz([a + DT * b for a, b in zip(z, k3)], y, u, r)",
            "    return u, [a + DT / 6 * (b + 2 * c + 2 * d + e) for a, b, c, d, e in zip(z, k1, k2, k3, k4)]",
        ]
    return "\n".join(out) + "\n"


def to_casadi(policy: SymbolicPolicy):
    """A CasADi Function `step(z, y, r) -> (u, z_next)` (SX), the contract's one tick."""
    import casadi as ca

    from plants import lower

    p = policy
    z = ca.SX.sym("z", p.nz)
    y = ca.SX.sym("y", p.ny)
    r = ca.SX.sym("r", p.nr)
    g = lower(p.g, [p.readout_inputs], "casadi")
    raw = ca.vertcat(*g(ca.vertcat(z if p.latent else y, r)))
    lo = ca.DM([lo for lo, _ in p.input_limits])
    hi = ca.DM([hi for _, hi in p.input_limits])
    u = ca.fmin(ca.fmax(raw, lo), hi)
    if p.latent:
        f = lower(p.f, [p.y, p.z, p.u, p.r], "casadi")

        z_next = latent_step(lambda zz: ca.vertcat(*f(y, zz, u, r)), z, p.dt, p.integrator)
    else:
        z_next = z
    return ca.Function("policy_step", [z, y, r], [u, z_next], ["z", "y", "r"], ["u", "z_next"])


def to_statespace(policy: SymbolicPolicy):
    """The discrete-time python-control `StateSpace` of a linear policy (inputs [y, r], outputs u,
    states z, sampling time dt), valid while no input limit is active. Refuses nonlinear policies."""
    import control

    p = policy
    if not p.latent:
        raise PolicyError("a static policy has no state; its linear gain is the Jacobian of g")
    inputs = list(p.y) + list(p.r)
    every = list(p.z) + inputs + list(p.u)
    for e in list(p.f) + list(p.g):
        if not (e.is_polynomial(*every) and sp.Poly(e, *every).total_degree() <= 1):
            raise PolicyError(f"the policy is not linear in its states and inputs ({e}); no state-space form")
    Gz = np.array(sp.Matrix(p.g).jacobian(p.z), dtype=float)
    Gw = np.array(sp.Matrix(p.g).jacobian(inputs), dtype=float) if inputs else np.zeros((p.nu, 0))
    F = sp.Matrix(p.f)
    Fz = np.array(F.jacobian(p.z), dtype=float)
    Fw = np.array(F.jacobian(inputs), dtype=float) if inputs else np.zeros((p.nz, 0))
    Fu = np.array(F.jacobian(p.u), dtype=float)
    offset = np.array([e.subs({s: 0 for s in every}) for e in list(p.f) + list(p.g)], dtype=float)
    if np.any(offset != 0):
        raise PolicyError("the policy has constant offsets; its state-space form would not be linear")
    # u_k = Gz z_k + Gw w_k is held over the step, so the latent ODE is dz = Fz z + c with a constant
    # c = Fw w + Fu u. One step maps z to T z + S c, with T and S the integrator's polynomials in h Fz.
    n, h = p.nz, p.dt
    if p.integrator == "discrete":
        T, S = Fz, np.eye(n)
    elif p.integrator == "euler":
        T, S = np.eye(n) + h * Fz, h * np.eye(n)
    else:  # RK4 of a linear ODE: the 4th-order Taylor polynomials of exp(h Fz) and its integral
        T, S = np.eye(n), np.zeros((n, n))
        power = np.eye(n)  # Fz^(j-1)
        fact = 1.0
        for j in range(1, 5):
            fact *= j
            S = S + h**j * power / fact
            power = power @ Fz
            T = T + h**j * power / fact
    A = T + S @ Fu @ Gz
    B = S @ (Fw + Fu @ Gw)
    names_in = list(p.observations) + list(p.targets)
    return control.ss(A, B, Gz, Gw, p.dt, inputs=names_in, outputs=list(p.controls), states=list(p.latent), name="policy")
