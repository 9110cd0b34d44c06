"""Near-singular terms of a policy: denominators that come close to zero on what the policy sees.

A candidate whose gain swings by orders of magnitude between rest and the transients (a GP term
`0.002 / (xhat1**2 + 0.0029)`) costs little on average and says little about its robustness; the
screen (`validation._screen`) flags it. A Kalman filter's division by its innovation variance is
not such a term: the variance shrinks with the covariance the same way on every trajectory
(`scheduled_latent`), a gain schedule in time rather than in the signals.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from plants import lower
from synth import SymbolicPolicy

SINGULAR_RATIO = 0.02  # a denominator whose smallest |value| is below this fraction of its largest is near-singular


def scheduled_latent(policy: SymbolicPolicy) -> set[sp.Symbol]:
    """The latent states whose update reads no observation, target, control or other latent state
    outside this set: they follow the same sequence on every trajectory (a Kalman filter's
    covariance), so what they compute is a gain schedule in time, not in the signals."""
    inputs = set(policy.y) | set(policy.u) | set(policy.r)
    free = {z: e.free_symbols for z, e in zip(policy.z, policy.f)}
    scheduled = set(policy.z)
    changed = True
    while changed:
        changed = False
        for z in list(scheduled):
            if free[z] & inputs or (free[z] & set(policy.z)) - scheduled:
                scheduled.discard(z)
                changed = True
    return scheduled


def denominators(policy: SymbolicPolicy) -> list[tuple[str, sp.Expr]]:
    """Every denominator of the policy's expressions that varies with the signals, with where it
    occurs: the bases of powers with a negative exponent (`a / b` is `a * b**-1`; `b**-0.5` counts
    too) that read something beyond constants and time-scheduled latent states (`scheduled_latent`:
    a Kalman gain shrinking with its covariance is meant to)."""
    found: list[tuple[str, sp.Expr]] = []
    seen = set()
    fixed = scheduled_latent(policy)
    named = [(f"f[{i}] ({n})", e) for i, (n, e) in enumerate(zip(policy.latent, policy.f))]
    named += [(f"g[{i}] ({n})", e) for i, (n, e) in enumerate(zip(policy.controls, policy.g))]
    for where, e in named:
        for node in sp.preorder_traversal(e):
            if isinstance(node, sp.Pow) and node.exp.is_number and bool(node.exp < 0) and node.base.free_symbols - fixed:
                if (where, node.base) not in seen:
                    seen.add((where, node.base))
                    found.append((where, node.base))
    return found


def near_singular_terms(
    policy: SymbolicPolicy, samples: dict[sp.Symbol, np.ndarray], ratio: float = SINGULAR_RATIO
) -> list[dict]:
    """Each denominator of the policy evaluated on `samples` (symbol -> values, all the same length):
    its smallest and largest |value|, whether it changes sign, and `near_singular` when the smallest
    is below `ratio` times the largest (or it changes sign): the term it divides then swings over
    more than 1/`ratio` between rest and the transients (the largest, not the median: a controller
    at rest spends most ticks near where its denominator is smallest). Sorted with the closest to singular first;
    `index` is the sample where |value| is smallest."""
    out = []
    n = len(next(iter(samples.values()))) if samples else 0
    for where, den in denominators(policy):
        syms = sorted(den.free_symbols, key=str)
        if n == 0 or any(s not in samples for s in syms):
            continue
        fn = lower([den], [syms], "numpy")
        with np.errstate(all="ignore"):
            vals = np.broadcast_to(np.asarray(fn(np.column_stack([samples[s] for s in syms]))[0], float), (n,))
        ok = np.isfinite(vals)
        if not ok.any():
            continue
        a = np.abs(vals[ok])
        i = int(np.flatnonzero(ok)[int(np.argmin(a))])
        typical = float(a.max())
        crosses = bool(vals[ok].min() < 0 < vals[ok].max())
        rel = 0.0 if crosses or typical == 0 else float(a.min() / typical)
        out.append(
            {
                "where": where,
                "denominator": sp.sstr(den),
                "min_abs": float(a.min()),
                "max_abs": typical,
                "changes_sign": crosses,
                "ratio": rel,
                "near_singular": rel < ratio,
                "index": i,
            }
        )
    return sorted(out, key=lambda d: d["ratio"])


__all__ = ["SINGULAR_RATIO", "denominators", "near_singular_terms", "scheduled_latent"]
