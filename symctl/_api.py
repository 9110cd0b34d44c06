"""The Python API: `symctl run`, its synthesis stage, `symctl validate` and `symctl codegen` as functions.

Each function runs the code of its command with the command's defaults, so a call and the command
with the same options give the same files: `synthesize` is the synthesis stage of `symctl run`
(normalised units, robust training, GP-D started from the steady-state LQG when it fits, the
certificate-aware choice; a run folder whose synthesis is up to date is not synthesised again),
`validate` is `symctl validate`, `generate_c` is `symctl codegen`, `run` is `symctl run`. Like the
commands, they switch JAX to float64 (`jax_enable_x64`) for the rest of the process. They print
nothing: `progress` and `log` receive what the CLI displays.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from plants import Task, UserInputError, did_you_mean
from synth import SymbolicPolicy

from ._results import CCode, RunSummary, Validation

# Run options that `run` takes as its own arguments, and those only the command line has.
_ARGUMENTS = ("task", "method", "budget", "seed", "out", "resume")
_CLI_ONLY = ("quiet", "allow_fail")
MIN_TICKS = 1500  # closed-loop ticks recorded for `generate_c(..., verify=True)`


def _silent(*args: Any) -> None:
    return None


def _check_keywords(function: str, given: Mapping[str, Any], valid: Iterable[str]) -> None:
    """Refuse keyword arguments `function` does not take, naming the nearest valid one."""
    valid = list(valid)
    for key in given:
        if key not in valid:
            raise TypeError(
                f"symctl.{function}() got an unexpected keyword argument {key!r}{did_you_mean(key, valid)}; "
                f"valid: {', '.join(valid)}"
            )


def _task_spec(task: Task | str | Path) -> str:
    """What the run config holds for a task: a built-in name or the path of a task file."""
    if isinstance(task, Task):
        from plants import task_reference

        return task_reference(task)
    return str(task)


def _run_config(
    function: str,
    task,
    method: str,
    budget: str,
    seed: int,
    out,
    resume: bool,
    options: dict,
    valid: Iterable[str],
    settings: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The resolved run config of a call, as `symctl run` resolves its command line; `settings`
    are the method's (the `[gp]` / `[espl]` table, `--set`)."""
    from ._config import check_settings, fold_settings, resolve, settings_table

    _check_keywords(function, options, valid)
    cli = {
        "task": _task_spec(task),
        "method": method,
        "budget": budget,
        "seed": seed,
        "out": str(out) if out is not None else None,
        "resume": resume,
        **options,
    }
    config = resolve(cli, None)
    if settings:
        table = settings_table(config["method"])
        if table is None:
            raise UserInputError(f"settings: method {config['method']!r} has no settings")
        values = check_settings(table, dict(settings), "settings")
        config[table].update(fold_settings(config["method"], config, options, values, "settings"))
    return config


def _synth_options() -> tuple[str, ...]:
    from ._config import SYNTH_KEYS

    return (*SYNTH_KEYS, "robust", "compile_cache", "devices")


