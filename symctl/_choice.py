"""The certificate-aware final choice of `symctl run`.

A synthesis method ends with its own pick: the candidate with the lowest held-out cost. The
certificate asks more (margins, stability over the parameter box, a bounded worst case), and a
candidate can be cheapest on average while it fails there: a near-singular scheduling term that
makes the gain huge at rest, say. So the pipeline re-judges the method's candidates
(`candidates/*.json` when the method leaves them, else its pick) and the policy the run started
from (`seed_policy.json`, the steady-state LQG for GP-D): each gets a cost on trajectories of its
own stream ("choice", held out from training and from the certificate's Monte Carlo), with its
ratio to the optimal LQG's on the same trajectories, then, in order of cost, the certificate's
cheap checks (`validation.screen`). The first candidate that passes them (and the cost ratio) is
exported; when none does, the regular one (no near-singular term, stable at the nominal point,
at most twice the allowed cost ratio) failing the fewest stability and robustness checks, then the
cheapest, is (else the cheapest regular one), and the run says what it fails. `choice.csv` in the run folder lists every candidate with its figures.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from plants import Task
from synth import SymbolicPolicy
from synth._cost import finite_mean
from synth._prune import without_unread_latent

CHOICE_TRAJECTORIES = 256  # enough to order candidates whose costs differ by a few percent
MAX_SCREENED = 8  # candidates screened at most, cheapest first (each costs seconds)
MAX_CANDIDATES = 12  # of the method's candidates, the cheapest by its own validation cost


def candidates(
    out: Path,
    policy: SymbolicPolicy,
    export: Callable[[SymbolicPolicy], SymbolicPolicy] = lambda p: p,
) -> list[tuple[str, SymbolicPolicy]]:
    """The method's pick, its other candidates (cheapest first by its own validation cost, at most
    MAX_CANDIDATES) and the seed it started from, without repeats and without latent states the
    control never reads (`synth._prune`); the files in the run folder are in the units the method
    learnt in, `export` brings each to the task's units."""
    found: list[tuple[str, SymbolicPolicy]] = [("method's choice", policy)]
    folder = out / "candidates"
    if folder.is_dir():
        more = [(f"candidate {p.stem}", SymbolicPolicy.load(p)) for p in sorted(folder.glob("*.json"))]
        more.sort(key=lambda c: _number(c[1].provenance.get("validation_cost")))
        found += [(name, export(pol)) for name, pol in more[:MAX_CANDIDATES]]
    seed = out / "seed_policy.json"
    if seed.is_file():
        found.append(("seed (the policy the run started from)", export(SymbolicPolicy.load(seed))))
    seen, unique = set(), []
    for name, pol in found:
        pol = without_unread_latent(pol)
        key = pol.digest()
        if key not in seen:
            seen.add(key)
            unique.append((name, pol))
    return unique


