"""Sympy simplification of a few individuals per generation (host side, deterministic).

A tree is turned into a sympy expression (sympy's automatic evaluation already folds constants
and merges like terms), simplified with `sympy.simplify`, and encoded back when the result fits
the node budget and depth and is not larger. Which individuals are simplified is drawn from the
generation's key, so a resumed run simplifies exactly the same ones.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ._trees import NotEncodable, from_sympy, to_sympy


def simplify_tree(tok, names, allowed, code, const, simplify: bool = True):
    """The simplified (code, const) of one tree, or None if it is not smaller or not encodable."""
    try:
        expr = to_sympy(tok, names, code, const)
        if simplify:
            expr = sp.simplify(expr)
        new_code, new_const = from_sympy(tok, names, allowed, expr, const.dtype)
    except (NotEncodable, RecursionError, TypeError, ValueError, ZeroDivisionError):
        return None
    if int((new_code >= 0).sum()) > int((code >= 0).sum()):
        return None
    if not all(np.isfinite(new_const)):
        return None
    return new_code, new_const


def simplify_slots(ctx, code: np.ndarray, const: np.ndarray, rng: np.random.Generator) -> int:
    """Simplify, in place, the number of individuals per island the configuration asks for
    (never the elites); returns how many trees changed."""
    from ._trees import check_tree

    I, n, T, L = code.shape
    lay = ctx.layout
    changed = 0
    for i in range(I):
        count = int(ctx.n_simplify[i])
        if count <= 0:
            continue
        slots = ctx.elite + rng.choice(n - ctx.elite, size=min(count, n - ctx.elite), replace=False)
        for s in sorted(slots):
            for t in range(T):
                res = simplify_tree(ctx.tok, lay.names, lay.allowed[t], code[i, s, t], const[i, s, t])
                if res is None:
                    continue
                if not check_tree(ctx.tok, res[0]):
                    continue
                if np.array_equal(res[0], code[i, s, t]) and np.array_equal(res[1], const[i, s, t]):
                    continue
                code[i, s, t], const[i, s, t] = res
                changed += 1
    return changed
