"""Variation of trees on the host: ramped half-and-half, crossovers and mutations.

Trees are handled here as prefix lists of `(code, const)` tokens (see `_trees`); every operator
returns a valid tree within the node budget and depth limit (an offspring that would exceed
them is rejected and the parent kept). Crossover only pairs trees in the same position of two
individuals (same inputs, same role). The random numbers come from a numpy `Generator` seeded
from the generation's key, so a resumed run breeds exactly the same offspring.

(An array version of these operators in JAX compiled for minutes on a two-core CPU, while the
host version takes a fraction of a second per generation; the evaluation, where the time goes,
is one compiled JAX program.)
"""

from __future__ import annotations

import numpy as np

from ._trees import EMPTY, Tokens

CROSSOVER_KINDS = ("subtree", "uniform", "tree")
MUTATION_KINDS = ("operator", "leaf", "insert", "delete", "subtree", "constant")

Tree = list  # of (code, const)


def end(tok: Tokens, tree: Tree, i: int) -> int:
    """One past the last token of the subtree rooted at `i`."""
    need = 1
    ar = tok.arity
    while need:
        need += ar[tree[i][0]] - 1
        i += 1
    return i


def depth(tok: Tokens, tree: Tree) -> int:
    ar = tok.arity
    best, stack = 0, [0]
    for c, _ in tree:
        d = stack.pop()
        best = max(best, d)
        stack.extend([d + 1] * int(ar[c]))
    return best


def node_depths(tok: Tokens, tree: Tree) -> list[int]:
    ar = tok.arity
    out, stack = [], [0]
    for c, _ in tree:
        d = stack.pop()
        out.append(d)
        stack.extend([d + 1] * int(ar[c]))
    return out


def fits(tok: Tokens, tree: Tree) -> bool:
    return len(tree) <= tok.max_nodes and depth(tok, tree) <= tok.max_depth


def to_arrays(tok: Tokens, tree: Tree, dtype) -> tuple[np.ndarray, np.ndarray]:
    code = np.full(tok.max_nodes, EMPTY, np.int32)
    const = np.zeros(tok.max_nodes, dtype)
    for k, (c, v) in enumerate(tree):
        code[k] = c
        const[k] = v
    return code, const


def from_arrays(code: np.ndarray, const: np.ndarray) -> Tree:
    n = int((code >= 0).sum())
    return [(int(code[k]), float(const[k])) for k in range(n)]


