"""NDE (`--method nde`): the network's tick in JAX and CasADi, its files, `symctl synth` on the
built-in tasks, `symctl validate` and `symctl codegen` on its run folder, `symctl run`, and a run
resumed from its checkpoint against an uninterrupted one."""

import json
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import plants
from synth import Simulator, load_policy, stream_key
from synth.nde import Architecture, NetworkPolicy, NetworkPolicyError, nde_config

ALL_TASKS = plants.builtin_tasks()
QUICK_TASKS = ("sho/partial", "acrobot/two-inputs")  # a target and one input; no target and two inputs
TINY = ["--population", "6", "--generations", "2", "--set", "train_trajectories=2", "--set", "validation_trajectories=2"]


def _policy(arch: Architecture, integrator: str = "euler", seed: int = 0, **units) -> NetworkPolicy:
    rng = np.random.default_rng(seed)
    return NetworkPolicy(
        arch,
        rng.normal(0, 0.7, arch.n_params),
        tuple(f"y{i}" for i in range(arch.ny)),
        tuple(f"r{i}" for i in range(arch.nr)),
        tuple(f"a{i}" for i in range(arch.nz)),
        tuple(f"u{i}" for i in range(arch.nu)),
        0.05,
        integrator,
        tuple((-1.5, 2.0) for _ in range(arch.nu)),
        **units,
    )