def synthesize(
    task: Task | str | Path,
    method: str = "gp-d",
    *,
    budget: str = "quick",
    seed: int = 0,
    out: str | Path | None = None,
    resume: bool = False,
    progress: Callable[[dict], None] | None = None,
    log: Callable[[str], None] | None = None,
    settings: Mapping[str, Any] | None = None,
    **options: Any,
) -> SymbolicPolicy:
    """Learn a symbolic policy for a task, as the synthesis stage of `symctl run` does.

    Parameters
    ----------
    task : plants.Task, str or path
        A built-in task name (``"sho/partial"``), the path of a task TOML file, or a `plants.Task`
        loaded from either.
    method : {"gp-d", "gp-s", "gp-l", "rs", "espl-d", "espl-s"}
        Genetic programming or the ESPL symbolic network; ``-d`` dynamic (latent state), ``-s`` static.
    budget : {"quick", "paper"}
        The run budget: minutes on a laptop (ESPL: its default preset), or the papers' settings.
    seed : int
        Seed of every random stream of the run.
    out : str or path, optional
        Run folder; default ``runs/<task>-<method>-<seed>``. It receives what the synthesis stage of
        `symctl run` writes (``policy.json``, ``method_policy.json``, ``choice.csv``, ``history.csv``,
        the checkpoint, ``manifest.json``).
    resume : bool
        Continue an interrupted synthesis from its checkpoint.
    progress : callable, optional
        Called with a dict per generation (GP) or iteration (ESPL): the figures `symctl run --verbose` prints.
    log : callable, optional
        Called with each message line `symctl run` prints about the stage.
    settings : mapping, optional
        Settings of the method (fields of `synth.gp.GPConfig` or `synth.espl.ESPLConfig`, listed in
        docs/settings.md): what `--set KEY=VALUE` and the run config's ``[gp]`` / ``[espl]`` table set.
    **options
        The run options of synthesis, as `symctl run` takes them: ``population``, ``generations``,
        ``islands``, ``latent``, ``time_budget``, ``seed_policy``, ``iterations``, ``batch``,
        ``robust`` (default True: train over the parameter box), ``compile_cache`` (default True:
        keep JAX's compiled programs on disk), ``devices`` (GP methods: local devices to shard the
        population over; default all; the result does not depend on it).

    Returns
    -------
    SymbolicPolicy
        The exported policy, in the task's units (also ``out/policy.json``).

    Raises
    ------
    plants.UserInputError
        An unknown task, method or budget, or a bad option value (the message names it).
    TypeError
        An unknown keyword argument.

    Examples
    --------
    >>> import symctl
    >>> policy = symctl.synthesize("sho/partial", budget="quick", seed=0, out="runs/sho")  # doctest: +SKIP
    >>> print(policy)  # doctest: +SKIP
    """
    from . import _pipeline
    from ._console import enable_x64

    config = _run_config("synthesize", task, method, budget, seed, out, resume, options, _synth_options(), settings)
    enable_x64()
    policy, _ = _pipeline.synth_stage(_pipeline.prepare_run(config), log or _silent, progress)
    return policy


def _policy_and_folder(policy, task: Task | None) -> tuple[SymbolicPolicy, Path | None]:
    """The policy of `symctl validate`'s TARGET (lqg / lqg-ss, a policy.json, a run folder, or a
    `SymbolicPolicy`) and the folder its results go to by default (None: no default)."""
    from synth import AbstractNetworkPolicy, load_policy
    from synth._runfolder import default_run_folder
    from validation import LQG_VARIANTS, ValidationError, lqg

    if isinstance(policy, (SymbolicPolicy, AbstractNetworkPolicy)):
        return policy, None
    spec = str(policy)
    if spec in LQG_VARIANTS:
        if task is None:
            raise ValidationError(f"validate {spec}: give --task (task= in Python), the task to design LQG for")
        return lqg(task, spec), default_run_folder(task.name, spec, "validation")
    path = Path(spec)
    if not path.exists():
        raise ValidationError(
            f"validate {spec!r}: no such run folder or policy file; give a run folder, a policy.json, lqg or lqg-ss"
        )
    return load_policy(path), path if path.is_dir() else path.parent


def validate(
    policy: SymbolicPolicy | str | Path,
    task: Task | str | Path | None = None,
    *,
    out: str | Path | None = None,
    progress: Callable[[str, float], None] | None = None,
    **settings: Any,
) -> Validation:
    """Validate a policy as `symctl validate` does: Monte Carlo against LQG on common random
    numbers, CasADi sweeps of the parameter box, a worst-case search, margins, and the certificate.

    Parameters
    ----------
    policy : SymbolicPolicy, network policy, str or path
        A policy, a ``policy.json``, a run folder, or ``"lqg"`` / ``"lqg-ss"`` (designed for `task`);
        an NDE run folder (``network.json``) is validated through the same simulator and CasADi loop.
    task : plants.Task, str or path, optional
        The task to validate on; default the task the policy names in its provenance.
    out : str or path, optional
        Folder for ``validation.json`` and ``report.html``; default the run folder (or the folder of the
        policy file), ``runs/<task>-<lqg>-validation`` for LQG. Required for a `SymbolicPolicy`.
    progress : callable, optional
        Called as ``progress(stage, fraction)`` between the stages.
    **settings
        Validation settings (`validation.DEFAULT_SETTINGS`), the defaults `symctl validate` uses:
        ``trajectories`` (1000), ``sweep`` (256), ``starts`` (8), ``seed`` (0), ``sweep_design``
        ("lhs"), ``widen`` (1.0), ``sweep_ticks``, ``oracle_trajectories`` (50), ``integration_replays``
        (4), ``requirements`` (a TOML file overriding the certificate's requirements), ...

    Returns
    -------
    Validation
        The results (``.results``, as in ``validation.json``), ``.verdict``, ``.passed``, ``.cost``
        and the folder ``.out``.

    Raises
    ------
    plants.UserInputError
        A missing policy file, an unknown task, or a bad setting value.
    TypeError
        An unknown setting.

    Examples
    --------
    >>> report = symctl.validate("runs/sho", trajectories=200)  # doctest: +SKIP
    >>> report.verdict, report.cost["ratio_to_lqg"]  # doctest: +SKIP
    """
    import plants
    from validation import DEFAULT_SETTINGS, ValidationError
    from validation import validate as run_validation

    from ._console import enable_x64

    _check_keywords("validate", settings, DEFAULT_SETTINGS)
    enable_x64()
    t = plants.get_task(task) if task is not None else None
    pol, default_out = _policy_and_folder(policy, t)
    if out is None and default_out is None:
        raise ValidationError("validate: give out=, the folder for validation.json and report.html")
    folder = Path(out) if out is not None else default_out
    results = run_validation(pol, t, folder, settings, progress=progress)
    return Validation(results, folder)


