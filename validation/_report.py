"""`report.html`: a self-contained, printable page rendered from `templates/report.html.j2`.

Equations are MathML (sympy's presentation printer), figures inline SVG (matplotlib), no script and
no network access.
"""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

import numpy as np
import sympy as sp

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"


def _svg(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    text = re.sub(r"<metadata>.*?</metadata>", "", text[text.index("<svg") :], flags=re.S)  # no dates: reproducible
    return text


def _figure(w=7.0, h=3.2, ncols=1, nrows=1):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "symctl", "font.size": 9})
    return plt.subplots(nrows, ncols, figsize=(w, h), squeeze=False)


def _legend(ax, **kw) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kw)


def _mathml(lhs: str, expr: sp.Expr) -> str:
    from sympy.printing.mathml import mathml

    body = mathml(sp.Eq(sp.Symbol(lhs), expr, evaluate=False), printer="presentation")
    return f'<math xmlns="http://www.w3.org/1998/Math/MathML" display="block">{body}</math>'


def equations(policy, max_ops: int = 400) -> list[dict]:
    """One entry per latent state and control: name, MathML (or text when very large), plain text;
    none for a network policy (no expressions: the report shows its description)."""
    from synth._controller import AbstractNetworkPolicy

    if isinstance(policy, AbstractNetworkPolicy):
        return []
    out = []
    for name, e in list(zip(policy.latent, policy.f)) + list(zip(policy.controls, policy.g)):
        lhs = (f"{name}[k+1]" if policy.integrator == "discrete" else f"d{name}/dt") if name in policy.latent else name
        e = sp.N(e, 5)
        ops = int(sp.count_ops(e))
        out.append({"lhs": lhs, "mathml": _mathml(lhs, e) if ops <= max_ops else None, "text": sp.sstr(e), "ops": ops})
    return out


def _num(v):
    return v if isinstance(v, (int, float)) else (math.inf if v == "inf" else -math.inf if v == "-inf" else math.nan)


def fig_costs(mc: dict) -> str:
    fig, axs = _figure(7.5, 3.0, ncols=2)
    ax1, ax2 = axs[0]
    names = [k for k in mc["costs"] if k != "oracle"] + (["oracle"] if "oracle" in mc["costs"] else [])
    data = {k: np.array([_num(v) for v in mc["costs"][k]], float) for k in names}
    fin = {k: v[np.isfinite(v)] for k, v in data.items()}
    allv = np.concatenate([v for v in fin.values() if v.size]) if any(v.size for v in fin.values()) else np.array([1.0])
    pos = allv[allv > 0]
    bins = np.logspace(np.log10(pos.min()), np.log10(pos.max()) + 1e-9, 40) if pos.size else 30
    for k, v in fin.items():
        ax1.hist(v, bins=bins, histtype="step", label=f"{k} (n={v.size})")
    if pos.size:
        ax1.set_xscale("log")
    ax1.set_xlabel("cost")
    ax1.set_ylabel("trajectories")
    _legend(ax1, fontsize=7)
    ax1.set_title("cost distribution (common random numbers)")
    a, b = data["lqg"], data["policy"]
    ok = np.isfinite(a) & np.isfinite(b)
    ax2.loglog(a[ok], b[ok], ".", ms=2)
    lo, hi = np.nanmin(np.concatenate([a[ok], b[ok]])), np.nanmax(np.concatenate([a[ok], b[ok]]))
    ax2.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax2.set_xlabel("LQG cost")
    ax2.set_ylabel("policy cost")
    ax2.set_title("paired costs per trajectory")
    return _svg(fig)


def fig_trajectories(task, saved: dict, policy, lqg_policy) -> str:
    nx = task.plant.nx
    nz = max(1, min(policy.nz, 6))
    fig, axs = _figure(7.5, 2.0 * 3, ncols=1, nrows=3)
    ax_x, ax_u, ax_z = axs[0][0], axs[1][0], axs[2][0]
    for name, style in (("policy", "-"), ("lqg", ":")):
        if name not in saved:
            continue
        sv = saved[name]
        t = sv["t"]
        for i in range(nx):
            ax_x.plot(t, sv["x"][:, i], style, lw=1, label=f"{task.plant.states[i]} ({name})")
        for i in range(task.plant.nu):
            ax_u.plot(t[:-1], sv["u"][:, i], style, lw=1, label=f"{task.plant.inputs[i]} ({name})")
    sv = saved.get("policy")
    if sv is not None and policy.nz:
        t = sv["t"]
        for i in range(nz):
            ax_z.plot(t, sv["z"][:, i], lw=1, label=policy.latent[i])
        ax_z.set_title("latent states of the policy (first held-out scenario)")
    else:
        ax_z.set_title("the policy is static (no latent states)")
    ax_x.set_title("plant states (solid: policy, dotted: LQG)")
    ax_u.set_title("control input")
    for ax in (ax_x, ax_u, ax_z):
        _legend(ax, fontsize=6, ncol=3)
        ax.set_xlabel("t [s]")
    fig.tight_layout()
    return _svg(fig)