def _number(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.inf
    return f if math.isfinite(f) else math.inf


def choice_costs(
    task: Task, policies: list[SymbolicPolicy], seed: int, n: int = CHOICE_TRAJECTORIES
) -> tuple[np.ndarray, np.ndarray]:
    """Mean cost (inf when a trajectory is lost) and success rate of each policy on the same `n`
    trajectories of the "choice" stream."""
    from synth import Simulator
    from synth._runfolder import stream_key

    sim = Simulator(task)
    scen = sim.scenarios(stream_key(seed, "choice"), n)
    costs, success = [], []
    for pol in policies:
        res = sim.simulate(pol, scen)
        costs.append(finite_mean(np.asarray(res.cost, float)))
        success.append(float(np.mean(np.asarray(res.success))))
    return np.array(costs), np.array(success)


def choose(
    task: Task,
    out: Path,
    policy: SymbolicPolicy,
    *,
    seed: int,
    requirements: dict | None = None,
    export: Callable[[SymbolicPolicy], SymbolicPolicy] = lambda p: p,
    say: Callable[[str], None] = print,
) -> tuple[SymbolicPolicy, dict]:
    """The exported policy (in the task's units; `policy` already is) and a record of the choice
    (also written to `choice.csv`)."""
    from validation import LQGError, design, load_requirements, policy_from_design, screen

    from ._verdict import VARIANT_NAMES

    req = load_requirements(requirements)
    cands = candidates(out, policy, export)
    try:  # one design for the certificate's reference (the optimal time-varying LQG) and lqg-p
        d = design(task)
    except LQGError:
        d = None
    if d is not None and task.varying_parameters:  # where parameters vary, the LQG that estimates them competes too
        try:
            cands.append((f"lqg-p ({VARIANT_NAMES['lqg-p']})", policy_from_design(task, d, "lqg-p")))
        except LQGError:
            pass
    reference = policy_from_design(task, d, "lqg") if d is not None else None
    all_costs, all_success = choice_costs(task, [p for _, p in cands] + ([reference] if reference is not None else []), seed)
    costs, lqg_cost = all_costs[: len(cands)], (all_costs[-1] if reference is not None else math.nan)
    ratio_max = req.get("cost_ratio_max")
    # The certificate bounds the success rate from below on the Monte Carlo; a candidate whose rate
    # on the choice trajectories is already under the bar cannot pass it (on the cruise control a
    # GP-D law cheaper than its integral-action seed missed the band on 1.4 % of the trajectories).
    success_min = req.get("success_rate_min") if task.success is not None else None
    order = np.argsort(costs, kind="stable")
    rows: list[dict[str, Any]] = [
        {
            "candidate": name,
            "complexity": sum(pol.complexity().values()),
            "choice_cost": costs[k],
            "ratio_to_lqg": costs[k] / lqg_cost if 0 < lqg_cost < math.inf else None,
            "screened": False,
            "success_rate": all_success[k],
        }
        for k, (name, pol) in enumerate(cands)
    ]
    chosen, passed = None, False
    for rank, k in enumerate(order):
        if rank >= MAX_SCREENED or not math.isfinite(costs[k]):
            break
        # the worst-vertex ratio is to the cost at the nominal parameters: the choice cost is that
        # only when the task's parameters do not vary (else the screen measures its own)
        s = screen(task, cands[k][1], req, cost=None if task.varying_parameters else float(costs[k]))
        failed = list(s["failed"])
        if ratio_max not in (None, False) and rows[k]["ratio_to_lqg"] is not None and rows[k]["ratio_to_lqg"] > ratio_max:
            failed.append("cost_ratio_max")
        if success_min not in (None, False) and all_success[k] < success_min:
            failed.append("success_rate_min")
        rows[k].update(
            screened=True,
            passes=not failed,
            failed="; ".join(failed),
            near_singular=s["near_singular"],
            spectral_radius_nominal=s.get("spectral_radius_nominal"),
            spectral_radius_vertices_max=s.get("spectral_radius_vertices_max"),
            disk_margin=s.get("disk_margin"),
            worst_vertex_ratio=s.get("worst_vertex_ratio"),
        )
        if not failed:
            chosen, passed = int(k), True
            break
    if chosen is None:
        # none passed: safety first, within reason. Among the regular candidates (no near-singular
        # term, stable at the nominal point) that cost at most twice the allowed ratio to LQG, the
        # one failing the fewest stability and robustness checks, then the cheapest: a controller
        # that is only somewhat too costly is exported before one that is cheap but loses stability
        # somewhere in the box; one far costlier (a levitated ball lost on nominal trajectories,
        # whose linearisation looks fine) is no answer however it screens. Else the cheapest regular.
        regular = [
            k
            for k in order
            if rows[k]["screened"] and not rows[k]["near_singular"] and (rows[k].get("spectral_radius_nominal") or math.inf) < 1.0
        ]
        bound = 2.0 * ratio_max if ratio_max not in (None, False) else math.inf
        reasonable = [k for k in regular if rows[k]["ratio_to_lqg"] is None or rows[k]["ratio_to_lqg"] <= bound]

        def unsafe(k: int) -> int:
            return len([f for f in rows[k]["failed"].split("; ") if f and f != "cost_ratio_max"])

        if reasonable:
            chosen = min(reasonable, key=lambda k: (unsafe(k), costs[k]))
        else:
            chosen = int(regular[0]) if regular else int(order[0])
    for k, row in enumerate(rows):
        row["chosen"] = int(k == chosen)
    _write(out / "choice.csv", rows)
    name, pol = cands[chosen]
    record = {
        "candidate": name,
        "passes_screen": passed,
        "choice_cost": float(costs[chosen]),
        "lqg_cost": float(lqg_cost),
        "screened": sum(r["screened"] for r in rows),
        "candidates": len(cands),
        "failed": rows[chosen].get("failed", ""),
    }
    if passed:
        say(
            f"choice: {name}, cost {costs[chosen]:.4g} on {CHOICE_TRAJECTORIES} choice trajectories, passes the certificate's "
            f"cheap checks ({record['screened']} of {len(cands)} candidates screened)"
        )
    else:
        say(
            f"choice: no candidate passes the certificate's cheap checks; exporting {name} (cost {costs[chosen]:.4g}), "
            f"which fails: {record['failed'] or 'its cost is not finite'}"
        )
    return pol.with_provenance(choice=record), record


def _write(path: Path, rows: list[dict]) -> None:
    keys = [
        "candidate",
        "complexity",
        "choice_cost",
        "ratio_to_lqg",
        "success_rate",
        "screened",
        "passes",
        "failed",
        "near_singular",
        "spectral_radius_nominal",
        "spectral_radius_vertices_max",
        "disk_margin",
        "worst_vertex_ratio",
        "chosen",
    ]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, keys, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