def default_prefix(policy: SymbolicPolicy) -> str:
    """The C prefix `symctl codegen` uses by default: the task and method of the policy's provenance."""
    import re

    prov = policy.provenance
    text = "_".join(str(prov.get(k, "")) for k in ("task", "method") if prov.get(k)) or "controller"
    text = re.sub(r"[^A-Za-z0-9_]", "_", text).strip("_").lower()
    return text if text[:1].isalpha() else f"ctl_{text}"


def record(policy: SymbolicPolicy, task: Task, seed: int, min_ticks: int = MIN_TICKS):
    """Closed-loop recording from the JAX simulator for C verification: observations (S, T, ny),
    targets (S, nr) and controls (S, T, nu) of enough scenarios of stream "codegen" for `min_ticks`."""
    import numpy as np

    from synth import Simulator
    from synth._runfolder import stream_key

    from ._console import enable_x64

    enable_x64()
    sim = Simulator(task)
    n = max(1, math.ceil(min_ticks / task.n_ticks))
    scen = sim.scenarios(stream_key(seed, "codegen"), n)
    roll = sim.simulate(policy, scen, save=True)
    return np.asarray(roll.y, float), np.asarray(scen.r, float), np.asarray(roll.u, float)


def generate_c(
    policy: SymbolicPolicy | str | Path,
    out_dir: str | Path,
    *,
    task: Task | str | Path | None = None,
    prefix: str | None = None,
    real: str = "float",
    single_header: bool = False,
    verify: bool = False,
    target: str = "host",
    seed: int = 0,
) -> CCode:
    """Generate C for a policy as `symctl codegen` does, and with `verify` check it against the
    Python float64 reference.

    Parameters
    ----------
    policy : SymbolicPolicy, str or path
        A policy, a ``policy.json``, a run folder, or ``"lqg"`` / ``"lqg-ss"`` (designed for `task`).
    out_dir : str or path
        Folder for ``<prefix>.h``, ``<prefix>.c``, ``example/main.c`` and the build fragments.
    task : plants.Task, str or path, optional
        The task for LQG and for the recorded trajectories of `verify`; default the policy's provenance task.
    prefix : str, optional
        Prefix of the generated names and files; default from the provenance's task and method.
    real : {"float", "double"}
        Real type of the generated code.
    single_header : bool
        One header with every function ``static inline``.
    verify : bool
        Compile with strict warnings, run on a recorded closed loop (at least 1,500 ticks) and compare
        with the Python reference; the report is in ``.verification`` and ``out_dir/verification.log``.
    target : {"host", "cortex-m4"}
        Where `verify` runs the code: the host, or also an emulated Cortex-M4F (QEMU).
    seed : int
        Seed of the recorded trajectories.

    Returns
    -------
    CCode
        ``.files``, ``.code`` (`codegen.GeneratedCode`), and with `verify` ``.ok`` and ``.verification``.

    Raises
    ------
    plants.UserInputError
        A bad prefix, real type or target, LQG without a task, a missing policy file.

    Examples
    --------
    >>> c = symctl.generate_c("runs/sho", "runs/sho/c", verify=True)  # doctest: +SKIP
    >>> c.ok, [p.name for p in c.files]  # doctest: +SKIP
    """
    import codegen
    import plants
    from synth import AbstractNetworkPolicy

    from ._console import resolve_policy

    t = plants.get_task(task) if task is not None else None
    if isinstance(policy, (SymbolicPolicy, AbstractNetworkPolicy)):
        pol = policy
    else:
        if str(policy) in ("lqg", "lqg-ss") and t is None:
            raise UserInputError(f"{str(policy)!r} needs a task to design LQG for (--task, or task= in Python)")
        pol = resolve_policy(str(policy), t)
    _refuse_network(pol, policy)
    code = codegen.generate(pol, out_dir, prefix=prefix or default_prefix(pol), real=real, single_header=single_header)
    if not verify:
        return CCode(code)
    if t is None:
        name = pol.provenance.get("task")
        if not name:
            raise UserInputError(
                "--verify needs a task to record observations; the policy names none, so give --task (task= in Python)"
            )
        t = plants.get_task(name)
    targets = ("host",) if target == "host" else ("host", target)
    ys, r, us = record(pol, t, seed)
    log = Path(out_dir) / "verification.log"
    report = codegen.verify(pol, code, ys, r, targets=targets, log=log, recorded_u=us)
    return CCode(code, report, log)


