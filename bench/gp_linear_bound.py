"""How good can a two-state linear time-invariant controller be on the SHO tasks? Exactly.

For a linear plant, a linear controller and Gaussian noise, the closed loop's state (plant state,
latent state, target) evolves linearly, so its second moment propagates exactly tick by tick and
the expected task cost is a sum of traces: no Monte Carlo error. This script writes that expected
cost for the contract's controller (`u_k = K z_k + F r`, `z_{k+1} = z_k + dt (Az z_k + By y_k +
Bu u_k + Br r)`, `z_0 = 0`) and for the time-varying LQG of `validation.lqg` (the same design,
its Riccati recursion written out), minimises the first over every coefficient (Adam, then
L-BFGS, from several starts), and scores the optimum on the benchmark's 1,000 test trajectories
with the simulator, against LQG on the same trajectories. The plant step is the simulator's
(diffrax Euler-Heun with additive noise: an Euler drift step, `x + h A x + h B u + G dW`).

    .venv/bin/python bench/gp_linear_bound.py --task sho/partial [--every 1] [--starts 3]

`--every 1` evaluates the cost at every tick instead of the task's grid (every 10th tick).
Restricting the class (`--no-target-in-latent`: `Br = 0`; `--no-control-in-latent`: `Bu = 0`)
gives the best controller of the form GP-D's four-term latent trees can hold.
"""

from __future__ import annotations

import argparse
import dataclasses

import jax

