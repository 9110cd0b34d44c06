"""`validate(policy, task, out_dir, settings) -> dict`: the whole validation stage.

Monte Carlo against LQG (JAX, common random numbers, held-out "test" stream), some of its
trajectories replayed with CVODES (does the fixed step hold?), CasADi sweeps of the parameter box
and of stress knobs, worst-case search confirmed by CVODES, margins of LQR, LQG and the policy, the
certificate; writes `validation.json` and `report.html` into `out_dir`.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from plants import Task, UserInputError, get_task
from synth import SymbolicPolicy
from synth._controller import AbstractNetworkPolicy
from synth._cost import finite_mean
from synth._json import jsonable
from synth._load import load_policy

from ._box_stability import MAX_VERTICES, box_stability
from ._certificate import certify, load_requirements
from ._closedloop import NOMINAL_KNOBS, build_closed_loop, noise_from_simulator
from ._integral import integral_policy
from ._integration import integration_check
from ._linearize import LoopLinearizer
from ._margins import lqr_margins, policy_margins, summary
from ._montecarlo import monte_carlo
from ._sweep import Base, Dim, evaluate, parameter_box, point_function, sweep
from ._worstcase import confirm, worst_case
from .lqg import LQGError, design, policy_from_design

DEFAULT_SETTINGS: dict = {
    "seed": 0,
    "trajectories": 1000,  # Monte Carlo trajectories (stream "test")
    "oracle_trajectories": 50,  # per-trajectory LQG designs (varying-parameter tasks)
    "sweep": 256,  # points of the parameter-box sweep
    "sweep_design": "lhs",  # lhs | sobol | grid | random
    "widen": 1.0,  # factor on the parameter box about its centre
    "sweep_ticks": None,  # horizon of sweeps and the worst case in ticks (None: the task's)
    "sweep_backend": "auto",  # vm | c | auto (vm: batched, it beats the compiled per-point C, see bench/validation_RESULTS.md)
    "starts": 8,  # worst-case IPOPT starts
    "max_vertices": 64,  # vertices evaluated by the worst-case search (all of them up to this count)
    "stability_vertices": MAX_VERTICES,  # vertices linearised for robust stability (a seeded subset beyond)
    "cores": 2,
    "gain_range": [0.5, 1.5],
    "noise_scale_max": 3.0,
    "stress_points": 11,
    "max_delay": 3,  # measurement delays 0..max_delay ticks
    "x0_grid": 9,  # initial-condition grid per axis (first two states)
    "confirm_rtol": 0.05,
    "integration_replays": 4,  # this many of the policy's costliest held-out trajectories, and as many random others, replayed with CVODES (0: none)
    "requirements": None,
    "workers": None,  # split the Monte Carlo and the parameter-box sweep over this many Dask workers (a local cluster unless `address`)
    "address": None,  # a running Dask cluster's scheduler (tcp://host:port or a scheduler file)
}


class ValidationError(UserInputError):
    """Validation settings or inputs are invalid."""


def _settings(settings: dict | None) -> dict:
    s = dict(DEFAULT_SETTINGS)
    for k, v in (settings or {}).items():
        if k not in DEFAULT_SETTINGS:
            raise ValidationError(f"unknown validation setting {k!r}; valid: {', '.join(DEFAULT_SETTINGS)}")
        if v is not None:
            s[k] = v
    if int(s["trajectories"]) < 2:
        raise ValidationError(f"trajectories = {s['trajectories']}: need at least 2")
    return s


def _stress(task, policy, base: Base, s: dict, ticks: int, substeps) -> dict:
    """One-dimensional stress sweeps: actuator gain, noise scales, measurement delay, and a grid of initial states."""
    out = {}
    cl = build_closed_loop(task, policy, ticks=ticks, substeps=substeps)
    n = int(s["stress_points"])
    for name, lo, hi in (
        ("gain", *s["gain_range"]),
        ("obs_scale", 0.0, s["noise_scale_max"]),
        ("process_scale", 0.0, s["noise_scale_max"]),
    ):
        dims = [Dim("knob", name, float(lo), float(hi))]
        pts = np.linspace(lo, hi, n).reshape(n, 1)
        cost, succ, secs, _ = evaluate(cl, dims, base, pts, int(s["cores"]))
        out[name] = {"values": pts.ravel().tolist(), "cost": cost.tolist(), "success": succ.astype(int).tolist(), "seconds": secs}
    delays = list(range(int(s["max_delay"]) + 1))
    dc, ds = [], []
    for k in delays:
        cld = cl if k == 0 else build_closed_loop(task, policy, ticks=ticks, delay=k, substeps=substeps)
        c, ok = (float(v) for v in cld.cost_fn(base.x0, base.r, base.p, base.knobs, base.NY, base.NW))
        dc.append(c)
        ds.append(int(ok > 0.5))
    out["delay_ticks"] = {"values": delays, "cost": dc, "success": ds}
    states = list(task.plant.states)[:2]
    dims = [Dim("x0", nm, *d.support) for nm, d in zip(states, task.initial_state[:2]) if d.support[0] < d.support[1]]
    if dims:
        m = int(s["x0_grid"])
        axes = [np.linspace(d.low, d.high, m) for d in dims]
        pts = np.array(np.meshgrid(*axes, indexing="ij")).reshape(len(dims), -1).T
        cost, succ, secs, _ = evaluate(cl, dims, base, pts, int(s["cores"]))
        out["initial_state"] = {
            "dims": [dataclasses.asdict(d) for d in dims],
            "axes": [a.tolist() for a in axes],
            "cost": cost.tolist(),
            "success": succ.astype(int).tolist(),
            "seconds": secs,
        }
    return out


def _nominal_cost(task, policy, mc: dict, scen, cl, dims: list[Dim], base: Base, ticks: int) -> dict:
    """The reference of the worst-case ratio: the policy's Monte Carlo mean cost at the nominal
    parameters (the held-out Monte Carlo itself when the parameters do not vary; otherwise the same
    scenarios re-run with the nominal parameters). When the sweeps use another horizon than the task,
    the worst case's own scenario at the nominal parameters instead (the same horizon and noise)."""
    from synth import Simulator

    names = [q.name for q in task.plant.parameters]
    nominal = np.array([task.nominal_parameters[names.index(dm.name)] for dm in dims])
    own = float(point_function(cl, dims, base)(nominal, base.NY, base.NW)[0])
    out = {"base_scenario_cost": own}
    if ticks != task.n_ticks:
        return {
            **out,
            "cost": own,
            "source": f"the worst case's scenario at the nominal parameters, over the sweeps' {ticks} ticks",
        }
    pol = mc["policies"]["policy"]
    if not task.varying_parameters:
        return {
            **out,
            "cost": pol["mean"],
            "n": pol["n"],
            "source": f"Monte Carlo mean over {pol['n']} held-out trajectories, all at the nominal parameters",
        }
    p = np.broadcast_to(np.asarray(task.nominal_parameters, float), np.shape(scen.p))
    ro = Simulator(task).simulate(policy, dataclasses.replace(scen, p=jnp.asarray(p, dtype=scen.p.dtype)))
    c = np.asarray(ro.cost, float)
    return {
        **out,
        "cost": finite_mean(c),
        "n": int(c.size),
        "source": f"Monte Carlo mean over the {c.size} held-out trajectories re-run at the nominal parameters",
    }


