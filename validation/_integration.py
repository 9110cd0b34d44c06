"""Does the fixed step represent the plant's ODE? The policy's costliest held-out trajectories,
and as many random others, replayed with CVODES.

Every figure of the certificate comes from the simulator's fixed-step scheme (`task.substeps`
Euler-Heun steps per tick). Where the plant is stiff somewhere in its state space (a reaction that
ignites, a fast mode at a limit), a step that is accurate on most trajectories can be far off, or
diverge, on the few that go there; those are also the trajectories that cost most. So the check
replays the policy's `k` highest-cost held-out trajectories (non-finite first), and `k` others
drawn at random (a step can be off everywhere by a little), with the same noise,
the same controller ticks and CVODES between ticks (`build_closed_loop(integrator="cvodes")`), and
compares the costs. A fixed step that diverges where CVODES stays finite is the plain case of a
step too long for the plant. A chaotic trajectory is not compared: its cost after any
perturbation is another draw, so one trajectory says nothing about the step (CVODES at a 10 x
looser tolerance tells them apart: its cost moves with the tolerance).
"""

from __future__ import annotations

import math
import time

import numpy as np

from ._closedloop import NOMINAL_KNOBS, build_closed_loop, noise_from_simulator

LOOSER = 10.0  # CVODES again at this factor on its tolerance: does the reference itself hold?
CHAOTIC = 1e-3  # a trajectory whose CVODES cost moves this much with the tolerance is not compared


def relative_difference(value: float, reference: float, scale: float = 0.0) -> float:
    """|value - reference| over the larger of |reference| and `scale` (a typical cost); 0 when both
    are non-finite (two integrators that both diverge: the plant does), inf when one is."""
    if not math.isfinite(value) or not math.isfinite(reference):
        return 0.0 if not math.isfinite(value) and not math.isfinite(reference) else math.inf
    return abs(value - reference) / max(abs(reference), abs(scale), 1e-12)


def integration_check(task, policy, costs, scen, k: int, tol: float = 1e-9, seed: int = 0) -> dict:
    """Replay the `k` highest-cost of the trajectories `scen` (whose fixed-step costs under `policy`
    are `costs`), and `k` others drawn at random (`seed`), with CVODES between ticks. Returns the
    replays (index, the simulator's cost, the CasADi fixed-step cost, CVODES's cost and method, how
    far CVODES's cost moves at a 10 x looser tolerance, the relative difference of the fixed step to
    CVODES, or None where the trajectory is chaotic or CVODES could not integrate it) and the
    largest difference over those compared."""
    from synth import Simulator

    if task.plant.time == "discrete":
        return {"reason": "the plant is in discrete time: its step is the model, not an integration"}
    costs = np.asarray(costs, float)
    k = min(int(k), costs.size)
    if k <= 0:
        return {"reason": "no trajectories replayed (integration_replays = 0)"}
    t0 = time.perf_counter()
    ranked = np.argsort(-np.where(np.isnan(costs), np.inf, costs), kind="stable")
    others = np.random.default_rng(seed).permutation(ranked[k:])[:k]  # (where a step errs that is not the costliest)
    order = np.concatenate([ranked[:k], others])
    sim = Simulator(task)
    fixed = build_closed_loop(task, policy)
    loops: dict = {}

    def cvodes(method, tolerance):  # each closed loop built once, when first needed
        if (method, tolerance) not in loops:
            loops[method, tolerance] = build_closed_loop(task, policy, integrator=method, tol=tolerance)
        return loops[method, tolerance]

    replays = []
    for i in order.tolist():
        s = scen.take(i)
        noise = noise_from_simulator(sim.noise_sequence(s))
        x0, r, p = (np.asarray(a, float) for a in (s.x0, s.r, s.p))
        c_fixed = fixed.run(x0, r, p, NOMINAL_KNOBS, noise)["cost"]
        row = {"trajectory": i, "cost_simulator": float(costs[i]), "cost_fixed_step": c_fixed}
        errors = []
        # BDF first; where its Newton iterations fail (a Jacobian that is not finite, as sqrt(max(h, 0))
        # at an empty tank), Adams without a Jacobian. Neither: this trajectory is not compared.
        for method in ("cvodes", "cvodes-nonstiff"):
            try:
                c_cv = cvodes(method, tol).run(x0, r, p, NOMINAL_KNOBS, noise)["cost"]
            except RuntimeError as err:
                errors.append(f"{method}: {_reason(err)}")
                continue
            # A chaotic trajectory (a swing-up) amplifies any difference, an integrator's or a
            # tolerance's, until its cost is another draw: then CVODES disagrees with itself at a
            # looser tolerance, and one trajectory says nothing about the step.
            try:
                c_loose = cvodes(method, tol * LOOSER).run(x0, r, p, NOMINAL_KNOBS, noise)["cost"]
            except RuntimeError:  # (no evidence either way)
                c_loose = None
            row.update(cost_cvodes=c_cv, cost_cvodes_looser=c_loose, cvodes_method=method)
            break
        else:
            row.update(cost_cvodes=None, cost_cvodes_looser=None, cvodes_method=None)
        row["errors"] = errors
        replays.append(row)
    # Differences relative to the larger of a replay's own CVODES cost and the replays' mean CVODES
    # cost: a cheap trajectory's small error is not a large one.
    reference = [row["cost_cvodes"] for row in replays if row["cost_cvodes"] is not None and math.isfinite(row["cost_cvodes"])]
    scale = float(np.mean(np.abs(reference))) if reference else 0.0
    for row in replays:
        c_cv, c_loose = row["cost_cvodes"], row["cost_cvodes_looser"]
        row["sensitivity"] = None if c_cv is None or c_loose is None else relative_difference(c_loose, c_cv, scale)
        row["chaotic"] = row["sensitivity"] is not None and row["sensitivity"] > CHAOTIC
        compare = c_cv is not None and not row["chaotic"]
        row["relative_difference"] = relative_difference(row["cost_fixed_step"], c_cv, scale) if compare else None
    compared = [row for row in replays if row["relative_difference"] is not None]
    out = {
        "replays": replays,
        "of": int(costs.size),
        "compared": len(compared),
        "substeps": int(task.substeps),
        "step": task.dt / task.substeps,
        "cvodes_tolerance": tol,
        "cost_scale": scale,
        "seconds": time.perf_counter() - t0,
    }
    if compared:
        worst = max(compared, key=lambda row: row["relative_difference"])
        out.update(max_relative_difference=worst["relative_difference"], worst=worst)
    return out


def _reason(err: Exception) -> str:
    """CVODES's own complaint (CV_CONV_FAILURE, CV_TOO_MUCH_WORK, ...) out of CasADi's long message."""
    text = str(err)
    for line in text.splitlines():
        if "CVode returned" in line:
            return line.split("CVode returned", 1)[1].strip().split(".")[0].strip('" ')
    return text.splitlines()[0][:200] if text else type(err).__name__