@pytest.mark.parametrize("integrator", ["euler", "rk4"])
def test_the_tick_in_jax_equals_the_tick_in_casadi(integrator):
    arch = Architecture(ny=2, nr=1, nu=2, nz=3, hidden_f=(4,), hidden_g=(3,))
    pol = _policy(arch, integrator, y0=(0.5, -1.0), sy=(2.0, 0.5), r0=(3.0,), sr=(4.0,), u0=(0.2, -0.1), su=(1.5, 0.7))
    ctrl, params = pol.controller()
    step = pol.casadi_step()
    rng = np.random.default_rng(1)
    for _ in range(5):
        z, y, r = rng.normal(size=3), rng.normal(size=2) * 3, rng.normal(size=1) * 3
        u_raw = np.asarray(ctrl.act(params, jnp.asarray(z), jnp.asarray(y), jnp.asarray(r)))
        u = np.clip(u_raw, -1.5, 2.0)  # the simulator saturates before the latent step reads u
        z_next = np.asarray(ctrl.advance(params, jnp.asarray(z), jnp.asarray(y), jnp.asarray(u), jnp.asarray(r)))
        u_c, z_c = (np.asarray(v, float).ravel() for v in step(z, y, r))
        np.testing.assert_allclose(u_c, u, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(z_c, z_next, rtol=1e-12, atol=1e-12)
    assert not np.allclose(u_raw, u)  # the draws reach the limits: saturation is part of what was compared


def test_network_files_round_trip_and_refuse_what_is_not_theirs(tmp_path):
    pol = _policy(Architecture(ny=1, nr=1, nu=1, nz=5), provenance={"task": "sho/partial"})
    path = pol.save(tmp_path)
    assert path.name == "network.json" and (tmp_path / "network.npz").is_file()
    back = load_policy(tmp_path)
    assert isinstance(back, NetworkPolicy) and back.digest() == pol.digest()
    np.testing.assert_array_equal(back.theta, pol.theta)
    d = json.loads(path.read_text())

    def refused(mutate, npz=None):
        bad = tmp_path / "bad"
        shutil.rmtree(bad, ignore_errors=True)
        bad.mkdir()
        shutil.copy(tmp_path / "network.npz", bad / "network.npz")
        if npz is not None:
            np.savez(bad / "network.npz", theta=npz)
        e = json.loads(json.dumps(d))
        mutate(e)
        (bad / "network.json").write_text(json.dumps(e))
        with pytest.raises(NetworkPolicyError) as err:
            NetworkPolicy.load(bad / "network.json")
        assert "\n" not in str(err.value)
        return str(err.value)

    assert "[schema_version] 2" in refused(lambda e: e.update(schema_version=2))
    assert "[architecture]" in refused(lambda e: e["architecture"].update(nz=0))
    assert "unknown keys depth" in refused(lambda e: e["architecture"].update(depth=2))
    assert "sha256" in refused(lambda e: None, npz=pol.theta + 1e-9)
    assert "51 parameters" in refused(lambda e: None, npz=pol.theta[:-1])
    assert "not next to it" in refused(lambda e: e["parameters"].update(file="other.npz"))


def test_denormalise_gives_the_same_controller_in_the_task_units():
    task = plants.get_task("cstr/varying")
    normal, scaling = plants.training_task(task, True, False)
    assert not scaling.is_identity
    arch = Architecture(normal.ny, normal.nr, normal.plant.nu, 3)
    rng = np.random.default_rng(2)
    learnt = NetworkPolicy(
        arch,
        rng.normal(0, 0.5, arch.n_params),
        tuple(o.name for o in normal.observations),
        tuple(normal.targets),
        ("a1", "a2", "a3"),
        tuple(normal.plant.inputs),
        normal.dt,
        "euler",
        tuple(normal.input_limits),
    )
    from synth import denormalise

    exported = denormalise(learnt, scaling)
    assert exported.input_limits == tuple(task.input_limits)
    (c1, p1), (c2, p2) = learnt.controller(), exported.controller()
    for _ in range(3):
        z = jnp.asarray(rng.normal(size=3))
        yn, rn = rng.normal(size=normal.ny), rng.normal(size=normal.nr)
        y, r = scaling.to_original("observations", yn), scaling.to_original("targets", rn)
        un = np.asarray(c1.act(p1, z, jnp.asarray(yn), jnp.asarray(rn)))
        u = np.asarray(c2.act(p2, z, jnp.asarray(y), jnp.asarray(r)))
        np.testing.assert_allclose(u, scaling.to_original("inputs", un), rtol=1e-10)
        zn = c1.advance(p1, z, jnp.asarray(yn), jnp.asarray(un), jnp.asarray(rn))
        np.testing.assert_allclose(
            np.asarray(c2.advance(p2, z, jnp.asarray(y), jnp.asarray(u), jnp.asarray(r))), np.asarray(zn), rtol=1e-10
        )


def test_budgets_match_gp_in_evaluations_and_the_paper_sizes():
    from synth.gp import BUDGETS as GP

    task = plants.get_task("sho/noisy")
    for budget in ("quick", "paper"):
        cfg = nde_config(task, budget)
        assert (cfg.population * cfg.generations, cfg.train_trajectories) == (
            GP[budget]["population"] * GP[budget]["generations"],
            GP[budget]["train_trajectories"],
        )
    assert (nde_config(task).latent, nde_config(task).sigma_init) == (5, 0.5)
    assert nde_config(plants.get_task("cstr/varying")).latent == 10


def _synth(task: str, out: Path, *extra: str) -> int:
    from symctl.cli import main

    return main(["synth", task, "--method", "nde", "--out", str(out), "--quiet", *TINY, *extra])


def _check_run_folder(task_name: str, out: Path) -> NetworkPolicy:
    task = plants.get_task(task_name)
    pol = load_policy(out)
    assert isinstance(pol, NetworkPolicy)
    assert (pol.ny, pol.nr, pol.nu) == (task.ny, task.nr, task.plant.nu)
    assert {"network.json", "network.npz", "config.toml", "manifest.json", "history.csv"} <= {p.name for p in out.iterdir()}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["method"] == "nde" and manifest["nde"]["evaluations"] == 12
    assert len((out / "history.csv").read_text().splitlines()) == 3
    assert not np.isnan(pol.provenance["validation_cost"])
    return pol


@pytest.mark.parametrize("task", QUICK_TASKS)
def test_synth_nde_on_a_task(tmp_path, task):
    assert _synth(task, tmp_path / "run") == 0
    _check_run_folder(task, tmp_path / "run")


@pytest.mark.slow
@pytest.mark.parametrize("task", [t for t in ALL_TASKS if t not in QUICK_TASKS])
def test_synth_nde_on_every_builtin_task(tmp_path, task):
    assert _synth(task, tmp_path / "run") == 0
    _check_run_folder(task, tmp_path / "run")


def test_codegen_refuses_an_nde_run_folder_in_one_line(tmp_path, capsys):
    from symctl.cli import main

    run = tmp_path / "run"
    _policy(Architecture(ny=1, nr=1, nu=1, nz=5), provenance={"task": "sho/partial"}).save(run)
    assert main(["codegen", str(run), "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("symctl: error: codegen:") and "network policy" in err and "\n" not in err
    assert not (tmp_path / "c").exists()


def _short_task_file(tmp_path: Path, horizon: float = 2.0) -> Path:
    """sho/partial over `horizon` seconds (100 ticks): the same plant and task, cheaper to validate."""
    src = plants.task_path("sho/partial")
    shutil.copy(src.parent / "plant.toml", tmp_path / "plant.toml")
    text = src.read_text(encoding="utf-8").replace("horizon = 30.0", f"horizon = {horizon}")
    assert f"horizon = {horizon}" in text
    (tmp_path / "partial.toml").write_text(text, encoding="utf-8")
    return tmp_path / "partial.toml"


def test_the_simulator_and_the_casadi_closed_loop_run_a_network_alike(tmp_path):
    """Validation's Monte Carlo runs a network through the JAX simulator; its sweeps, worst case and
    margins through the CasADi closed loop built from its own tick: one trajectory, the same cost."""
    from validation import build_closed_loop, noise_from_simulator

    t = plants.get_task(str(_short_task_file(tmp_path)))
    arch = Architecture(t.ny, t.nr, t.plant.nu, 5)
    pol = NetworkPolicy(
        arch,
        np.random.default_rng(4).normal(0, 0.5, arch.n_params),
        tuple(o.name for o in t.observations),
        tuple(t.targets),
        tuple(f"a{i}" for i in range(5)),
        tuple(t.plant.inputs),
        t.dt,
        "rk4",
        tuple(t.input_limits),
    )
    sim = Simulator(t)
    scen = sim.scenarios(stream_key(0, "test"), 3)
    jax_costs = np.asarray(sim.simulate(pol, scen).cost, float)
    draws = jax.jit(jax.vmap(sim.noise_draws))(scen)  # what Simulator.noise_sequence gives, for the three at once
    cl = build_closed_loop(t, pol)
    for i in range(3):
        s = scen.take(i)
        noise = noise_from_simulator((np.asarray(draws[0][i]), np.asarray(draws[1][i])))
        cas = cl.run(np.asarray(s.x0), np.asarray(s.r), np.asarray(s.p), noise=noise)
        assert np.isfinite(cas["cost"]) and cas["cost"] == pytest.approx(jax_costs[i], rel=1e-9)


@pytest.mark.slow
def test_validate_an_nde_run_folder(tmp_path):
    from symctl.cli import main

    task = _short_task_file(tmp_path)
    run = tmp_path / "run"
    assert _synth(str(task), run) == 0
    status = main(
        [
            "validate",
            str(run),
            "--task",
            str(task),
            "--trajectories",
            "20",
            "--sweep",
            "4",
            "--starts",
            "1",
            "--oracle",
            "2",
            "--quiet",
            "--allow-fail",
        ]
    )
    assert status == 0
    res = json.loads((run / "validation.json").read_text())
    assert res["policy"]["network"] is True and res["policy"]["digest"] == load_policy(run).digest()
    mc = res["monte_carlo"]["policies"]
    assert mc["policy"]["n"] == 20 and {"lqg", "lqg-ss"} <= set(mc)
    assert mc["policy"]["mean"] == pytest.approx(float(np.mean(res["monte_carlo"]["costs"]["policy"])))
    names = [row["name"] for row in res["certificate"]["rows"]]
    assert any("cost ratio" in n for n in names)
    assert "<pre>neural ODE policy" in (run / "report.html").read_text()


def test_resume_ends_where_an_uninterrupted_run_ends(tmp_path, monkeypatch):
    from synth.nde import Trainer, run_nde

    task = plants.get_task(str(_short_task_file(tmp_path, 1.0)))
    opts = {"population": 6, "generations": 4}
    settings = {"train_trajectories": 2, "validation_trajectories": 2}
    whole = run_nde(task, tmp_path / "whole", seed=3, options=opts, settings=settings)

    real = Trainer.costs
    calls = {"n": 0}

    def interrupted(self, thetas):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, thetas)

    monkeypatch.setattr(Trainer, "costs", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_nde(task, tmp_path / "cut", seed=3, options=opts, settings=settings)
    monkeypatch.setattr(Trainer, "costs", real)
    assert json.loads((tmp_path / "cut" / "checkpoint" / "state.json").read_text())["generation"] == 2
    with pytest.raises(plants.UserInputError, match="--resume"):
        run_nde(task, tmp_path / "cut", seed=3, options=opts, settings=settings)
    resumed = run_nde(task, tmp_path / "cut", seed=3, options=opts, settings=settings, resume=True)
    np.testing.assert_array_equal(resumed.theta, whole.theta)
    assert resumed.digest() == whole.digest()

    def rows(folder):
        return [line.rsplit(",", 1)[0] for line in (folder / "history.csv").read_text().splitlines()]

    assert rows(tmp_path / "cut") == rows(tmp_path / "whole") and len(rows(tmp_path / "whole")) == 5
    with pytest.raises(plants.UserInputError, match="other settings"):
        run_nde(task, tmp_path / "cut", seed=4, options=opts, settings=settings, resume=True)


@pytest.mark.slow
def test_symctl_run_nde_validates_and_skips_c(tmp_path):
    from symctl.cli import main

    task = _short_task_file(tmp_path)
    out = tmp_path / "run"
    args = [
        "run",
        str(task),
        "--method",
        "nde",
        "--out",
        str(out),
        *TINY,
        "--trajectories",
        "20",
        "--sweep",
        "4",
        "--starts",
        "1",
        "--no-cortex-m4",
        "--no-compile-cache",
        "--quiet",
        "--allow-fail",
    ]
    assert main(args) == 0
    names = {p.name for p in out.iterdir()}
    assert {"network.json", "network.npz", "method_network.json", "validation.json", "report.html", "synth.toml"} <= names
    assert "c" not in names and "policy.json" not in names
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["stages"]) == {"synth", "validate"}
    assert main(args) == 0  # everything up to date: nothing runs again
    assert json.loads((out / "manifest.json").read_text())["stages"] == manifest["stages"]
