"""The sampled-data closed loop of docs/design.md in CasADi, for sweeps, worst-case search and margins.

It reproduces `synth.Simulator` exactly: at tick k the controller reads `y_k = h(x_k, p) + sigma n_k`,
sets `u_k = sat(g(z_k, r))` (or `sat(g(y_k, r))`), advances its latent state; the plant is then
integrated over one period with `u_k` held, in `substeps` Euler-Heun steps with additive noise (which
is Euler-Maruyama: `x + h f(x) + scale sqrt(h) n`), or stepped once by its map (discrete time).
Replaying `Simulator.noise_sequence(scenario)` gives the same trajectory to round-off.

Robustness knobs that the JAX simulator does not have, all inputs of the built Function except the
delay (a structural integer): an actuator gain (the plant receives `gain * u_k`; the controller and the
cost see the commanded `u_k`), observation- and process-noise scales, and a measurement delay of
`delay` ticks (the controller reads `y_{k-delay}`; before the start it reads the noise-free `h(x_0, p)`).

`ClosedLoop.sim(x0, r, p, knobs, NY, NW) -> (cost, success, finite, X, Y, Z, U)` with `knobs = (gain,
obs_scale, process_scale)`, `NY` (ny, ticks), `NW` (substeps*nx, ticks). `ClosedLoop.cost_fn` returns
the cost only (the function maximised by the worst-case search); `ClosedLoop.batched(width)` is the
same cost on `width` points at once (what sweeps evaluate). The controller is the policy's tick as
`synth`'s `to_casadi` builds it (`controller_step`).
"""

from __future__ import annotations

import dataclasses
import math
import weakref

import casadi as ca
import numpy as np

from plants import Task, to_casadi
from synth import SymbolicPolicy
from synth._compile import check_compatible
from synth._controller import AbstractNetworkPolicy
from synth._export import to_casadi as policy_to_casadi

from ._batch import batch_function

KNOBS = ("gain", "obs_scale", "process_scale")
NOMINAL_KNOBS = np.array([1.0, 1.0, 1.0])


def _finite(v):
    """1 where every entry of v is finite (|v| < inf is false for nan and inf)."""
    out = 1
    for i in range(v.numel()):
        out = ca.logic_and(out, ca.fabs(v[i]) < math.inf)
    return out


_STEPS: dict[int, tuple[weakref.ref, ca.Function]] = {}


def controller_step(policy: SymbolicPolicy) -> ca.Function:
    """The policy's tick `step(z, y, r) -> (u, z_next)` as a CasADi SX Function: `synth`'s
    `to_casadi` (the one conversion of a policy to CasADi), kept while the policy object lives
    (keyed by identity: hashing the expressions costs more than converting a small policy). A
    network policy (`synth.AbstractNetworkPolicy`) gives its own tick."""
    if isinstance(policy, AbstractNetworkPolicy):
        return policy.casadi_step()
    hit = _STEPS.get(id(policy))
    if hit is not None and hit[0]() is policy:
        return hit[1]
    if len(_STEPS) > 64:
        for key in [k for k, (ref, _) in _STEPS.items() if ref() is None] or list(_STEPS):
            del _STEPS[key]
    step = policy_to_casadi(policy)
    _STEPS[id(policy)] = (weakref.ref(policy), step)
    return step