class Breeder:
    """Random trees and variation for one run (alphabet, allowed inputs per tree, settings)."""

    def __init__(self, tok: Tokens, allowed: np.ndarray, cfg):
        self.tok, self.allowed, self.cfg = tok, np.asarray(allowed), cfg
        w = np.asarray(tok.weights, float)
        self.fw = w / w.sum()
        self.farity = tok.arity[: tok.n_f]

    # Random material -------------------------------------------------------------------------
    def leaf(self, rng, t: int) -> tuple[int, float]:
        vars_ = np.flatnonzero(self.allowed[t])
        if vars_.size == 0 or rng.random() < self.cfg.const_prob:
            return self.tok.const_code, float(self.cfg.const_sd * rng.standard_normal())
        return self.tok.n_f + int(rng.choice(vars_)), 0.0

    def func(self, rng, arity: int | None = None, exclude: int | None = None) -> int | None:
        w = self.fw.copy()
        if arity is not None:
            w[self.farity != arity] = 0
        if exclude is not None:
            w[exclude] = 0
        if w.sum() <= 0:
            return None
        return int(rng.choice(len(w), p=w / w.sum()))

    def random_tree(self, rng, t: int, limit: int, full: bool, budget: int) -> Tree:
        """Koza's grow or full method within `budget` nodes and depth `limit`."""
        out: Tree = []
        stack = [0]
        while stack:
            d = stack.pop()
            room = budget - len(out) - 1 - len(stack)  # slots left after this one and the open ones
            ok = self.farity <= room
            if d < limit and ok.any() and (full or rng.random() < 0.5):
                w = np.where(ok, self.fw, 0)
                f = int(rng.choice(len(w), p=w / w.sum()))
                out.append((f, 0.0))
                stack.extend([d + 1] * int(self.farity[f]))
            else:
                out.append(self.leaf(rng, t))
        return out

    def individual(self, rng, index: int) -> list[Tree]:
        """Ramped half-and-half: depth 1..init_depth cycling with `index`, full and grow alternating."""
        d = 1 + index % self.cfg.init_depth
        full = (index // self.cfg.init_depth) % 2 == 0
        return [self.random_tree(rng, t, d, full, self.tok.max_nodes) for t in range(self.allowed.shape[0])]

    # Mutation --------------------------------------------------------------------------------
    def mutate(self, rng, tree: Tree, t: int, kind: str) -> Tree:
        tok = self.tok
        ar = tok.arity
        n = len(tree)
        ops = [i for i, (c, _) in enumerate(tree) if ar[c] > 0]
        new = list(tree)
        if kind == "operator" and ops:
            i = int(rng.choice(ops))
            f = self.func(rng, int(ar[tree[i][0]]), exclude=tree[i][0])
            if f is not None:
                new[i] = (f, 0.0)
        elif kind == "leaf" or (kind in ("operator", "delete") and not ops):
            leaves = [i for i in range(n) if ar[tree[i][0]] == 0]
            i = int(rng.choice(leaves))
            new[i] = self.leaf(rng, t)
        elif kind == "insert":
            i = int(rng.integers(n))
            e = end(tok, tree, i)
            f = self.func(rng)
            extra = [self.leaf(rng, t)] if self.farity[f] == 2 else []
            if rng.random() < 0.5 or not extra:
                sub = [(f, 0.0)] + tree[i:e] + extra
            else:
                sub = [(f, 0.0)] + extra + tree[i:e]
            new = tree[:i] + sub + tree[e:]
        elif kind == "delete":
            i = int(rng.choice(ops))
            e = end(tok, tree, i)
            c = i + 1
            if ar[tree[i][0]] == 2 and rng.random() < 0.5:
                c = end(tok, tree, i + 1)
            new = tree[:i] + tree[c : end(tok, tree, c)] + tree[e:]
        elif kind == "subtree":
            i = int(rng.integers(n))
            e = end(tok, tree, i)
            d = node_depths(tok, tree)[i]
            budget = tok.max_nodes - (n - (e - i))
            limit = min(tok.max_depth - d, self.cfg.init_depth)
            new = tree[:i] + self.random_tree(rng, t, limit, False, budget) + tree[e:]
        elif kind == "constant":
            consts = [i for i, (c, _) in enumerate(tree) if c == tok.const_code]
            if consts:
                i = int(rng.choice(consts))
                v = tree[i][1]
                new[i] = (tok.const_code, float(v + self.cfg.const_mutation_sd * max(1.0, abs(v)) * rng.standard_normal()))
            else:
                return self.mutate(rng, tree, t, "leaf")
        return new if fits(tok, new) else tree

    # Crossover -------------------------------------------------------------------------------
    def crossover(self, rng, a: Tree, b: Tree, kind: str) -> tuple[Tree, Tree]:
        tok = self.tok
        if kind == "tree":
            return list(b), list(a)
        if kind == "subtree":
            i, j = int(rng.integers(len(a))), int(rng.integers(len(b)))
            ea, eb = end(tok, a, i), end(tok, b, j)
            ca = a[:i] + b[j:eb] + a[ea:]
            cb = b[:j] + a[i:ea] + b[eb:]
            return (ca if fits(tok, ca) else list(a)), (cb if fits(tok, cb) else list(b))
        # uniform: exchange the labels of nodes at the same place with the same arity
        pa, pb = self._paths(a), self._paths(b)
        where_b = {p: k for k, p in enumerate(pb)}
        ca, cb = list(a), list(b)
        ar = tok.arity
        for i, p in enumerate(pa):
            j = where_b.get(p)
            if j is not None and ar[a[i][0]] == ar[b[j][0]] and rng.random() < 0.5:
                ca[i], cb[j] = b[j], a[i]
        return ca, cb

    def _paths(self, tree: Tree) -> list[tuple[int, ...]]:
        ar = self.tok.arity
        out, stack = [], [()]
        for c, _ in tree:
            p = stack.pop()
            out.append(p)
            stack.extend([(*p, k) for k in reversed(range(int(ar[c])))])
        return out

    # Offspring -------------------------------------------------------------------------------
    def offspring(self, rng, pa: list[Tree], pb: list[Tree], p_cross: float) -> tuple[list[Tree], list[Tree]]:
        """Two children of two individuals: crossover (with probability `p_cross`) or mutation,
        applied to each tree with probability `tree_change_prob` (at least one tree)."""
        cfg = self.cfg
        T = len(pa)
        ca, cb = [list(x) for x in pa], [list(x) for x in pb]
        if rng.random() < p_cross:
            kind = CROSSOVER_KINDS[int(rng.choice(3, p=np.asarray(cfg.crossover_kinds) / sum(cfg.crossover_kinds)))]
            for t in self._trees(rng, T):
                ca[t], cb[t] = self.crossover(rng, pa[t], pb[t], kind)
        else:
            mw = np.asarray(cfg.mutation_kinds, float) / sum(cfg.mutation_kinds)
            for child in (ca, cb):
                for t in self._trees(rng, T):
                    child[t] = self.mutate(rng, child[t], t, MUTATION_KINDS[int(rng.choice(len(mw), p=mw))])
        return ca, cb

    def _trees(self, rng, T: int) -> list[int]:
        change = [t for t in range(T) if rng.random() < self.cfg.tree_change_prob]
        return change or [int(rng.integers(T))]
