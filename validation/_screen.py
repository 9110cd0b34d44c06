"""`screen(task, policy)`: the certificate's cheap checks, for choosing among candidate policies.

`validate` takes minutes (a Monte Carlo of a thousand trajectories, sweeps, an IPOPT worst case);
choosing among a synthesis run's candidates needs seconds each. The screen keeps the checks that are
cheap and decisive:

* local stability: spectral radius of the closed loop linearised at its nominal equilibrium, and at
  the equilibrium of every vertex of the parameter box (`validation._box_stability`, also the
  certificate's robust-stability row);
* the balanced disk margin at the nominal equilibrium (and the classical margins when the
  requirements ask for them);
* a worst case over the vertices: the mean cost of a few trajectories (`SCREEN_TRAJECTORIES`, each
  with its own initial state, target and noise, the same for every candidate) at each vertex, and
  its ratio to the nominal cost;
* near-singular terms (`near_singular_terms`): a denominator of the policy that comes close to zero,
  relative to its typical size, on the values the policy sees in nominal closed-loop trajectories.
  Such a candidate is flagged and does not pass: its gain there is far from the gain it has on
  average, so its cost says little about its robustness; the linearisation at the sample where the
  denominator is smallest is reported as the evidence.

The thresholds are the certificate's requirements (`load_requirements`).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import sympy as sp

from plants import Task, get_task, operating_point
from synth import SymbolicPolicy
from synth._cost import finite_mean

from ._box_stability import MAX_VERTICES, box_stability
from ._certificate import describe_box_stability, load_requirements
from ._closedloop import NOMINAL_KNOBS, build_closed_loop
from ._linearize import LoopLinearizer, NoEquilibrium
from ._margins import analyse, summary
from ._singular import SINGULAR_RATIO, near_singular_terms
from ._sweep import Base, evaluate, parameter_box, vertex_subset

SCREEN_TRAJECTORIES = 4  # trajectories per vertex in the screen's worst case


def _scenarios(task: Task, n: int, seed: int, ticks: int) -> list[Base]:
    """`n` scenarios of the task: initial states and targets drawn by `synth.Simulator` (stream
    "screen" of `seed`), standard-normal noise from numpy's generator seeded with `seed` (drawing the
    simulator's own noise compiles a JAX program per scenario, seconds each). The same for every
    policy screened with this seed; the parameters are set per point."""
    from synth import Simulator
    from synth._runfolder import stream_key

    scen = Simulator(task).scenarios(stream_key(int(seed), "screen"), n)
    rng = np.random.default_rng([int(seed), 0x5C4EE9])
    ny, nw = task.ny, task.substeps * task.plant.nx
    out = []
    for k in range(n):
        NY, NW = rng.standard_normal((ny, ticks)), rng.standard_normal((nw, ticks))
        out.append(
            Base(
                np.asarray(scen.x0[k], float),
                np.asarray(scen.r[k], float),
                np.asarray(task.nominal_parameters, float),
                NOMINAL_KNOBS.copy(),
                NY,
                NW,
            )
        )
    return out


def _check(failed: list, why: list, name: str, ok: bool, text: str) -> None:
    if not ok:
        failed.append(name)
        why.append(f"{name}: {text}")


def screen(
    task: Task | str,
    policy: SymbolicPolicy | str | Path,
    requirements=None,
    *,
    cost: float | None = None,
    trajectories: int = SCREEN_TRAJECTORIES,
    max_vertices: int = MAX_VERTICES,
    seed: int = 0,
    singular_ratio: float = SINGULAR_RATIO,
    cores: int = 2,
) -> dict:
    """The certificate's cheap checks of `policy` on `task`, in seconds.

    Parameters
    ----------
    task, policy
        A task (or its name or file) and a policy (or its JSON file), in the task's units.
    requirements
        The certificate's requirements (a dict or TOML file, see `load_requirements`); the screen
        uses `spectral_radius_max`, `robust_spectral_radius_max`, `disk_margin_min`,
        `worst_case_ratio_max`, `worst_case_cost_max` and, when set, `gain_margin_db_min` and
        `phase_margin_deg_min`.
    cost
        The policy's mean cost per trajectory, when the caller has it from more trajectories than
        the screen runs (on the task's horizon and cost, e.g. a Monte Carlo): the reference of the
        worst-vertex ratio. Default: the screen's own trajectories at the nominal parameters (paired
        with the vertices: same initial states, targets and noise).
    trajectories, max_vertices, seed
        Trajectories per vertex, the cap on vertices (a seeded subset beyond) and the seed of both.
    singular_ratio
        A denominator whose smallest |value| on the nominal trajectories is below this fraction of
        its largest |value| (or that changes sign) makes the policy near-singular.
    cores
        Threads for the vertex simulations.

    Returns
    -------
    dict
        `passes`, `failed` (requirement names; `near_singular` for a near-singular term),
        `explanation` (one line per failure), `spectral_radius_nominal`, `spectral_radius_vertices_max`,
        `disk_margin` (balanced disk margin alpha at the nominal equilibrium, worst input channel),
        `disk_margin_detail`, `nominal_cost`, `reference_cost`, `worst_vertex_cost`,
        `worst_vertex_ratio`, `worst_vertex`, `near_singular` (bool), `near_singular_term` (the
        denominator and where it occurs, or None), `denominators`, `box_stability`, `vertices`,
        `local_analysis` (why the local checks did not apply, or None), `seconds`.
    """
    t0 = time.perf_counter()
    task = get_task(task)
    if not isinstance(policy, SymbolicPolicy):
        policy = SymbolicPolicy.load(policy)
    req = load_requirements(requirements)
    if int(trajectories) < 1:
        raise ValueError(f"screen: trajectories = {trajectories}; give at least 1")
    failed: list[str] = []
    why: list[str] = []
    p_nom = np.asarray(task.nominal_parameters, float)

    # local analysis at the nominal equilibrium -------------------------------------------------
    lz = LoopLinearizer(task, policy)
    x_guess = operating_point(task)[0]
    eq = None
    local_reason = None
    try:
        eq = lz.equilibrium(x_guess)
    except NoEquilibrium as err:
        local_reason = str(err)
    rho_nom = disk = None
    disk_detail = summ = None
    if eq is not None:
        lin = lz.linearize(*eq)
        an = analyse(lin)
        rho_nom = an["spectral_radius"]
        summ = summary({**an, "applicable": True})
        disk_detail = summ["disk_margin"]
        disk = float(disk_detail["alpha"])
        v = req.get("spectral_radius_max")
        if v not in (None, False):
            _check(
                failed,
                why,
                "spectral_radius_max",
                rho_nom < v,
                f"spectral radius {rho_nom:.6f} at the nominal equilibrium, need < {v}",
            )
        stable = rho_nom < 1.0
        v = req.get("disk_margin_min")
        if v not in (None, False):
            _check(
                failed,
                why,
                "disk_margin_min",
                stable and disk >= v,
                f"disk margin alpha {disk:.4g}, need >= {v}" if stable else "the nominal loop is not stable",
            )
        for key, sub, unit in (
            ("gain_margin_db_min", ("gain_margin", "effective_dB"), "dB"),
            ("phase_margin_deg_min", ("phase_margin", "deg"), "deg"),
        ):
            v = req.get(key)
            if v not in (None, False):
                m = summ[sub[0]][sub[1]]
                m = math.inf if m is None else m
                _check(
                    failed,
                    why,
                    key,
                    stable and m >= v,
                    f"{m:.4g} {unit}, need >= {v}" if stable else "the nominal loop is not stable",
                )

    dims = parameter_box(task)
    if eq is None:  # the certificate fails these rows when the loop reaches no equilibrium: so does the screen
        keys = ("spectral_radius_max", "disk_margin_min") + (("robust_spectral_radius_max",) if dims else ())
        for key in keys:
            if req.get(key) not in (None, False):
                _check(failed, why, key, False, f"the noise-free closed loop reaches no equilibrium ({local_reason})")

    # robust stability over the box ------------------------------------------------------------
    bs = None
    if dims and eq is not None:
        bs = box_stability(task, policy, dims, x_guess, max_vertices=max_vertices, seed=seed, linearizer=lz, fallback=eq[:2])
        v = req.get("robust_spectral_radius_max")
        if v not in (None, False):
            _check(failed, why, "robust_spectral_radius_max", bs["radius_max"] < v, describe_box_stability(bs))

    # costs at the nominal parameters and at the vertices --------------------------------------------
    cl = build_closed_loop(task, policy)
    bases = _scenarios(task, int(trajectories), seed, cl.ticks)
    verts, total = vertex_subset(dims, max_vertices, seed) if dims else (np.zeros((0, 0)), 0)
    nominal_values = np.array([p_nom[[q.name for q in task.plant.parameters].index(d.name)] for d in dims])
    points = np.vstack([nominal_values[None, :], verts]) if dims else np.zeros((1, 0))
    costs = np.zeros((len(bases), points.shape[0]))
    for k, base in enumerate(bases):
        if dims:
            costs[k] = evaluate(cl, dims, base, points, cores)[0]
        else:
            costs[k, 0] = float(cl.cost_fn(base.x0, base.r, base.p, base.knobs, base.NY, base.NW)[0])
    mean = finite_mean(costs, axis=0)
    nominal_cost = float(mean[0])
    ref = nominal_cost if cost is None else float(cost)
    worst_cost = worst_ratio = worst_at = None
    if dims:
        i = int(np.argmax(np.where(np.isnan(mean[1:]), math.inf, mean[1:])))
        worst_cost = float(mean[1 + i])
        worst_at = {d.name: float(x) for d, x in zip(dims, verts[i])}
        worst_ratio = worst_cost / ref if ref > 0 and math.isfinite(ref) else (math.inf if ref > 0 else None)
        v = req.get("worst_case_ratio_max")
        if v not in (None, False) and worst_ratio is not None:  # None: a non-positive (reward-based) cost, no ratio
            _check(
                failed,
                why,
                "worst_case_ratio_max",
                math.isfinite(worst_ratio) and worst_ratio <= v,
                f"worst vertex cost {worst_cost:.4g} = {worst_ratio:.4g} x the nominal {ref:.4g} at {worst_at}, need <= {v}",
            )
        v = req.get("worst_case_cost_max")
        if v not in (None, False):
            _check(
                failed,
                why,
                "worst_case_cost_max",
                math.isfinite(worst_cost) and worst_cost <= v,
                f"worst vertex cost {worst_cost:.4g}, need <= {v}",
            )
    elif not math.isfinite(nominal_cost):
        _check(failed, why, "worst_case_ratio_max", False, "the nominal closed loop is not finite")

    # near-singular terms on what the policy sees in nominal trajectories -----------------------------
    rows = []  # (x, z, u, r) of every sample, to linearise at the worst one
    samples: dict[sp.Symbol, list] = {s: [] for s in (*policy.y, *policy.z, *policy.u, *policy.r)}
    for base in bases:
        out = cl.run(base.x0, base.r, p_nom, NOMINAL_KNOBS, (base.NY, base.NW))
        T = out["u"].shape[0]
        ok = np.all(np.isfinite(out["x"][:T]), axis=1) & np.all(np.isfinite(out["u"]), axis=1)
        for s, col in zip(policy.y, out["y"][ok].T):
            samples[s].append(col)
        for s, col in zip(policy.z, out["z"][:T][ok].T):
            samples[s].append(col)
        for s, col in zip(policy.u, out["u"][ok].T):
            samples[s].append(col)
        for s, v in zip(policy.r, base.r):
            samples[s].append(np.full(int(ok.sum()), v))
        rows += [(x, z, u, base.r) for x, z, u in zip(out["x"][:T][ok], out["z"][:T][ok], out["u"][ok])]
    flat = {s: np.concatenate(v) if v else np.zeros(0) for s, v in samples.items()}
    dens = near_singular_terms(policy, flat, singular_ratio) if rows else []
    term = next((d for d in dens if d["near_singular"]), None)
    if term is not None:
        x, z, u, r = rows[term["index"]]
        there = {"x": x.tolist(), "z": z.tolist(), "u": u.tolist()}
        try:
            an = analyse(lz.linearize(x, z, u, p_nom, r))
            there.update(
                spectral_radius=an["spectral_radius"], disk_margin=min(c["disk_margin"]["alpha"] for c in an["channels"])
            )
        except (ValueError, np.linalg.LinAlgError) as err:
            there["error"] = str(err)
        term = {**{k: v for k, v in term.items() if k != "index"}, "linearisation_there": there}
        _check(
            failed,
            why,
            "near_singular",
            False,
            f"denominator {term['denominator']} in {term['where']} reaches |{term['min_abs']:.3g}|, "
            f"{term['ratio']:.3g} x its largest |{term['max_abs']:.3g}| on the nominal trajectories"
            + (
                ""
                if "spectral_radius" not in there
                else f"; linearised there: spectral radius {there['spectral_radius']:.6f}, disk margin {there['disk_margin']:.3g}"
            ),
        )

    return {
        "passes": not failed,
        "failed": failed,
        "explanation": why,
        "spectral_radius_nominal": rho_nom,
        "spectral_radius_vertices_max": None if bs is None else bs["radius_max"],
        "disk_margin": disk,
        "disk_margin_detail": disk_detail,
        "gain_margin_dB": None if summ is None else summ["gain_margin"]["effective_dB"],
        "phase_margin_deg": None if summ is None else summ["phase_margin"]["deg"],
        "nominal_cost": nominal_cost,
        "reference_cost": ref,
        "worst_vertex_cost": worst_cost,
        "worst_vertex_ratio": worst_ratio,
        "worst_vertex": worst_at,
        "near_singular": term is not None,
        "near_singular_term": term,
        "denominators": [{k: v for k, v in d.items() if k != "index"} for d in dens],
        "box_stability": bs,
        "vertices": {"total": int(total), "simulated": int(len(verts)), "trajectories": len(bases)},
        "local_analysis": local_reason,
        "requirements": req,
        "seconds": time.perf_counter() - t0,
    }


__all__ = ["SCREEN_TRAJECTORIES", "screen"]