@dataclasses.dataclass
class ClosedLoop:
    """A policy on a task as CasADi Functions; build with `build_closed_loop`.

    `start(x0, p) -> carry`, `tick(carry, r, p, knobs, ny_k, nw_k) -> (carry_next, [x; y; z; u])` and
    `finish(carry_T, r, p) -> (cost, success, finite, objective)` are the three pieces (SX Functions
    for the fixed-step integrator) that `sim`, `cost_fn` and `objective_fn` chain over the horizon.
    """

    task: Task
    policy: SymbolicPolicy
    ticks: int
    delay: int
    integrator: str
    start: ca.Function
    tick: ca.Function
    finish: ca.Function
    sim: ca.Function
    cost_fn: ca.Function
    objective_fn: ca.Function
    plant_tick: ca.Function
    _batched: dict = dataclasses.field(default_factory=dict, repr=False)

    @property
    def nx(self) -> int:
        return self.task.plant.nx

    def noise_shapes(self) -> tuple[tuple[int, int], tuple[int, int]]:
        t = self.task
        return (t.ny, self.ticks), (t.substeps * t.plant.nx, self.ticks)

    def zero_noise(self) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.noise_shapes()
        return np.zeros(a), np.zeros(b)

    def run(self, x0, r, p, knobs=NOMINAL_KNOBS, noise=None) -> dict:
        """Simulate one trajectory numerically: cost, success, finite and the trajectories
        `x` (ticks+1, nx), `y` (ticks, ny), `z` (ticks+1, nz), `u` (ticks, nu), `t` (ticks+1)."""
        NY, NW = self.zero_noise() if noise is None else noise
        out = self.sim(np.asarray(x0, float), np.asarray(r, float), np.asarray(p, float), np.asarray(knobs, float), NY, NW)
        X, Y, Z, U = (np.asarray(o) for o in out[3:])
        return {
            "cost": float(out[0]),
            "success": bool(float(out[1]) > 0.5),
            "finite": bool(float(out[2]) > 0.5),
            "t": np.arange(self.ticks + 1) * self.task.dt,
            "x": X.T,
            "y": Y.T,
            "z": Z.T,
            "u": U.T,
        }

    def batched(self, width: int) -> ca.Function:
        """`cost_fn` on `width` points at once, in the CasADi VM (see `batch_function`):
        `(X0 (nx, width), R (nr, width), P (np, width), KNOBS (3, width), NY, NW) -> (cost, success)`
        (each (1, width)); every point sees the same noise NY, NW. Equals `cost_fn` point by point
        to the last bit. Fixed-step integrator only."""
        if self.integrator != "fixed":
            raise ValueError(f"batched evaluation needs the fixed-step closed loop, not {self.integrator!r}")
        width = int(width)
        if width not in self._batched:
            ins = [self.tick.sx_in(i) for i in range(self.tick.n_in())]
            carry_only = ca.Function("tick_carry", ins, [self.tick(*ins)[0]])
            tick_b = batch_function(carry_only, width, shared=(4, 5))
            start_b = batch_function(self.start, width)
            finish_b = batch_function(self.finish, width)
            pl = self.task.plant
            X0 = ca.MX.sym("x0", pl.nx, width)
            R = ca.MX.sym("r", self.task.nr, width)
            P = ca.MX.sym("p", pl.np_, width)
            KN = ca.MX.sym("knobs", len(KNOBS), width)
            (a, b), (c, d) = self.noise_shapes()
            NY, NW = ca.MX.sym("NY", a, b), ca.MX.sym("NW", c, d)
            carry = start_b(X0, P)
            ny_cols, nw_cols = ca.horzsplit(NY), ca.horzsplit(NW)  # one node each, not one slice per tick
            for k in range(self.ticks):
                carry = tick_b(carry, R, P, KN, ny_cols[k], nw_cols[k])
            cost, success, _, _ = finish_b(carry, R, P)
            self._batched[width] = ca.Function(
                f"closed_loop_cost_x{width}",
                [X0, R, P, KN, NY, NW],
                [cost, success],
                ["x0", "r", "p", "knobs", "NY", "NW"],
                ["cost", "success"],
            )
        return self._batched[width]