def _refuse_network(policy: Any, source: Any) -> None:
    """Code generation prints expressions: refuse a network policy (the NDE's) in one line."""
    from synth import AbstractNetworkPolicy

    if isinstance(policy, AbstractNetworkPolicy):
        where = (
            "the network policy given"
            if policy is source
            else f"{str(source)!r} holds a network policy (network.json, method nde)"
        )
        raise UserInputError(
            f"codegen: {where}; C is generated from symbolic policies only (policy.json): "
            "synthesise with a symbolic method (gp-d, gp-s, gp-l, espl-d, espl-s) for C"
        )


def _run_options() -> tuple[str, ...]:
    from ._config import RUN_OPTIONS

    return tuple(k for k in RUN_OPTIONS if k not in _ARGUMENTS + _CLI_ONLY)


def run(
    task: Task | str | Path,
    method: str = "gp-d",
    *,
    budget: str = "quick",
    seed: int = 0,
    out: str | Path | None = None,
    resume: bool = False,
    progress: Callable[[dict], None] | None = None,
    stages: Callable[[str, float], None] | None = None,
    log: Callable[[str], None] | None = None,
    settings: Mapping[str, Any] | None = None,
    **options: Any,
) -> RunSummary:
    """Synthesise, validate against LQG, certify and generate verified C in one run folder, as `symctl run` does.

    Parameters
    ----------
    task : plants.Task, str or path
        A built-in task name, the path of a task TOML file, or a `plants.Task` loaded from either.
    method : {"gp-d", "gp-s", "gp-l", "rs", "espl-d", "espl-s"}
    budget : {"quick", "paper"}
    seed : int
    out : str or path, optional
        Run folder; default ``runs/<task>-<method>-<seed>``. A stage whose inputs are unchanged and
        whose outputs are in the folder is skipped.
    resume : bool
        Continue an interrupted synthesis from its checkpoint.
    progress : callable, optional
        The synthesis records (see `synthesize`).
    stages : callable, optional
        Called as ``stages(stage, fraction)`` during validation.
    log : callable, optional
        Called with each message line `symctl run` prints (stderr).
    settings : mapping, optional
        Settings of the method, as for `synthesize`.
    **options
        Every other option of `symctl run`, under its config-file name: the synthesis options of
        `synthesize`, ``trajectories`` (1000), ``sweep`` (256), ``starts`` (8), ``prefix``
        ("controller"), ``real`` ("float"), ``cortex_m4`` (True), ``compile_cache`` (True),
        ``workers`` / ``address`` (the validation's Monte Carlo and sweep split over Dask workers: a
        local cluster of that many processes, or a running cluster; the same costs).

    Returns
    -------
    RunSummary
        ``.out``, ``.policy``, ``.validation``, ``.codegen``, ``.verdict``, ``.c_ok``, ``.passed``;
        ``.to_dict()`` is what `symctl run --json` prints.

    Raises
    ------
    plants.UserInputError
        An unknown task, method or budget, or a bad option value.
    TypeError
        An unknown keyword argument.

    Examples
    --------
    >>> summary = symctl.run("sho/partial", budget="quick", seed=0)  # doctest: +SKIP
    >>> summary.verdict, summary.c_ok  # doctest: +SKIP
    """
    from . import _pipeline
    from ._console import enable_x64

    config = _run_config("run", task, method, budget, seed, out, resume, options, _run_options(), settings)
    enable_x64()
    summary = _pipeline.run(config, say=log or _silent, progress=progress, stages=stages or _silent)
    return RunSummary.from_pipeline(summary, config["seed"])
