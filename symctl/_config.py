"""Run configuration for `symctl run`: every CLI option is a key of a flat TOML file and vice versa,
and the method's settings are the tables `[gp]`, `[espl]` and `[nde]` (what `--set KEY=VALUE` sets).

Precedence: defaults < `--config RUN.toml` < options given on the command line. The tables take
every field of `synth.gp.GPConfig`, `synth.espl.ESPLConfig` and `synth.nde.NDEConfig` but those the run sets itself (the
task, the method, the seed, ...); docs/settings.md lists them. A setting that is also an option of
its own (`population`, `latent`, `iterations`, ...) may be given either way; it is carried as the
option. The resolved configuration is written back into the run folder as `config.toml`.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from plants import UserInputError, did_you_mean

METHODS = ("gp-d", "gp-s", "gp-l", "rs", "espl-d", "espl-s", "nde")
BUDGETS = ("quick", "paper")

# key -> (default, type, help). The CLI builds its options from this table.
RUN_OPTIONS: dict[str, tuple[Any, type, str]] = {
    "task": (None, str, "Built-in task name or path to a task TOML file."),
    "method": (
        "gp-d",
        str,
        "Synthesis method: gp-d, gp-s, gp-l (static, of lagged observations), rs (random search), espl-d, espl-s, nde (neural ODE by CMA-ES; no C).",
    ),
    "budget": ("quick", str, "quick (minutes on a laptop; ESPL: its default preset) or paper (the papers' settings)."),
    "seed": (0, int, "Random seed."),
    "out": (None, str, "Run folder (default runs/<task>-<method>-<seed>)."),
    "population": (None, int, "GP: total population over all islands."),
    "generations": (None, int, "GP: generations."),
    "islands": (None, int, "GP: islands."),
    "latent": (None, int, "Dynamic methods: latent size."),
    "time_budget": (None, float, "Synthesis: stop after this many seconds."),
    "robust": (
        True,
        bool,
        "Synthesis: train with every parameter that has a declared range drawn over it (the box the certificate sweeps).",
    ),
    "seed_policy": (
        None,
        str,
        "GP-D: start from this linear controller (a policy.json); lqg (the default when the task has a steady-state LQG that fits: lqg-ss or lqg-i, whichever loses fewer, then costs less, on the run's own trajectories); lqg-ss, lqg-i; or none (from scratch, the GP paper's setting: no seed policy and no linear seeds).",
    ),
    "iterations": (None, int, "ESPL: optimiser iterations."),
    "batch": (None, int, "ESPL: trajectories per iteration."),
    "trajectories": (1000, int, "Validation: Monte Carlo trajectories."),
    "sweep": (256, int, "Validation: points of the parameter sweep."),
    "starts": (8, int, "Validation: worst-case search starts."),
    "prefix": ("controller", str, "C: prefix of the generated names and files."),
    "real": ("float", str, "C: float or double."),
    "cortex_m4": (True, bool, "C: also verify on an emulated Cortex-M4 when the tools are installed."),
    "compile_cache": (True, bool, "Keep JAX's compiled programs in the user's cache directory."),
    "devices": (
        None,
        int,
        "GP methods: shard the population over this many local devices (default: all; the result does not depend on it).",
    ),
    "workers": (
        None,
        int,
        "Validation: split the Monte Carlo and the parameter-box sweep over this many Dask worker processes (a local cluster unless --address); the same costs as one process.",
    ),
    "address": (
        None,
        str,
        "Validation: a running Dask cluster (tcp://host:8786, or the file of `dask scheduler --scheduler-file`) for the split Monte Carlo and sweep.",
    ),
    "resume": (False, bool, "Continue an interrupted run (synthesis from its checkpoint)."),
    "quiet": (False, bool, "No progress display."),
    "allow_fail": (False, bool, "Exit with status 0 even when the certificate or the C verification fails (otherwise 3)."),
}
# The help line of each option, for every command that takes it (`run`, `synth`).
OPTION_HELP: dict[str, str] = {key: text for key, (_, _, text) in RUN_OPTIONS.items()}
SYNTH_KEYS = ("population", "generations", "islands", "latent", "time_budget", "seed_policy", "iterations", "batch")
# The run config's tables of method settings, and the methods that read each.
SETTINGS_TABLES: dict[str, tuple[str, ...]] = {
    "gp": ("gp-s", "gp-d", "gp-l", "rs"),
    "espl": ("espl-s", "espl-d"),
    "nde": ("nde",),
}
# Keys `symctl run` adds to the config.toml it writes, for the reader; ignored when it is read back.
_WRITTEN_BY_RUN = ("task_name",)
# Where the run's own fields are set instead of in a table.
_RUN_FIELD_OPTIONS = {
    "task": "give TASK",
    "method": "use --method",
    "seed": "use --seed",
    "robust": "use --robust or --no-robust",
    "normalised": "symctl run always learns in normalised units",
}


class RunConfigError(UserInputError):
    """A run configuration file or option is invalid."""


def load_run_config(path: str | Path) -> dict[str, Any]:
    """Read a run config TOML: flat keys, the same names as the CLI options (dashes as underscores),
    and the tables `[gp]` / `[espl]` / `[nde]` of method settings (checked: known keys, values of their type)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunConfigError(f"{path}: run config file not found") from None
    except tomllib.TOMLDecodeError as err:
        raise RunConfigError(f"{path}: not valid TOML: {err}") from None
    out: dict[str, Any] = {}
    for key, value in data.items():
        k = key.replace("-", "_")
        if k in SETTINGS_TABLES:
            if not isinstance(value, dict):
                raise RunConfigError(f"{path}: [{key}] must be a table of {k.upper()} settings ([{k}] then key = value lines)")
            out[k] = check_settings(k, {n.replace("-", "_"): v for n, v in value.items()}, f"{path}: [{k}]")
            continue
        if k in _WRITTEN_BY_RUN:  # (a run folder's config.toml reads back as it was written)
            continue
        if k not in RUN_OPTIONS:
            valid = [*RUN_OPTIONS, *SETTINGS_TABLES]
            raise RunConfigError(f"{path}: [{key}] unknown key{did_you_mean(k, valid)}; valid keys: {', '.join(valid)}")
        out[k] = _check(k, value, str(path))
    return out