def noise_from_simulator(noise: tuple[np.ndarray, np.ndarray], ticks: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`Simulator.noise_sequence` output ((T, ny), (T, substeps, nx)) as the (NY, NW) matrices of `ClosedLoop.sim`."""
    n_y, n_w = (np.asarray(a, float) for a in noise)
    T = n_y.shape[0] if ticks is None else ticks
    return n_y[:T].T.copy(), n_w[:T].reshape(T, -1).T.copy()


def aggregate_noise(NW: np.ndarray, nx: int, from_substeps: int, to_substeps: int) -> np.ndarray:
    """Brownian increments of `from_substeps` fine steps summed onto `to_substeps` coarse steps
    (scaled back to unit variance), for a closed loop built with fewer substeps."""
    if from_substeps == to_substeps:
        return NW
    if from_substeps % to_substeps:
        raise ValueError(f"substeps {to_substeps} must divide the task's {from_substeps}")
    k = from_substeps // to_substeps
    T = NW.shape[1]
    fine = NW.T.reshape(T, to_substeps, k, nx)
    return (fine.sum(axis=2) / math.sqrt(k)).reshape(T, to_substeps * nx).T.copy()


def _plant_tick_fixed(task: Task, fns) -> ca.Function:
    """One control period of the plant: Euler-Heun with additive noise per substep (= Euler-Maruyama)."""
    pl = task.plant
    nx, S = pl.nx, task.substeps
    x = ca.SX.sym("x", nx)
    u = ca.SX.sym("u", pl.nu)
    p = ca.SX.sym("p", pl.np_)
    w = ca.SX.sym("w", S * nx)
    scale = task.process_noise * fns["diffusion"](p)
    if pl.time == "discrete":
        xn = fns["dynamics"](x, u, p) + scale * w[:nx]
    else:
        h = task.dt / S
        sh = math.sqrt(h)
        xn = x
        for i in range(S):
            xn = xn + h * fns["dynamics"](xn, u, p) + scale * (sh * w[i * nx : (i + 1) * nx])
    return ca.Function("plant_tick", [x, u, p, w], [xn], ["x", "u", "p", "w"], ["x_next"])


def _plant_tick_cvodes(task: Task, fns, tol: float, stiff: bool = True) -> ca.Function:
    """The same period integrated by CVODES (an independent, adaptive integrator); the noise of each
    substep acts as a constant forcing `scale * sqrt(h) n / h` over that substep, so the result equals
    the fixed-step one up to the discretisation error of the fixed step. `stiff`: BDF with Newton
    iterations (CVODES's default); otherwise Adams with fixed-point iterations, which need no
    Jacobian (for a right-hand side whose Jacobian is not finite everywhere, as sqrt(max(h, 0)) at
    an empty tank)."""
    pl = task.plant
    nx, S = pl.nx, task.substeps
    xs = ca.MX.sym("x", nx)
    u = ca.MX.sym("u", pl.nu)
    p = ca.MX.sym("p", pl.np_)
    w = ca.MX.sym("w", S * nx)
    if pl.time == "discrete":
        xn = fns["dynamics"](xs, u, p) + task.process_noise * fns["diffusion"](p) * w[:nx]
        return ca.Function("plant_tick_cvodes", [xs, u, p, w], [xn])
    h = task.dt / S
    xa = ca.SX.sym("x", nx)
    ua = ca.SX.sym("u", pl.nu)
    pa = ca.SX.sym("p", pl.np_)
    fa = ca.SX.sym("f", nx)
    ode = fns["dynamics"](xa, ua, pa) + fa
    integ = ca.integrator(
        "cvodes_substep",
        "cvodes",
        {"x": xa, "p": ca.vertcat(ua, pa, fa), "ode": ode},
        0.0,
        h,
        {
            "abstol": tol,
            "reltol": tol,
            "max_num_steps": 100000,
            **({} if stiff else {"linear_multistep_method": "adams", "nonlinear_solver_iteration": "functional"}),
        },
    )
    scale = task.process_noise * fns["diffusion"](p)
    xn = xs
    for i in range(S):
        force = scale * w[i * nx : (i + 1) * nx] / math.sqrt(h)
        xn = integ(x0=xn, p=ca.vertcat(u, p, force))["xf"]
    return ca.Function("plant_tick_cvodes", [xs, u, p, w], [xn])


def build_closed_loop(
    task: Task,
    policy: SymbolicPolicy,
    ticks: int | None = None,
    delay: int = 0,
    integrator: str = "fixed",
    tol: float = 1e-10,
    substeps: int | None = None,
) -> ClosedLoop:
    """Build the closed loop of `policy` on `task` for `ticks` control periods (default: the horizon).

    `integrator`: "fixed" (the simulator's scheme), "cvodes" (adaptive, for independent
    confirmation; BDF) or "cvodes-nonstiff" (Adams, no Jacobian: see `_plant_tick_cvodes`).
    `substeps` overrides the task's plant substeps per tick (fewer is faster but no longer the
    simulator's scheme; `aggregate_noise` maps the simulator's noise onto the coarser steps).
    """
    check_compatible(policy, task)
    if substeps is not None and substeps != task.substeps:
        task = task.replace(substeps=int(substeps))
    if integrator not in ("fixed", "cvodes", "cvodes-nonstiff"):
        raise ValueError(f"integrator {integrator!r}: use 'fixed', 'cvodes' or 'cvodes-nonstiff'")
    if delay < 0:
        raise ValueError(f"delay {delay} must be >= 0 ticks")
    T = task.n_ticks if ticks is None else int(ticks)
    pl = task.plant
    nx, ny, nr, nz, S = pl.nx, task.ny, task.nr, policy.nz, task.substeps
    fns = to_casadi(task)
    step = controller_step(policy)
    plant_fixed = _plant_tick_fixed(task, fns)
    plant = plant_fixed if integrator == "fixed" else _plant_tick_cvodes(task, fns, tol, stiff=integrator == "cvodes")
    every = task.cost.every
    sigma = ca.DM(task.observation_noise.reshape(ny, 1)) if ny else ca.DM(0, 1)
    SX = ca.SX if integrator == "fixed" else ca.MX

    # carry: x, z, delay buffer (delay*ny), acc, alive, finite, ever, k
    x = SX.sym("x", nx)
    z = SX.sym("z", nz)
    buf = SX.sym("buf", delay * ny)
    acc, alive, fin, ever, k = (SX.sym(n) for n in ("acc", "alive", "finite", "ever", "k"))
    r = SX.sym("r", nr)
    p = SX.sym("p", pl.np_)
    knobs = SX.sym("knobs", len(KNOBS))
    ny_k = SX.sym("ny", ny)
    nw_k = SX.sym("nw", S * nx)
    y = fns["observe"](x, p) + knobs[1] * sigma * ny_k
    if delay:
        y_seen = buf[:ny]
        # A one-tick buffer is replaced whole (CasADi slices an n-by-1 SX past its end as 1-by-0).
        buf_next = ca.vertcat(buf[ny:], y) if delay > 1 else y
    else:
        y_seen, buf_next = y, buf
    u, z_next = step(z, y_seen, r)
    on_grid = ca.fmod(k, every) == 0
    ev = ca.logic_and(on_grid, fns["terminate"](x, r, p)) if "terminate" in fns else 0
    newly = ca.logic_and(alive, ev)
    alive_now = ca.logic_and(alive, ca.logic_not(ev))
    stage = fns["stage_cost"](x, u, r, p)
    acc_next = acc + ca.if_else(ca.logic_and(on_grid, alive_now), stage, 0) + ca.if_else(newly, task.cost.terminal, 0)
    ok = ca.logic_and(ca.logic_and(_finite(x), _finite(u)), ca.logic_and(_finite(z), _finite(stage)))
    fin_next = ca.logic_and(fin, ca.logic_or(ok, ca.logic_not(alive)))
    if "success" in fns:
        ever_next = ca.logic_or(ever, ca.logic_and(on_grid, fns["success"](x, r, p)))
    else:
        ever_next = ever
    x_next = plant(x, knobs[0] * u, p, knobs[2] * nw_k)
    carry = ca.vertcat(x, z, buf, acc, alive, fin, ever, k)
    carry_next = ca.vertcat(x_next, z_next, buf_next, acc_next, alive_now, fin_next, ever_next, k + 1)
    tick = ca.Function("tick", [carry, r, p, knobs, ny_k, nw_k], [carry_next, ca.vertcat(x, y, z, u)])
    if integrator == "fixed":  # one SX graph per tick, common subexpressions (parameter terms) shared
        tick = tick.expand()
        ins = [tick.sx_in(i) for i in range(tick.n_in())]
        tick = ca.Function("tick", ins, ca.cse(tick(*ins)), ["carry", "r", "p", "knobs", "ny", "nw"], ["carry_next", "xyzu"])
    horizon = tick.mapaccum("horizon", T)

    # start: the initial carry; finish: the cost, success and finiteness from the final carry (SX)
    xs, ps, rs = ca.SX.sym("x0", nx), ca.SX.sym("p", pl.np_), ca.SX.sym("r", nr)
    z0 = ca.DM(np.array(policy.latent_init, float).reshape(nz, 1)) if nz else ca.DM(0, 1)
    buf0 = ca.repmat(fns["observe"](xs, ps), delay, 1) if delay else ca.SX(0, 1)
    start = ca.Function("start", [xs, ps], [ca.vertcat(xs, z0, buf0, 0, 1, 1, 0, 0)], ["x0", "p"], ["carry"])
    cN = ca.SX.sym("carry", nx + nz + delay * ny + 5)
    xN = cN[:nx]
    o = nx + nz + delay * ny
    accN, aliveN, finN, everN = cN[o], cN[o + 1], cN[o + 2], cN[o + 3]
    if T % every == 0 and "terminate" in fns:
        evN = fns["terminate"](xN, rs, ps)
        accN = accN + ca.if_else(ca.logic_and(aliveN, evN), task.cost.terminal, 0)
        aliveN = ca.logic_and(aliveN, ca.logic_not(evN))
    finN = ca.logic_and(finN, ca.logic_or(_finite(xN), ca.logic_not(aliveN)))
    if task.cost.aggregate == "mean":
        accN = accN / math.ceil(T / every)
    cost = ca.if_else(finN, accN, math.inf)
    if task.success is None:
        success = finN
    elif task.success.when == "final":
        success = ca.logic_and(finN, fns["success"](xN, rs, ps))
    else:
        success = ca.logic_and(finN, ca.logic_or(everN, fns["success"](xN, rs, ps)))
    finish = ca.Function(
        "finish", [cN, rs, ps], [cost, success, finN, accN], ["carry", "r", "p"], ["cost", "success", "finite", "objective"]
    )

    X0 = ca.MX.sym("x0", nx)
    R = ca.MX.sym("r", nr)
    P = ca.MX.sym("p", pl.np_)
    KN = ca.MX.sym("knobs", len(KNOBS))
    NY = ca.MX.sym("NY", ny, T)
    NW = ca.MX.sym("NW", S * nx, T)
    C, OUT = horizon(start(X0, P), ca.repmat(R, 1, T), ca.repmat(P, 1, T), ca.repmat(KN, 1, T), NY, NW)
    cN = C[:, -1]
    cost, success, finN, objective = finish(cN, R, P)
    Xs = ca.horzcat(OUT[:nx, :], cN[:nx])
    Ys = OUT[nx : nx + ny, :]
    Zs = ca.horzcat(OUT[nx + ny : nx + ny + nz, :], cN[nx : nx + nz])
    Us = OUT[nx + ny + nz :, :]
    args = [X0, R, P, KN, NY, NW]
    names = ["x0", "r", "p", "knobs", "NY", "NW"]
    sim = ca.Function(
        "closed_loop", args, [cost, success, finN, Xs, Ys, Zs, Us], names, ["cost", "success", "finite", "X", "Y", "Z", "U"]
    )
    cost_fn = ca.Function("closed_loop_cost", args, [cost, success], names, ["cost", "success"])
    objective_fn = ca.Function("closed_loop_objective", args, [objective], names, ["objective"])
    return ClosedLoop(
        task=task,
        policy=policy,
        ticks=T,
        delay=delay,
        integrator=integrator,
        start=start,
        tick=tick,
        finish=finish,
        sim=sim,
        cost_fn=cost_fn,
        objective_fn=objective_fn,
        plant_tick=plant_fixed,
    )