def validate(
    policy: SymbolicPolicy | AbstractNetworkPolicy | str | Path,
    task: Task | str | None,
    out_dir: str | Path,
    settings: dict | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> dict:
    """Validate `policy` on `task`; write `validation.json` and `report.html` into `out_dir`.

    `policy` is a `SymbolicPolicy`, a network policy (the NDE's: its own JAX controller and CasADi
    tick go through the same Monte Carlo, sweeps, worst case and margins) or the path of either's
    file or run folder. `progress(stage, fraction)` is called between stages. Returns the results
    (the JSON content, with non-finite numbers as floats).
    """
    from synth._runfolder import stream_key, versions

    t_start = time.perf_counter()
    s = _settings(settings)
    if not isinstance(policy, (SymbolicPolicy, AbstractNetworkPolicy)):
        policy = load_policy(policy)
    if task is None:
        task = policy.provenance.get("task")
        if not task:
            raise ValidationError("the policy names no task in its provenance; give --task")
    task = get_task(task)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    req = load_requirements(s["requirements"])
    stage = progress or (lambda name, frac: None)
    timings: dict[str, float] = {}

    def lap(name, t0):
        timings[name] = time.perf_counter() - t0

    # LQG -------------------------------------------------------------------------------------
    t0 = time.perf_counter()
    stage("LQG design", 0.0)
    d = design(task)
    lqg_policy = policy_from_design(task, d, "lqg")
    lap("lqg_design", t0)

    # Monte Carlo -----------------------------------------------------------------------------
    t0 = time.perf_counter()
    stage("Monte Carlo", 0.05)
    # The steady-state LQG is reported beside the optimal one: a learned policy with memory should
    # sit between them where the start of the trajectory matters.
    compared = {"policy": policy, "lqg": lqg_policy, "lqg-ss": policy_from_design(task, d, "lqg-ss")}
    if task.varying_parameters:  # where the nominal design settles off target, the offset-free LQG too
        try:
            compared["lqg-i"] = integral_policy(task, d, compared["lqg-ss"])
        except LQGError:
            pass
        try:  # and the LQG whose filter estimates the varying parameters
            compared["lqg-p"] = policy_from_design(task, d, "lqg-p")
        except LQGError:
            pass
    engine = None
    if s["workers"] or s["address"]:  # Monte Carlo and sweep split over a cluster: the same costs as in one process
        from ._cluster import shared_engine

        engine = shared_engine(s["workers"], s["address"])
    mc = monte_carlo(
        task,
        compared,
        int(s["trajectories"]),
        stream_key(int(s["seed"]), "test"),
        oracle_max=int(s["oracle_trajectories"]),
        engine=engine,
    )
    lap("monte_carlo", t0)
    scen = mc.pop("_scenarios")

    # Base scenario of the sweeps: the first held-out scenario, its noise shared by every point
    from synth import Simulator

    sim = Simulator(task)
    s0 = scen.take(0)
    ticks = int(s["sweep_ticks"] or task.n_ticks)
    NY, NW = noise_from_simulator(sim.noise_sequence(s0), ticks)
    base = Base(np.asarray(s0.x0, float), np.asarray(s0.r, float), np.asarray(s0.p, float), NOMINAL_KNOBS.copy(), NY, NW)
    if not task.varying_parameters:
        base.p = task.nominal_parameters
    # trajectories of the first held-out scenario for the report (CasADi equals the JAX simulator)
    NY0, NW0 = noise_from_simulator(sim.noise_sequence(s0))
    saved = {
        name: build_closed_loop(task, pol).run(base.x0, base.r, np.asarray(s0.p, float), NOMINAL_KNOBS, (NY0, NW0))
        for name, pol in (("policy", policy), ("lqg", lqg_policy))
    }

    # Integration: does the fixed step hold on the costliest trajectories and on random ones? --
    t0 = time.perf_counter()
    stage("integration check", 0.4)
    integration = integration_check(task, policy, mc["costs"]["policy"], scen, int(s["integration_replays"]), seed=int(s["seed"]))
    lap("integration_check", t0)

    # Sweeps ----------------------------------------------------------------------------------
    t0 = time.perf_counter()
    stage("sweeps", 0.45)
    cl = build_closed_loop(task, policy, ticks=ticks)
    dims = parameter_box(task, float(s["widen"]))
    backend = s["sweep_backend"]
    if backend == "auto":
        backend = "vm"
    sw = None
    if dims and int(s["sweep"]) > 0:
        sw = sweep(cl, dims, base, int(s["sweep"]), s["sweep_design"], int(s["seed"]), int(s["cores"]), backend, engine=engine)
    stress = _stress(task, policy, base, s, ticks, None)
    lap("sweeps", t0)

    # Worst case --------------------------------------------------------------------------------
    t0 = time.perf_counter()
    stage("worst-case search", 0.65)
    wc: dict = {"reason": "the task's plant has no parameter ranges"}
    wc_traj = None
    if dims and int(s["starts"]) > 0:
        seeds = np.asarray(sw["points"]) if sw else None
        seed_costs = np.asarray(sw["cost"], float) if sw else None
        wc = worst_case(
            cl,
            dims,
            base,
            int(s["starts"]),
            int(s["seed"]),
            seeds,
            None,
            int(s["max_vertices"]),
            int(s["cores"]),
            seed_costs=seed_costs,
        )
        wc["confirmation"] = confirm(task, policy, cl, dims, base, wc["worst"]["point"], float(s["confirm_rtol"]))
        p_w = base.p.copy()
        names = [q.name for q in task.plant.parameters]
        for dim, v in zip(dims, wc["worst"]["point"]):
            p_w[names.index(dim.name)] = v
        wc_traj = {"policy": cl.run(base.x0, base.r, p_w, base.knobs, (NY, NW))}
        cl_lqg = build_closed_loop(task, lqg_policy, ticks=ticks)
        wc_traj["lqg"] = cl_lqg.run(base.x0, base.r, p_w, base.knobs, (NY, NW))
        wc["lqg_cost_at_worst"] = wc_traj["lqg"]["cost"]
        wc["nominal"] = _nominal_cost(task, policy, mc, scen, cl, dims, base, ticks)
    lap("worst_case", t0)

    # Margins -----------------------------------------------------------------------------------
    t0 = time.perf_counter()
    stage("margins", 0.85)
    margins = {}
    m_lqr = lqr_margins(d, crosscheck=True)
    margins["lqr"] = {**m_lqr, "applicable": True, "summary": summary(m_lqr)}
    lz = LoopLinearizer(task, policy)
    for name, pol in (("lqg", lqg_policy), ("policy", policy)):
        try:
            m = policy_margins(task, pol, d.x_op, crosscheck=True, linearizer=lz if pol is policy else None)
        except (LQGError, ValueError, RuntimeError) as err:
            m = {"applicable": False, "reason": str(err)}
        m["summary"] = summary(m)
        margins[name] = m
    lap("margins", t0)

    # Robust stability: the linearised loop at every vertex of the box and at the worst case --------
    t0 = time.perf_counter()
    stage("robust stability", 0.9)
    if not dims:
        robust = {"reason": "the task's plant has no parameter ranges"}
    elif not margins["policy"].get("applicable"):
        robust = {"reason": f"no closed-loop equilibrium at the nominal parameters: {margins['policy'].get('reason')}"}
    else:
        eq = margins["policy"]["equilibrium"]
        extra = [("worst case found", wc["worst"]["point"])] if wc.get("worst") else []
        robust = box_stability(
            task,
            policy,
            dims,
            d.x_op,
            extra=extra,
            max_vertices=int(s["stability_vertices"]),
            seed=int(s["seed"]),
            linearizer=lz,
            fallback=(np.asarray(eq["x"], float), np.asarray(eq["z"], float)),
        )
    lap("robust_stability", t0)
    margins_top = {
        k: margins["policy"].get("summary", {}).get(k) for k in ("gain_margin", "phase_margin", "delay_margin", "disk_margin")
    }

    results = {
        "schema": "symctl.validation",
        "schema_version": 1,
        "task": task.name,
        "policy": {
            "digest": policy.digest(),
            "provenance": dict(policy.provenance),
            "kind": policy.kind,
            "complexity": policy.complexity(),
            "network": isinstance(policy, AbstractNetworkPolicy),
        },
        "monte_carlo": mc,
        "integration": integration,
        "sweep": {
            "parameter_box": sw,
            "stress": stress,
            "base_scenario": {"x0": base.x0.tolist(), "r": base.r.tolist(), "p": base.p.tolist(), "ticks": ticks},
        },
        "worst_case": wc,
        "robust_stability": robust,
        "margins": {
            **margins_top,
            "policies": margins,
            "loop_broken_at": "plant input, one channel at a time",
            "units": {"gain": "absolute ratio and dB", "phase": "deg", "frequency": "rad/s", "delay": "s and ticks"},
        },
    }
    results["certificate"] = certify({**results, "margins": margins}, req, "policy")
    results["settings"] = {k: v for k, v in s.items() if k != "requirements"}
    results["versions"] = versions()
    timings["total"] = time.perf_counter() - t_start
    results["timings_s"] = timings
    stage("report", 0.95)
    clean = jsonable(results)
    (out_dir / "validation.json").write_text(json.dumps(clean, indent=1) + "\n", encoding="utf-8")
    from ._report import render_report

    html = render_report(clean, task, policy, lqg_policy, saved, wc_traj)
    (out_dir / "report.html").write_text(html, encoding="utf-8")
    stage("done", 1.0)
    return results