def fig_sweep(results: dict) -> list[dict]:
    figs = []
    sw = results["sweep"].get("parameter_box")
    if sw and sw["n"]:
        P = np.array(sw["points"], float)
        c = np.array([_num(v) for v in sw["cost"]], float)
        dims = sw["dims"]
        k = min(len(dims), 4)
        import itertools

        pairs = list(itertools.combinations(range(k), 2))[:6] if k >= 2 else [(0, 0)]
        n = len(pairs)
        fig, axs = _figure(7.5, 2.4 * math.ceil(n / 3), ncols=min(n, 3), nrows=math.ceil(n / 3))
        cc = np.where(np.isfinite(c), c, np.nanmax(np.where(np.isfinite(c), c, np.nan)) if np.isfinite(c).any() else 1.0)
        for ax, (i, j) in zip([a for row in axs for a in row], pairs):
            sc = ax.scatter(P[:, i], P[:, j] if i != j else c, c=np.log10(np.maximum(cc, 1e-12)), s=6, cmap="viridis")
            bad = ~np.isfinite(c)
            ax.scatter(P[bad, i], (P[bad, j] if i != j else cc[bad]), marker="x", c="red", s=12)
            ax.set_xlabel(dims[i]["name"])
            ax.set_ylabel(dims[j]["name"] if i != j else "cost")
        fig.colorbar(sc, ax=[a for row in axs for a in row], label="log10 cost")
        figs.append({"title": f"parameter-box sweep ({sw['design']}, {sw['n']} points; red x: diverged)", "svg": _svg(fig)})
    ic = results["sweep"]["stress"].get("initial_state")
    if ic and len(ic["dims"]) == 2:
        a0, a1 = (np.array(a) for a in ic["axes"])
        c = np.array([_num(v) for v in ic["cost"]], float).reshape(len(a0), len(a1))
        fig, axs = _figure(4.5, 3.5)
        ax = axs[0][0]
        im = ax.pcolormesh(
            a1, a0, np.log10(np.maximum(np.where(np.isfinite(c), c, np.nan), 1e-12)), shading="nearest", cmap="viridis"
        )
        ax.set_xlabel(ic["dims"][1]["name"])
        ax.set_ylabel(ic["dims"][0]["name"])
        fig.colorbar(im, ax=ax, label="log10 cost")
        figs.append({"title": "initial-condition grid (blank: diverged)", "svg": _svg(fig)})
    st = results["sweep"]["stress"]
    fig, axs = _figure(7.5, 2.4, ncols=4)
    for ax, key, label in zip(
        axs[0],
        ("gain", "obs_scale", "process_scale", "delay_ticks"),
        ("actuator gain", "observation-noise scale", "process-noise scale", "measurement delay [ticks]"),
    ):
        v = np.array(st[key]["values"], float)
        c = np.array([_num(x) for x in st[key]["cost"]], float)
        ax.plot(v, np.where(np.isfinite(c), c, np.nan), "o-", ms=3)
        ax.set_xlabel(label)
        ax.set_yscale("log")
    axs[0][0].set_ylabel("cost")
    fig.tight_layout()
    figs.append({"title": "stress sweeps (policy, base scenario)", "svg": _svg(fig)})
    return figs


def fig_worst(task, wc_traj: dict) -> str:
    fig, axs = _figure(7.5, 4.0, nrows=2)
    for name, style in (("policy", "-"), ("lqg", ":")):
        tr = wc_traj[name]
        for i in range(task.plant.nx):
            axs[0][0].plot(tr["t"], tr["x"][:, i], style, lw=1, label=f"{task.plant.states[i]} ({name})")
        for i in range(task.plant.nu):
            axs[1][0].plot(tr["t"][:-1], tr["u"][:, i], style, lw=1, label=f"{task.plant.inputs[i]} ({name})")
    axs[0][0].set_title("worst case found: plant states (solid: policy, dotted: LQG at the same parameters)")
    axs[1][0].set_xlabel("t [s]")
    for a in axs:
        _legend(a[0], fontsize=6, ncol=3)
    fig.tight_layout()
    return _svg(fig)


def render_report(results: dict, task, policy, lqg_policy, saved: dict, wc_traj: dict | None) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["g"] = lambda v, d=4: (
        f"{v:.{d}g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else ("–" if v is None else str(v))
    )
    figs = {
        "costs": fig_costs(results["monte_carlo"]),
        "trajectories": fig_trajectories(task, saved, policy, lqg_policy),
        "sweeps": fig_sweep(results),
        "worst": fig_worst(task, wc_traj) if wc_traj else None,
    }
    return env.get_template("report.html.j2").render(
        r=results, task=task, eqs=equations(policy), figs=figs, policy_text=str(policy), integrator=policy.integrator
    )
