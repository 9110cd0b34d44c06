"""Evaluate a scalar SX Function on a batch of points at once, in the CasADi virtual machine.

The SX virtual machine interprets one scalar operation per instruction (about 10-20 ns each on the
project's machine), so a sweep that maps the per-point closed loop over 1,000 points pays that price
1,000 times per operation. `batch_function` replays the SX Function's algorithm once on MX rows of
`width` columns instead: each instruction becomes one elementwise MX operation on a row of `width`
values (one per point), so the interpretation cost is paid once per batch and the arithmetic runs in
CasADi's compiled elementwise loops. The operations are the same (same op codes, same order), so the
results equal the scalar Function's bit for bit.

Inputs listed in `shared` are one column shared by every point (e.g. the noise of a sweep's base
scenario); the others are (n, width) matrices, column j for point j.
"""

from __future__ import annotations

import casadi as ca


def _column(f: ca.Function, i: int, kind: str) -> None:
    sp = f.sparsity_in(i) if kind == "input" else f.sparsity_out(i)
    if sp.size2() != 1:
        name = f.name_in(i) if kind == "input" else f.name_out(i)
        raise ValueError(
            f"batch_function: {kind} {name!r} of {f.name()} is {sp.size1()}x{sp.size2()}; only column vectors are supported"
        )


def batch_function(f: ca.Function, width: int, shared=(), name: str | None = None) -> ca.Function:
    """The SX Function `f` (column-vector inputs and outputs) evaluated on `width` points at once.

    Returns an MX Function with the same inputs, each (n, width) except those in `shared` (n, 1),
    and the same outputs as (n, width) matrices.
    """
    if not f.is_a("SXFunction"):
        raise TypeError(f"batch_function needs an SX Function; {f.name()} is {f.class_name()} (expand it first)")
    shared = set(shared)
    inputs, rows = [], []
    for i in range(f.n_in()):
        _column(f, i, "input")
        n = f.size1_in(i)
        s = ca.MX.sym(f.name_in(i), n, 1 if i in shared else width)
        inputs.append(s)
        rows.append(ca.vertsplit(s) if n else [])
    work: list = [None] * f.sz_w()
    outs = []
    for i in range(f.n_out()):
        _column(f, i, "output")
        outs.append([None] * f.nnz_out(i))
    for k in range(f.n_instructions()):
        op = f.instruction_id(k)
        a = f.instruction_input(k)
        o = f.instruction_output(k)
        if op == ca.OP_INPUT:
            work[o[0]] = rows[a[0]][a[1]]
        elif op == ca.OP_OUTPUT:
            outs[o[0]][o[1]] = work[a[0]]
        elif op == ca.OP_CONST:
            work[o[0]] = ca.MX(f.instruction_constant(k))
        elif len(a) == 1:
            work[o[0]] = ca.MX.unary(op, work[a[0]])
        elif len(a) == 2:
            work[o[0]] = ca.MX.binary(op, work[a[0]], work[a[1]])
        else:
            raise ValueError(f"batch_function: operation {op} of {f.name()} has {len(a)} operands")
    results = []
    for i in range(f.n_out()):
        n = f.size1_out(i)
        dense: list = [ca.MX.zeros(1, width)] * n
        for e, r in zip(outs[i], f.sparsity_out(i).row()):
            dense[r] = e if e.size2() == width else ca.repmat(e, 1, width)
        results.append(ca.vertcat(*dense) if n else ca.MX(0, width))
    return ca.Function(
        name or f"{f.name()}_batch",
        inputs,
        results,
        [f.name_in(i) for i in range(f.n_in())],
        [f.name_out(i) for i in range(f.n_out())],
    )


__all__ = ["batch_function"]
