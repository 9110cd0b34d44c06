"""Run configuration for `symctl run`: every CLI option is a key of a flat TOML file and vice versa.

Precedence: defaults < `--config RUN.toml` < options given on the command line. The resolved
configuration is written back into the run folder as `config.toml`.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from plants import UserInputError, did_you_mean

METHODS = ("gp-d", "gp-s", "espl-d", "espl-s")
BUDGETS = ("quick", "paper")

# key -> (default, type, help). The CLI builds its options from this table.
RUN_OPTIONS: dict[str, tuple[Any, type, str]] = {
    "task": (None, str, "Built-in task name or path to a task TOML file."),
    "method": ("gp-d", str, "Synthesis method: gp-d, gp-s, espl-d, espl-s."),
    "budget": ("quick", str, "quick (minutes on a laptop; ESPL: its default preset) or paper (the papers' settings)."),
    "seed": (0, int, "Random seed."),
    "out": (None, str, "Run folder (default runs/<task>-<method>-<seed>)."),
    "population": (None, int, "GP: total population over all islands."),
    "generations": (None, int, "GP: generations."),
    "islands": (None, int, "GP: islands."),
    "latent": (None, int, "Dynamic methods: latent size."),
    "time_budget": (None, float, "Synthesis: stop after this many seconds."),
    "robust": (True, bool, "Synthesis: train with every parameter that has a declared range drawn over it (the box the certificate sweeps)."),
    "seed_policy": (None, str, "GP-D: start from this linear controller (a policy.json), lqg (the default when the task has a steady-state LQG that fits) or none."),
    "iterations": (None, int, "ESPL: optimiser iterations."),
    "batch": (None, int, "ESPL: trajectories per iteration."),
    "trajectories": (1000, int, "Validation: Monte Carlo trajectories."),
    "sweep": (256, int, "Validation: points of the parameter sweep."),
    "starts": (8, int, "Validation: worst-case search starts."),
    "prefix": ("controller", str, "C: prefix of the generated names and files."),
    "real": ("float", str, "C: float or double."),
    "cortex_m4": (True, bool, "C: also verify on an emulated Cortex-M4 when the tools are installed."),
    "compile_cache": (True, bool, "Keep JAX's compiled programs in the user's cache directory."),
    "resume": (False, bool, "Continue an interrupted run (synthesis from its checkpoint)."),
    "quiet": (False, bool, "No progress display."),
    "allow_fail": (False, bool, "Exit with status 0 even when the certificate or the C verification fails (otherwise 3)."),
}
SYNTH_KEYS = ("population", "generations", "islands", "latent", "time_budget", "seed_policy", "iterations", "batch")


class RunConfigError(UserInputError):
    """A run configuration file or option is invalid."""


def load_run_config(path: str | Path) -> dict[str, Any]:
    """Read a run config TOML: flat keys, the same names as the CLI options (dashes as underscores)."""
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
        if k not in RUN_OPTIONS:
            raise RunConfigError(f"{path}: [{key}] unknown key{did_you_mean(k, list(RUN_OPTIONS))}; valid keys: {', '.join(RUN_OPTIONS)}")
        out[k] = _check(k, value, str(path))
    return out


def _check(key: str, value: Any, where: str) -> Any:
    default, typ, _ = RUN_OPTIONS[key]
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise RunConfigError(f"{where}: [{key}] expected {typ.__name__}, got {value!r}")
    if key == "method" and value not in METHODS:
        raise RunConfigError(f"{where}: [method] {value!r} is not a method{did_you_mean(value, METHODS)}; valid: {', '.join(METHODS)}")
    if key == "budget" and value not in BUDGETS:
        raise RunConfigError(f"{where}: [budget] {value!r} is not a budget{did_you_mean(value, BUDGETS)}; valid: {', '.join(BUDGETS)}")
    if key == "real" and value not in ("float", "double"):
        raise RunConfigError(f"{where}: [real] {value!r} is not valid; use float or double")
    if typ in (int, float) and key != "seed" and value is not None and value <= 0:
        raise RunConfigError(f"{where}: [{key}] {value!r} must be > 0")
    return value


def resolve(cli: dict[str, Any], config_file: str | Path | None) -> dict[str, Any]:
    """Defaults, then the config file, then the options given on the command line (None = not given)."""
    resolved = {k: d for k, (d, _, _) in RUN_OPTIONS.items()}
    if config_file is not None:
        resolved.update(load_run_config(config_file))
    for k, v in cli.items():
        if v is not None:
            resolved[k] = _check(k, v, "command line")
    if not resolved.get("task"):
        raise RunConfigError("no task: give TASK on the command line or task = \"...\" in the run config")
    return resolved
