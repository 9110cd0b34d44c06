"""The per-trajectory LQG oracle: one LQG design (`validation.lqg`) per held-out trajectory, at
that trajectory's own parameters and target, batched by policy structure for the simulator. For
tasks whose parameters vary it is the reference a policy that must serve the whole box is measured
against."""

from __future__ import annotations

import numpy as np

from plants import Task

from .lqg import LQGError, lqg


def oracle(task: Task, params: np.ndarray, variant: str = "lqg", targets: np.ndarray | None = None):
    """Per-trajectory LQG for tasks whose parameters vary: a `Controller` and stacked parameters,
    one design per row of `params` (and of `targets` when given; else at the nominal target, whose
    operating point the policy extrapolates linearly to other targets), to run with
    `Simulator.run_paired` on the same scenarios. Raises the first failing row's error, and
    `LQGError` when the designs differ in structure (`oracle_where_possible` handles both)."""
    groups = _oracle(task, params, variant, targets, strict=True)
    if len(groups) != 1:
        raise LQGError(
            "oracle designs differ in structure; cannot batch them (oracle_where_possible groups them)"
            if groups
            else "oracle: no parameter rows"
        )
    controller, stacked, _ = groups[0]
    return controller, stacked


def oracle_where_possible(task: Task, params: np.ndarray, variant: str = "lqg", targets: np.ndarray | None = None) -> list:
    """`oracle` on the rows of `params` (and `targets`) that have a design (at some parameters or
    targets no input within the limits holds the operating point, or no stabilising LQG exists), as
    one `(controller, stacked parameters, row indices)` per policy structure (designs can differ in
    structure, e.g. where a slope of the operating point vanishes); [] when no row has a design.
    `run_oracle` simulates them."""
    return _oracle(task, params, variant, targets, strict=False)


def run_oracle(sim, groups: list, scenarios) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The groups of `oracle_where_possible` on their rows of `scenarios` (a `Simulator`'s, the
    same rows the parameters were taken from): `(rows, cost, success)`, rows ascending."""
    if not groups:
        return np.zeros(0, int), np.zeros(0), np.zeros(0, bool)
    rows = np.concatenate([r for *_, r in groups])
    cost, success = [], []
    for controller, stacked, r in groups:
        ro = sim.run_paired(controller, stacked, scenarios.take(r))
        cost.append(np.asarray(ro.cost, float))
        success.append(np.asarray(ro.success, bool))
    order = np.argsort(rows, kind="stable")
    return rows[order], np.concatenate(cost)[order], np.concatenate(success)[order]


def _oracle(task: Task, params: np.ndarray, variant: str, targets, strict: bool) -> list:
    from synth import compile_policy

    params = np.asarray(params, float)
    targets = [None] * len(params) if targets is None else np.asarray(targets, float)
    if len(targets) != len(params):
        raise ValueError(f"oracle: {len(targets)} targets for {len(params)} parameter rows; give one per row")
    groups: dict[int, tuple] = {}  # id of the compiled controller (one per structure) -> (controller, parameters, rows)
    for i, (row, target) in enumerate(zip(params, targets)):
        try:
            policy = lqg(task, variant, p=row, r=target)
        except (LQGError, ValueError, ArithmeticError):
            if strict:
                raise
            continue
        controller, parameters = compile_policy(policy, task)
        group = groups.setdefault(id(controller), (controller, [], []))
        group[1].append(parameters)
        group[2].append(i)
    import jax
    import jax.numpy as jnp

    return [
        (controller, jax.tree_util.tree_map(lambda *a: jnp.stack(a), *stacked), np.asarray(rows, int))
        for controller, stacked, rows in groups.values()
    ]


__all__ = ["oracle", "oracle_where_possible", "run_oracle"]