def settings_class(table: str):
    """The settings dataclass of a table: `GPConfig` for "gp", `ESPLConfig` for "espl", `NDEConfig` for "nde"."""
    if table == "gp":
        from synth.gp._config import GPConfig

        return GPConfig
    if table == "nde":
        from synth.nde._config import NDEConfig

        return NDEConfig
    from synth.espl._config import ESPLConfig

    return ESPLConfig


def settings_table(method: str) -> str | None:
    """The table of `method`'s settings ("gp", "espl"), None for a method that has none (LQG)."""
    return next((t for t, methods in SETTINGS_TABLES.items() if method in methods), None)


def check_settings(table: str, values: dict[str, Any], where: str) -> dict[str, Any]:
    """`values` checked as settings of `table`: each key a field that a user sets (did you mean,
    otherwise), each value of its field's type (integers as floats where a number is wanted; lists
    for tuples). Ranges and combinations are checked when the method builds its config."""
    cls = settings_class(table)
    out = {}
    for key, value in values.items():
        if key in cls.RUN_FIELDS:
            raise RunConfigError(
                f"{where}: {key} is set by the run, not here: {_RUN_FIELD_OPTIONS.get(key, 'see docs/settings.md')}"
            )
        if cls.retired(key, value, where):
            continue
        if key not in cls.field_names():
            other = [t for t in SETTINGS_TABLES if t != table and key in settings_class(t).field_names()]
            hint = f" (it is an {other[0].upper()} setting)" if other else did_you_mean(key, cls.settable())
            raise RunConfigError(
                f"{where}: unknown {cls.LABEL} setting {key!r}{hint}; the settings are listed in docs/settings.md"
            )
        out[key] = cls.coerce(key, value, where)
    return out


