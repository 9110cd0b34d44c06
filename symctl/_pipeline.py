"""`symctl run`: synthesis -> validation -> C code generation with verification, in one run folder.

Each stage records the hash of its inputs in `manifest.json` ("stages"); a stage whose outputs are
in the folder and whose inputs are unchanged is skipped, so an interrupted run picks up where it
stopped (synthesis itself continues from its last checkpoint with `--resume`).

A method that learns a network (NDE) writes `network.json` and `network.npz` instead of
`policy.json`; its trained network is the only candidate (the certificate-aware choice screens
symbolic candidates), validation runs it like any policy, and code generation is skipped (C is
printed from expressions).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from plants import Task, get_task
from plants._version import __version__

from ._config import SYNTH_KEYS, settings_table

STAGES = ("synth", "validate", "codegen")
# Methods whose policy is a network (`synth.AbstractNetworkPolicy`), and the files it is kept in.
NETWORK_METHODS = ("nde",)
_NETWORK_OUTPUTS = ("network.json", "network.npz")
_OUTPUTS = {
    "synth": ("policy.json", "choice.csv"),
    "validate": ("validation.json", "report.html"),
    "codegen": ("c/verification.json",),
}


def enable_compilation_cache(enabled: bool = True) -> Path | None:
    """Keep JAX's compiled programs on disk so a second run of the same task skips most compilation.
    Off when `enabled` is false or the environment sets SYMCTL_COMPILE_CACHE=0."""
    from synth._runfolder import cache_dir

    path = cache_dir("jax")
    if not enabled or path is None:
        return None
    import jax

    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path


def _sha(*parts: Any) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=str).encode() if not isinstance(p, bytes) else p)
        h.update(b"\0")
    return h.hexdigest()


def _task_text(task: Task) -> str:
    """The text of the task file and of the plant file it names (what the task's hash covers)."""
    if not task.source:
        return task.name
    src = Path(task.source)
    text = src.read_text(encoding="utf-8")
    import tomllib

    ref = tomllib.loads(text).get("task", {}).get("plant")
    if isinstance(ref, str) and (src.parent / ref).exists():
        text += (src.parent / ref).read_text(encoding="utf-8")
    return text


def _manifest(out: Path) -> dict:
    path = out / "manifest.json"
    if path.exists():
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            return {}
    return {}


def _outputs(stage: str, method: str) -> tuple[str, ...]:
    return _NETWORK_OUTPUTS if stage == "synth" and method in NETWORK_METHODS else _OUTPUTS[stage]


def _up_to_date(out: Path, stage: str, digest: str, method: str = "") -> bool:
    record = _manifest(out).get("stages", {}).get(stage, {})
    return record.get("hash") == digest and all((out / f).exists() for f in _outputs(stage, method))


def _record(out: Path, config: dict, stage: str, digest: str, seconds: float) -> None:
    from synth._runfolder import write_manifest

    m = _manifest(out)
    stages = m.get("stages", {})
    stages[stage] = {"hash": digest, "seconds": round(seconds, 3), "outputs": list(_outputs(stage, config["method"]))}
    # A stage that ran again invalidates the ones after it.
    for later in STAGES[STAGES.index(stage) + 1 :]:
        stages.pop(later, None)
    write_manifest(out, config, config["seed"], stages=stages)


@dataclasses.dataclass(frozen=True)
class RunContext:
    """A run about to start: the task, its run folder (created), the resolved config with `out` and
    `task_name` filled in, the text the task's hash covers, and the compilation cache in use."""

    task: Task
    out: Path
    config: dict[str, Any]
    task_text: str
    compile_cache: Path | None


def prepare_run(config: dict[str, Any]) -> RunContext:
    """Load the task of a resolved run config, create its run folder, switch on the compilation cache."""
    from synth._runfolder import default_run_folder, prepare

    cache = enable_compilation_cache(config["compile_cache"])
    task = get_task(config["task"])
    out = prepare(config["out"] or default_run_folder(task.name, config["method"], config["seed"]))
    config = {**config, "out": str(out), "task_name": task.name}
    return RunContext(task, out, config, _task_text(task), cache)


def synth_stage(run: RunContext, say: Callable[[str], None], progress: Callable[[dict], None] | None) -> tuple[Any, float | None]:
    """The synthesis stage of `symctl run` (and `symctl.synthesize`): skipped when the folder's policy
    was made from the same inputs, else `synthesize`, recorded in the manifest. Returns the exported
    policy and the seconds it took (None: up to date)."""
    from synth import load_policy

    from ._methods import get_method

    task, out, config, method = run.task, run.out, run.config, run.config["method"]
    synth_opts = {k: config[k] for k in SYNTH_KEYS}
    settings = method_settings(config)  # (in the hash only when given: earlier run folders stay up to date)
    h_synth = _sha(
        "synth",
        __version__,
        run.task_text,
        method,
        config["budget"],
        config["seed"],
        synth_opts,
        config.get("robust", False),
        *([settings] if settings else []),
    )
    if _up_to_date(out, "synth", h_synth, method):
        say(f"synthesis: up to date ({out / _outputs('synth', method)[0]})")
        return load_policy(out), None
    say(f"synthesis: {method}, {config['budget']} budget, seed {config['seed']}")
    runner = get_method(method)
    t0 = time.perf_counter()
    policy = synthesize(task, out, method, runner, config, {"budget": config["budget"]}, progress, say)
    seconds = time.perf_counter() - t0
    _keep_method_config(out)
    _record(out, config, "synth", h_synth, seconds)
    return policy, seconds


def run(
    config: dict[str, Any],
    say: Callable[[str], None] = print,
    progress: Callable[[dict], None] | None = None,
    stages: Callable[[str, float], None] | None = None,
) -> dict:
    """Run the pipeline for a resolved run config (see `symctl._config`). Returns a summary dict.

    `say(line)` receives the messages, `progress(record)` the synthesis method's records and
    `stages(stage, fraction)` validation's progress (default: each stage's name through `say`,
    unless the config says `quiet`)."""
    from synth._runfolder import write_config

    ctx = prepare_run(config)
    task, out, config, task_text, cache = ctx.task, ctx.out, ctx.config, ctx.task_text, ctx.compile_cache
    method = config["method"]

    timings: dict[str, float] = {}
    summary: dict[str, Any] = {
        "out": str(out),
        "task": task.name,
        "method": method,
        "compile_cache": str(cache) if cache else None,
    }

    # Synthesis ------------------------------------------------------------------------------------
    policy, seconds = synth_stage(ctx, say, progress)
    if seconds is not None:
        timings["synth"] = seconds
    network = method in NETWORK_METHODS
    # what the later stages' hashes cover: the policy file, or a network's digest (its numbers are in the .npz)
    policy_text = policy.digest() if network else (out / "policy.json").read_text(encoding="utf-8")

    # Validation -----------------------------------------------------------------------------------
    from validation import DEFAULT_REQUIREMENTS, DEFAULT_SETTINGS, validate

    vset = {"trajectories": config["trajectories"], "sweep": config["sweep"], "starts": config["starts"], "seed": config["seed"]}
    # (the defaults too: a certificate that gained a requirement or a check is not up to date)
    h_val = _sha("validate", __version__, task_text, policy_text, vset, DEFAULT_SETTINGS, DEFAULT_REQUIREMENTS)
    if _up_to_date(out, "validate", h_val):
        say("validation: up to date")
        results = json.loads((out / "validation.json").read_text())
    else:
        say(f"validation: Monte Carlo on {config['trajectories']} held-out trajectories, sweeps, worst case, margins")
        t0 = time.perf_counter()
        if stages is None and not config["quiet"]:
            stages = lambda name, frac: say(f"  {name}")  # noqa: E731
        where = {"workers": config.get("workers"), "address": config.get("address")}  # (not hashed: the same costs either way)
        results = validate(policy, task, out, settings={**vset, **where}, progress=stages)
        timings["validate"] = time.perf_counter() - t0
        _record(out, config, "validate", h_val, timings["validate"])

    # Code generation ------------------------------------------------------------------------------
    cset = {"prefix": config["prefix"], "real": config["real"], "cortex_m4": config["cortex_m4"]}
    h_c = _sha("codegen", __version__, policy_text, task_text, cset)
    if network:
        cres = {"skipped": f"method {method} learns a network: C is generated from symbolic policies only"}
        say(f"code generation: skipped ({cres['skipped']})")
    elif _up_to_date(out, "codegen", h_c):
        say("code generation: up to date")
        cres = json.loads((out / "c" / "verification.json").read_text())
    else:
        say("code generation: C source, verified on the host" + (" and an emulated Cortex-M4" if config["cortex_m4"] else ""))
        t0 = time.perf_counter()
        cres = generate_and_verify(policy, task, out / "c", config)
        timings["codegen"] = time.perf_counter() - t0
        _record(out, config, "codegen", h_c, timings["codegen"])

    write_config(out, {k: v for k, v in config.items() if k not in ("resume", "quiet")})
    from synth._runfolder import write_manifest

    m = _manifest(out)
    write_manifest(
        out, config, config["seed"], last_run_seconds={k: round(v, 3) for k, v in timings.items()}, stages=m.get("stages", {})
    )
    summary.update(policy=policy, validation=results, codegen=cres, timings=timings)
    return summary


def _with_devices(settings: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """The method's settings with the run's `devices` (GP methods; not hashed: the result does not
    depend on the device count)."""
    return {**settings, "devices": config["devices"]} if config.get("devices") is not None else settings


def method_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The settings of the run's method: its table of the run config (`[gp]`, `[espl]`, `--set`)."""
    table = settings_table(config["method"])
    return dict(config.get(table) or {}) if table else {}


def _training_notes(task: Task, robust: bool) -> tuple[Any, list[str]]:
    """The scaling of the task the method learns on (`plants.training_task`), and what the
    training task changes, in words."""
    from plants import training_task

    learn, scaling = training_task(task, True, robust)
    notes = [] if scaling.is_identity else ["learning in normalised units: " + "; ".join(str(scaling).splitlines())]
    if robust and learn.varying_parameters != task.varying_parameters:
        notes.append(f"robust training: parameters {', '.join(learn.varying_parameters)} drawn over their ranges")
    return scaling, notes


def synthesize(task: Task, out: Path, method: str, runner, config: dict, kwargs: dict, progress, say) -> Any:
    """Run the method on the training task (normalised units; with `robust`, parameters over their
    box), bring its result to the task's units, and make the certificate-aware final choice
    (`_choice`); writes `policy.json` (the exported policy) and keeps the method's own pick, in the
    units it learnt in, as `method_policy.json`."""
    from synth import AbstractNetworkPolicy, denormalise

    from ._choice import choose

    robust = bool(config.get("robust", False))
    scaling, notes = _training_notes(task, robust)
    for note in notes:
        say(f"  {note}")
    policy = runner(
        task,
        out,
        seed=config["seed"],
        options={k: config[k] for k in SYNTH_KEYS},
        resume=config["resume"],
        progress=progress,
        method=method,
        normalised=True,
        robust=robust,
        settings=_with_devices(method_settings(config), config),
        **kwargs,
    )
    if isinstance(policy, AbstractNetworkPolicy):
        # the method's network (in the units it learnt in) is kept as method_network.*; the exported
        # one, in the task's units, replaces network.*
        policy.save(out, stem="method_network")
        exported = denormalise(policy, scaling)
        exported.save(out)
        say("choice: the trained network (the certificate-aware choice screens symbolic candidates; a network is the only one)")
        return exported
    (out / "policy.json").replace(out / "method_policy.json")
    fit = _latent_note(out, policy)
    if fit:
        say(f"  {fit}")

    def export(p):
        return denormalise(p, scaling)

    policy, _ = choose(task, out, export(policy), seed=config["seed"], export=export, say=say)
    policy.save(out / "policy.json")
    return policy


def _latent_note(out: Path, policy) -> str:
    """The latent size of a run that started from a seed policy, and the seed's."""
    from synth import SymbolicPolicy

    seed = out / "seed_policy.json"
    if not seed.exists() or not policy.nz:
        return ""
    return f"latent size {policy.nz}; the run started from its seed policy ({SymbolicPolicy.load(seed).nz} latent states)"


def _keep_method_config(out: Path) -> None:
    """The method wrote its own resolved settings to config.toml: keep them as synth.toml."""
    src = out / "config.toml"
    if src.exists():
        src.replace(out / "synth.toml")


def generate_and_verify(policy, task: Task, c_dir: Path, config: dict) -> dict:
    """Generate the C files and verify them on a recorded closed-loop trajectory (1,500 ticks or the
    task's horizon) against the Python float64 reference; writes `c/verification.json`."""
    import numpy as np

    import codegen
    from synth import Simulator
    from synth._runfolder import stream_key

    c_dir.mkdir(parents=True, exist_ok=True)
    code = codegen.generate(policy, c_dir, prefix=config["prefix"], real=config["real"])
    sim = Simulator(task)
    scen = sim.scenarios(stream_key(config["seed"], "codegen"), 1)
    rec = sim.simulate(policy, scen, save=True)
    ticks = min(1500, task.n_ticks)
    ys = np.asarray(rec.y[0][:ticks], float)
    r = np.asarray(scen.r[0], float)
    targets = ("host", "cortex-m4") if config["cortex_m4"] else ("host",)
    report = codegen.verify(
        policy,
        code,
        ys,
        r,
        targets=targets,
        work_dir=c_dir / "verify",
        log=c_dir / "verification.log",
        recorded_u=np.asarray(rec.u[0][:ticks], float),
    )
    report["files"] = [str(p.relative_to(c_dir)) for p in sorted(c_dir.rglob("*")) if p.is_file() and "verify" not in p.parts]
    from synth._json import jsonable

    (c_dir / "verification.json").write_text(json.dumps(jsonable(report), indent=2, default=str) + "\n", encoding="utf-8")
    return report