jax.config.update("jax_enable_x64", True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="sho/partial")
    ap.add_argument("--every", type=int, default=0, help="cost grid in ticks (default: the task's)")
    ap.add_argument("--starts", type=int, default=3)
    ap.add_argument("--adam", type=int, default=3000)
    ap.add_argument("--no-target-in-latent", action="store_true")
    ap.add_argument("--no-control-in-latent", action="store_true")
    args = ap.parse_args()

    import jax.numpy as jnp
    import numpy as np
    import optax
    import scipy.optimize as so
    import sympy as sp

    import plants
    from plants import linearize, lower, operating_point, symbol
    from synth import Simulator, SymbolicPolicy, stream_key
    from validation import design, lqg

    task = plants.get_task(args.task)
    if args.every:
        task = dataclasses.replace(task, cost=dataclasses.replace(task.cost, every=args.every))
    pl = task.plant
    if pl.time != "continuous" or task.substeps != 1 or task.nr != 1 or pl.nu != 1:
        raise SystemExit("this bound is written for continuous plants, one substep per tick, one target and one input")
    x_op, u_op = operating_point(task)
    lin = linearize(task, x_op, u_op)
    A, B, C = lin.A, lin.B, lin.C
    nx, ny, nz = pl.nx, task.ny, 2
    dt, every, T = task.dt, task.cost.every, task.n_ticks
    Ad, Bd = np.eye(nx) + dt * A, dt * B
    g = task.process_noise * np.array(lower(pl.diffusion, [pl.p], "numpy")(task.nominal_parameters), float).reshape(nx)
    W = np.diag(g**2) * dt
    V = np.diag(np.asarray(task.observation_noise, float) ** 2)
    P0 = np.diag([d.variance for d in task.initial_state])
    (rd,) = task.target_distribution
    Er2 = rd.variance + rd.mean**2
    # Stage cost (x - x_ref(r))' Qc (x - x_ref(r)) + (u - u_ref(r))' Rc (u - u_ref(r)), references affine in r.
    Qc, Rc = lin.Q / 2, lin.R / 2
    d = design(task)
    x_ref, u_ref = d.dx_dr[:, 0], d.du_dr[:, 0]  # the SHO's references are linear in r (zero at r = 0)

    n = nx + nz + 1  # s = (x, z, r)

    def stage_matrix(Ku):
        ex = np.zeros((nx, n))
        ex[:, :nx] = np.eye(nx)
        ex[:, -1] = -x_ref
        ex = jnp.asarray(ex)
        eu = Ku - jnp.zeros((1, n)).at[0, -1].set(u_ref[0])
        return ex.T @ jnp.asarray(Qc) @ ex + eu.T @ jnp.asarray(Rc) @ eu

    def expected(th):
        Az, By, Bu, Br, K, F = th
        Ku = jnp.concatenate([jnp.zeros((1, nx)), K, F], 1)
        Zs = jnp.concatenate([jnp.zeros((nz, nx)), jnp.eye(nz), jnp.zeros((nz, 1))], 1)
        Ys = jnp.concatenate([jnp.asarray(C), jnp.zeros((ny, nz + 1))], 1)
        Rs = jnp.zeros((1, n)).at[0, -1].set(1.0)
        Mx = jnp.concatenate([jnp.asarray(Ad), jnp.zeros((nx, nz + 1))], 1) + jnp.asarray(Bd) @ Ku
        Mz = Zs + dt * (Az @ Zs + By @ Ys + Bu @ Ku + Br @ Rs)
        M = jnp.concatenate([Mx, Mz, Rs], 0)
        Nv = jnp.concatenate([jnp.zeros((nx, ny)), dt * By, jnp.zeros((1, ny))], 0)
        Nw = jnp.concatenate([jnp.eye(nx), jnp.zeros((nz + 1, nx))], 0)
        Sig = Nw @ jnp.asarray(W) @ Nw.T + Nv @ jnp.asarray(V) @ Nv.T
        Qs = stage_matrix(Ku)
        S0 = jnp.zeros((n, n)).at[:nx, :nx].set(jnp.asarray(P0)).at[-1, -1].set(Er2)

        def tick(S, k):
            return M @ S @ M.T + Sig, jnp.where(k % every == 0, jnp.trace(Qs @ S), 0.0)

        _, cs = jax.lax.scan(tick, S0, jnp.arange(T))
        return cs.sum() / -(-T // every)

    def expected_lqg():
        """The time-varying LQG of `validation.lqg` in predictor form, on the same plant steps."""
        K = d.K
        Ku = np.zeros((1, 2 * nx + 1))
        Ku[0, nx : 2 * nx] = -K[0]
        Ku[0, -1] = (d.du_dr + K @ d.dx_dr)[0, 0]
        m = 2 * nx + 1
        ex = np.zeros((nx, m))
        ex[:, :nx] = np.eye(nx)
        ex[:, -1] = -x_ref
        eu = Ku.copy()
        eu[0, -1] -= u_ref[0]
        Qs = ex.T @ Qc @ ex + eu.T @ Rc @ eu
        S = np.zeros((m, m))
        S[:nx, :nx] = P0
        S[-1, -1] = Er2
        P, total = d.P0.copy(), 0.0
        for k in range(T):
            if k % every == 0:
                total += np.trace(Qs @ S)
            Lk = d.Ad @ P @ C.T @ np.linalg.inv(C @ P @ C.T + d.V)
            P = d.Ad @ P @ d.Ad.T + d.W - Lk @ C @ P @ d.Ad.T
            M = np.zeros((m, m))
            M[:nx, :nx] = Ad
            M[:nx] += Bd @ Ku
            M[nx : 2 * nx, :nx] = Lk @ C
            M[nx : 2 * nx, nx : 2 * nx] = d.Ad - Lk @ C
            M[nx : 2 * nx] += d.Bd @ Ku
            M[-1, -1] = 1.0
            Nv = np.zeros((m, ny))
            Nv[nx : 2 * nx] = Lk
            Nw = np.zeros((m, nx))
            Nw[:nx] = np.eye(nx)
            S = M @ S @ M.T + Nv @ V @ Nv.T + Nw @ W @ Nw.T
        return total / -(-T // every)

    mask = [
        np.ones((nz, nz)),
        np.ones((nz, ny)),
        np.ones((nz, 1)) * (not args.no_control_in_latent),
        np.ones((nz, 1)) * (not args.no_target_in_latent),
        np.ones((1, nz)),
        np.ones((1, 1)),
    ]
    flat_mask = jnp.asarray(np.concatenate([m.ravel() for m in mask]))
    shapes = [m.shape for m in mask]

    def unflat(v):
        out, i = [], 0
        for s in shapes:
            k = int(np.prod(s))
            out.append(v[i : i + k].reshape(s))
            i += k
        return out

    fg = jax.jit(jax.value_and_grad(lambda v: expected(unflat(v * flat_mask))))
    J_lqg = expected_lqg()
    best = None
    for start in range(args.starts):
        key = jax.random.PRNGKey(start)
        v = 0.1 * jax.random.normal(key, (int(flat_mask.size),))
        v = v.at[: nz * nz].set((-np.eye(nz) + 0.1 * np.asarray(jax.random.normal(key, (nz, nz)))).ravel())
        v = v.at[-1].set(1.0)
        opt = optax.adam(optax.cosine_decay_schedule(0.03, args.adam, 0.01))
        st = opt.init(v)
        for _ in range(args.adam):
            _, grad = fg(v)
            upd, st = opt.update(grad, st)
            v = optax.apply_updates(v, upd)
        res = so.minimize(
            lambda x: tuple(np.asarray(a, float) for a in fg(jnp.asarray(x))),
            np.asarray(v),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": 20000, "maxfun": 40000},
        )
        print(f"start {start}: expected cost {res.fun:.6f} = {res.fun / J_lqg:.4f} x LQG ({res.message})", flush=True)
        if best is None or res.fun < best.fun:
            best = res
    Az, By, Bu, Br, K, F = (np.asarray(a) for a in unflat(jnp.asarray(best.x) * flat_mask))
    ys = [symbol(o.name) for o in task.observations]
    zs = [symbol("a1"), symbol("a2")]
    u, r = symbol(pl.inputs[0]), symbol(task.targets[0])
    f = [
        sum(sp.Float(Az[i, j]) * zs[j] for j in range(nz))
        + sum(sp.Float(By[i, k]) * ys[k] for k in range(ny))
        + sp.Float(Bu[i, 0]) * u
        + sp.Float(Br[i, 0]) * r
        for i in range(nz)
    ]
    pol = SymbolicPolicy(
        observations=tuple(o.name for o in task.observations),
        targets=task.targets,
        latent=("a1", "a2"),
        controls=pl.inputs,
        f=tuple(f),
        g=(sp.Float(K[0, 0]) * zs[0] + sp.Float(K[0, 1]) * zs[1] + sp.Float(F[0, 0]) * r,),
        dt=dt,
    )
    sim = Simulator(task)
    scen = sim.scenarios(stream_key(0, "test"), 1000)
    c_pol = float(np.mean(np.asarray(sim.simulate(pol, scen).cost)))
    c_lqg = float(np.mean(np.asarray(sim.simulate(lqg(task, "lqg"), scen).cost)))
    print(
        f"{task.name}, cost every {every} ticks: LQG expected {J_lqg:.6f}; best linear time-invariant two-state controller "
        f"expected {best.fun:.6f} = {best.fun / J_lqg:.4f} x LQG; on the benchmark's 1,000 test trajectories "
        f"{c_pol:.6f} / {c_lqg:.6f} = {c_pol / c_lqg:.4f} x LQG"
    )


if __name__ == "__main__":
    main()
