"""The Python API: `symctl run`, its synthesis stage, `symctl validate` and `symctl codegen` as functions.

Each function runs the code of its command with the command's defaults, so a call and the command
with the same options give the same files: `synthesize` is the synthesis stage of `symctl run`
(normalised units, robust training, GP-D started from the steady-state LQG when it fits, the
certificate-aware choice; a run folder whose synthesis is up to date is not synthesised again),
`validate` is `symctl validate`, `generate_c` (in `symctl._api_codegen`) is `symctl codegen`, `run`
is `symctl run`. Like the commands, they switch JAX to float64 (`jax_enable_x64`) for the rest of
the process. They print nothing: `progress` and `log` receive what the CLI displays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from plants import Task, UserInputError, did_you_mean
from synth import SymbolicPolicy

from ._results import RunSummary, Validation

# Run options that `run` takes as its own arguments, and those only the command line has.
_ARGUMENTS = ("task", "method", "budget", "seed", "out", "resume")
_CLI_ONLY = ("quiet", "allow_fail")


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
    """The policy of `symctl validate`'s TARGET (lqg / lqg-ss / lqg-i / lqg-p, a policy.json, a run folder, or a
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
            f"validate {spec!r}: no such run folder or policy file; give a run folder, a policy.json, lqg, lqg-ss, lqg-i or lqg-p"
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
        A policy, a ``policy.json``, a run folder, or ``"lqg"`` / ``"lqg-ss"`` / ``"lqg-i"`` / ``"lqg-p"`` (designed for `task`);
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

    from ._console import enable_x64, run_folder_task

    _check_keywords("validate", settings, DEFAULT_SETTINGS)
    enable_x64()
    if task is None:
        task = run_folder_task(policy)  # a run folder of a task file: its provenance holds only the name
    t = plants.get_task(task) if task is not None else None
    pol, default_out = _policy_and_folder(policy, t)
    if out is None and default_out is None:
        raise ValidationError("validate: give out=, the folder for validation.json and report.html")
    folder = Path(out) if out is not None else default_out
    results = run_validation(pol, t, folder, settings, progress=progress)
    return Validation(results, folder)


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