def parse_set(items: list[str] | tuple[str, ...] | None, method: str) -> dict[str, Any]:
    """The `--set KEY=VALUE` items for `method`, checked (`check_settings`). VALUE is a TOML
    literal (3, 0.5, true, "text", [1, 2], {add = 1.0}); a string setting also takes a bare word."""
    if not items:
        return {}
    table = settings_table(method)
    if table is None:
        raise RunConfigError(
            f"--set: method {method!r} has no settings; --set applies to "
            f"{', '.join(m for methods in SETTINGS_TABLES.values() for m in methods)}"
        )
    cls = settings_class(table)
    values: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise RunConfigError(f"--set {item!r}: write KEY=VALUE, for example --set population=300")
        try:
            parsed = tomllib.loads(f"value = {text.strip()}")
            if set(parsed) != {"value"}:
                raise tomllib.TOMLDecodeError("more than one value")
            values[key] = parsed["value"]
        except tomllib.TOMLDecodeError:
            if key in cls.field_names() and cls.field_type(key) is str:  # a bare word for a string setting
                values[key] = text.strip()
                continue
            raise RunConfigError(
                f"--set {item!r}: {text.strip()!r} is not a TOML value; write numbers as 3 or 0.5, "
                "true or false, strings in quotes (--set 'key=\"text\"'), lists as [1, 2]"
            ) from None
    return check_settings(table, values, "--set")


def fold_settings(
    method: str, options: dict[str, Any], given: dict[str, Any], values: dict[str, Any], where: str
) -> dict[str, Any]:
    """Move the settings of `values` that are also options of their own (`SYNTH_KEYS`:
    population, latent, iterations, seed_policy, ...) into `options`, where they are carried;
    return the rest. `given` are the options given at the same level (the same file, or the
    command line): a setting given both ways must agree. (GP's `seed_policy = ""` means none.)"""
    rest = dict(values)
    for key in [k for k in rest if k in SYNTH_KEYS]:
        value = rest.pop(key)
        if key == "seed_policy" and value == "":
            value = "none"
        if given.get(key) is not None and given[key] != value:
            raise RunConfigError(
                f"{where}: {key} is given twice, {given[key]!r} as an option and {value!r} as a "
                f"{settings_table(method).upper()} setting; keep one"
            )
        options[key] = _check(key, value, where)
    return rest


def _check(key: str, value: Any, where: str) -> Any:
    default, typ, _ = RUN_OPTIONS[key]
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise RunConfigError(f"{where}: [{key}] expected {typ.__name__}, got {value!r}")
    if key == "method" and value not in METHODS:
        raise RunConfigError(
            f"{where}: [method] {value!r} is not a method{did_you_mean(value, METHODS)}; valid: {', '.join(METHODS)}"
        )
    if key == "budget" and value not in BUDGETS:
        raise RunConfigError(
            f"{where}: [budget] {value!r} is not a budget{did_you_mean(value, BUDGETS)}; valid: {', '.join(BUDGETS)}"
        )
    if key == "real" and value not in ("float", "double"):
        raise RunConfigError(f"{where}: [real] {value!r} is not valid; use float or double")
    if typ in (int, float) and key != "seed" and value is not None and value <= 0:
        raise RunConfigError(f"{where}: [{key}] {value!r} must be > 0")
    return value


def resolve(cli: dict[str, Any], config_file: str | Path | None, settings: list[str] | None = None) -> dict[str, Any]:
    """Defaults, then the config file, then the options given on the command line (None = not
    given) and `settings` (`--set KEY=VALUE` items, for the method's table). The result has the
    tables "gp" and "espl" besides the options."""
    resolved: dict[str, Any] = {k: d for k, (d, _, _) in RUN_OPTIONS.items()}
    tables: dict[str, dict[str, Any]] = {t: {} for t in SETTINGS_TABLES}
    from_file = load_run_config(config_file) if config_file is not None else {}
    for t in SETTINGS_TABLES:
        tables[t] = from_file.pop(t, {})
    given = {k: _check(k, v, "command line") for k, v in cli.items() if v is not None}
    method = given.get("method", from_file.get("method", resolved["method"]))
    table = settings_table(method)
    resolved.update(from_file)
    if table is not None:
        tables[table] = fold_settings(method, resolved, from_file, tables[table], f"{config_file}: [{table}]")
    resolved.update(given)
    set_values = parse_set(settings, method)
    if table is not None:
        tables[table].update(fold_settings(method, resolved, given, set_values, "--set"))
    if not resolved.get("task"):
        raise RunConfigError('no task: give TASK on the command line or task = "..." in the run config')
    if resolved.get("devices") is not None and table != "gp":
        gp = ", ".join(SETTINGS_TABLES["gp"])
        raise RunConfigError(
            f"[devices] {resolved['devices']!r} applies to the GP methods ({gp}); method {method!r} runs on one device"
        )
    return {**resolved, **tables}
