"""Reference figures for `pendulum/swingup`: how good can a policy be, and where does one lose?

    nice -n 10 .venv/bin/python bench/pendulum_reference.py [POLICY.json ...] [--families]

1. The optimal expected cost (minus the best possible mean return) by dynamic programming: the
   200-step problem is solved backwards on a grid of (th, dth) with bilinear interpolation of the
   value function (41 torque levels in [-2, 2]); the greedy policy of that value function is then
   simulated from 20,000 random starts of the task's distribution (th ~ U(-pi, pi), dth ~ U(-1, 1)).
2. For each POLICY.json (a static pendulum policy of cos_th, sin_th, dth_obs), its cost from a
   72 x 8 grid of starts against the optimum from the same starts, by band of |th0|: where the
   policy loses to the optimal one.
3. With --map, the optimal first torque on a coarse (th, dth) grid, as characters.
4. With --families, two small families of expressions with their constants fitted by Nelder-Mead
   on 2,048 Latin hypercube starts and scored on a 256 x 16 grid (a different set): the
   "cos-switched PD" that ESPL extracts on this task,
       -k0 tanh(k1 sin + k2 dth + k3 cos dth + k4 cos sin + k5),
   and the same with an energy term dth * (dth^2/2 + 15 cos - 15), i.e. a dth^3 term.

The step map is the task's (Pendulum-v1, `plants/library/pendulum/swingup.toml`), written here in
numpy; tests/test_plants_gym.py checks the task against Gymnasium.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

G, DT, MAX_SPEED, STEPS = 10.0, 0.05, 8.0, 200


def wrap(a):
    return (a + np.pi) % (2 * np.pi) - np.pi


def step(th, dth, u):
    """The Pendulum-v1 step (m = l = 1): speed clipped before the angle advances."""
    dth = np.clip(dth + (1.5 * G * np.sin(th) + 3.0 * u) * DT, -MAX_SPEED, MAX_SPEED)
    return th + dth * DT, dth


def stage(th, dth, u):
    return wrap(th) ** 2 + 0.1 * dth**2 + 0.001 * u**2


class Grid:
    def __init__(self, n_th: int, n_dth: int):
        self.n_th, self.n_dth = n_th, n_dth
        self.th = np.linspace(-np.pi, np.pi, n_th)
        self.dth = np.linspace(-MAX_SPEED, MAX_SPEED, n_dth)

    def interp(self, V, th, dth):
        fi = (wrap(th) + np.pi) / (2 * np.pi) * (self.n_th - 1)
        fj = (dth + MAX_SPEED) / (2 * MAX_SPEED) * (self.n_dth - 1)
        i = np.clip(np.floor(fi).astype(int), 0, self.n_th - 2)
        j = np.clip(np.floor(fj).astype(int), 0, self.n_dth - 2)
        a, b = fi - i, fj - j
        return (1 - a) * (1 - b) * V[i, j] + a * (1 - b) * V[i + 1, j] + (1 - a) * b * V[i, j + 1] + a * b * V[i + 1, j + 1]


def solve(grid: Grid, torques: np.ndarray) -> list[np.ndarray]:
    """Value functions V[k] (cost-to-go with k steps left), k = 0..STEPS."""
    TH, DTH = np.meshgrid(grid.th, grid.dth, indexing="ij")
    moves = [(*step(TH, DTH, u), stage(TH, DTH, u)) for u in torques]
    V = [np.zeros_like(TH)]
    for _ in range(STEPS):
        V.append(np.min([c + grid.interp(V[-1], t, d) for t, d, c in moves], axis=0))
    return V


def greedy_cost(grid: Grid, V: list[np.ndarray], torques: np.ndarray, th, dth) -> np.ndarray:
    th, dth, total = th.copy(), dth.copy(), np.zeros_like(th)
    for k in range(STEPS):
        q = np.stack([stage(th, dth, u) + grid.interp(V[STEPS - 1 - k], *step(th, dth, u)) for u in torques])
        u = torques[np.argmin(q, axis=0)]
        total += stage(th, dth, u)
        th, dth = step(th, dth, u)
    return total


def policy_cost(fn, th, dth) -> np.ndarray:
    """Cost of the policy u = clip(fn(cos, sin, dth), -2, 2) from each start."""
    th, dth, total = th.copy(), dth.copy(), np.zeros_like(th)
    for _ in range(STEPS):
        u = np.clip(np.asarray(fn(np.cos(th), np.sin(th), dth), float) * np.ones_like(th), -2.0, 2.0)
        total += stage(th, dth, u)
        th, dth = step(th, dth, u)
    return total


def grid_starts(n_th: int, n_dth: int):
    a = -np.pi + (np.arange(n_th) + 0.5) * 2 * np.pi / n_th
    b = -1.0 + (np.arange(n_dth) + 0.5) * 2.0 / n_dth
    A, B = np.meshgrid(a, b, indexing="ij")
    return A.ravel(), B.ravel()


def families() -> None:
    from scipy.optimize import minimize

    rng = np.random.default_rng(1)
    n = 2048
    fit_th = -np.pi + (rng.permutation(n) + rng.uniform(size=n)) / n * 2 * np.pi
    fit_dth = -1.0 + (rng.permutation(n) + rng.uniform(size=n)) / n * 2.0
    score_th, score_dth = grid_starts(256, 16)

    def energy(c, d):
        return 0.5 * d * d + 1.5 * G * c - 1.5 * G

    forms = {
        "cos-switched PD": (
            lambda k, c, s, d: -k[0] * np.tanh(k[1] * s + k[2] * d + k[3] * c * d + k[4] * c * s + k[5]),
            [[2.3, 3.0, 0.5, 2.4, 7.5, 0.0], [4.2, 1.8, 0.14, 2.8, 7.1, 0.0]],
        ),
        "cos-switched PD + energy (dth^3)": (
            lambda k, c, s, d: -k[0] * np.tanh(k[1] * s + k[2] * d + k[3] * c * d + k[4] * c * s + k[5] * d * energy(c, d)),
            [[2.3, 3.0, 0.5, 2.4, 7.5, 0.0], [4.2, 1.8, 0.14, 2.8, 7.1, 0.02], [6.9, -0.58, -0.12, 0.31, 1.48, 0.026]],
        ),
    }
    # Nelder-Mead is local: several starts per family (the energy family's third is a finer fit's end point), best fit kept.
    for name, (form, starts) in forms.items():
        t0 = time.perf_counter()
        best = None
        for x0 in starts:
            r = minimize(
                lambda k, form=form: policy_cost(lambda c, s, d: form(k, c, s, d), fit_th, fit_dth).mean(),
                np.array(x0, float),
                method="Nelder-Mead",
                options={"maxiter": 2000, "xatol": 1e-4, "fatol": 1e-3},
            )
            if best is None or r.fun < best.fun:
                best = r
        scored = policy_cost(lambda c, s, d, form=form, k=best.x: form(k, c, s, d), score_th, score_dth).mean()
        print(
            f"family {name}: fitted {best.fun:.2f} on 2,048 starts, {scored:.2f} on the 256 x 16 grid; "
            f"constants {np.round(best.x, 3).tolist()} ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("policies", nargs="*", help="policy.json files of static pendulum policies")
    ap.add_argument("--grid", type=int, nargs=2, default=(361, 321), help="grid points in th and dth")
    ap.add_argument("--families", action="store_true", help="fit the two expression families (a few minutes)")
    ap.add_argument("--map", action="store_true", help="print the optimal first torque over (th, dth)")
    args = ap.parse_args()
    grid, torques = Grid(*args.grid), np.linspace(-2.0, 2.0, 41)
    t0 = time.perf_counter()
    V = solve(grid, torques)
    rng = np.random.default_rng(0)
    th0, dth0 = rng.uniform(-np.pi, np.pi, 20_000), rng.uniform(-1.0, 1.0, 20_000)
    cost = greedy_cost(grid, V, torques, th0, dth0)
    print(
        f"optimal expected cost: value function {grid.interp(V[STEPS], th0, dth0).mean():.2f}, greedy policy simulated "
        f"{cost.mean():.2f} +- {cost.std() / np.sqrt(len(cost)):.2f} (std of one episode {cost.std():.1f}; 20,000 starts; "
        f"grid {grid.n_th} x {grid.n_dth}; {time.perf_counter() - t0:.0f} s)",
        flush=True,
    )
    if args.map:
        print(
            "optimal torque with 200 steps to go: + / - is +2 / -2, p / n in (0, 2) / (-2, 0); "
            "rows dth from 8 down to -8, columns th from -pi to pi (0 = upright)"
        )
        th = np.linspace(-np.pi, np.pi, 37)
        for d in np.linspace(MAX_SPEED, -MAX_SPEED, 17):
            dd = np.full_like(th, d)
            q = np.stack([stage(th, dd, u) + grid.interp(V[STEPS - 1], *step(th, dd, u)) for u in torques])
            u = torques[np.argmin(q, axis=0)]
            row = "".join("+" if v > 1.9 else "-" if v < -1.9 else "p" if v > 0 else "n" if v < 0 else "0" for v in u)
            print(f"{d:5.1f} {row}")
    if args.policies:
        import sympy as sp

        from synth import SymbolicPolicy

        gth, gdth = grid_starts(72, 8)
        best = greedy_cost(grid, V, torques, gth, gdth)
        edges = np.linspace(0.0, np.pi, 10)
        band = np.digitize(np.abs(gth), edges) - 1
        for path in args.policies:
            policy = SymbolicPolicy.load(path)
            if [str(y) for y in policy.y] != ["cos_th", "sin_th", "dth_obs"] or policy.nz or policy.nr:
                raise SystemExit(f"{path}: not a static pendulum/swingup policy of cos_th, sin_th, dth_obs")
            fn = sp.lambdify(list(policy.y), policy.g[0], "numpy")
            mine = policy_cost(fn, gth, gdth)
            print(
                f"{path}: {mine.mean():.2f} from the 72 x 8 grid of starts, optimal {best.mean():.2f}, gap {mine.mean() - best.mean():.2f}"
            )
            for b in range(len(edges) - 1):
                sel = band == b
                print(
                    f"  |th0| in [{edges[b]:.2f}, {edges[b + 1]:.2f}): policy {mine[sel].mean():7.1f}, optimal {best[sel].mean():7.1f}, "
                    f"gap {mine[sel].mean() - best[sel].mean():5.1f}"
                )
    if args.families:
        families()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
