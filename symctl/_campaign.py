"""Campaigns: a grid of tasks x methods x seeds x budgets, each run a `symctl run` run folder, run on a
Dask cluster, and one table of the results.

A campaign file (TOML) names the grid in `[campaign]` and may give every run the same options
(`[run]`: any option of `symctl run`, as in a run config) and method settings (`[gp]`, `[espl]`,
`[nde]`: the tables of a run config, each for the methods that read it)::

    [campaign]
    tasks = ["sho/noisy", "sho/partial"]   # built-in names, or task files (relative to this file)
    methods = ["gp-s", "gp-d"]
    seeds = [0, 1, 2]                      # or a count: seeds = 3
    budgets = ["quick"]                    # default ["quick"]
    out = "campaigns/sho"                  # default campaigns/<file name without .toml>

    [run]
    trajectories = 1000
    cortex_m4 = false

    [gp]
    population = 100

Each run is `symctl run` with the resolved run config in `<out>/runs/<task>-<method>-<budget>-<seed>/`
(the usual run folder, plus `campaign_run.json`: the run's row of the table and the hash of its
config). A run whose `campaign_run.json` holds the same config hash is finished and is not run again,
so a campaign that was interrupted continues where it stopped (an unfinished run continues from its
stages and checkpoint, `--resume`). Runs go to the workers of an `validation._cluster.Engine` (a
local cluster, or a running one with `--address`); each run is one task on one worker, its JAX
pinned to that worker (`validation._cluster.pin_jax`).

The aggregate (`summary.csv`, `summary.html`, `runs.csv` and a plot) has one row per task, method
and budget: the mean held-out cost over the seeds with its 95% interval (`synth._cost.mean_ci` over
the per-seed Monte Carlo means of validation), the ratio to LQG (likewise, over the per-seed ratios
on common random numbers), the policy's size and the seconds of the runs
(`symctl/_campaign_table.py`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from plants import UserInputError, did_you_mean

from ._campaign_table import _fmt, aggregate, write_aggregate

CAMPAIGN_KEYS = ("tasks", "methods", "seeds", "budgets", "out")
TABLES = ("campaign", "run")  # with the method settings tables of a run config (`symctl._config.SETTINGS_TABLES`)
# Run options a campaign sets for each run itself (or that only the command line has).
_SET_PER_RUN = ("task", "method", "seed", "budget", "out", "resume", "quiet", "allow_fail", "workers", "address")
RUN_FILE = "campaign_run.json"
RUN_SCHEMA = 1
# Columns of the aggregate that depend on the machine's speed, not on the results.
TIME_COLUMNS = ("synth_seconds", "total_seconds")


class CampaignError(UserInputError):
    """A campaign file is invalid; the message names the file, the key, the value and what is valid."""


@dataclasses.dataclass(frozen=True)
class Run:
    """One run of a campaign: its grid point, its run folder and its resolved run config."""

    task: str
    method: str
    budget: str
    seed: int
    folder: Path
    config: dict[str, Any]

    @property
    def digest(self) -> str:
        """The hash of what decides the run's results: the resolved config but where it runs."""
        from plants._version import __version__

        kept = {k: v for k, v in self.config.items() if k not in ("out", "resume", "quiet", "devices", "workers", "address")}
        return hashlib.sha256(json.dumps([__version__, kept], sort_keys=True, default=str).encode()).hexdigest()

    def finished(self) -> dict[str, Any] | None:
        """The run's row if its folder holds the record of a finished run with the same config."""
        path = self.folder / RUN_FILE
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        if record.get("schema") != RUN_SCHEMA or record.get("config_hash") != self.digest or record.get("row", {}).get("error"):
            return None
        return record["row"]


@dataclasses.dataclass(frozen=True)
class Campaign:
    """A parsed campaign file: the grid, the output folder, the options and settings of every run."""

    source: Path
    tasks: tuple[str, ...]
    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    budgets: tuple[str, ...]
    out: Path
    options: dict[str, Any]
    settings: dict[str, dict[str, Any]]

    def runs(self) -> list[Run]:
        """Every run of the grid, task by task, then method, budget and seed."""
        from ._api import _run_config, _run_options

        out = []
        for task in self.tasks:
            for method in self.methods:
                for budget in self.budgets:
                    for seed in self.seeds:
                        folder = self.out / "runs" / f"{_slug(task)}-{method}-{budget}-{seed}"
                        table = _table(method)
                        settings = self.settings.get(table) if table else None
                        where = f"{self.source}: [{table}] for method {method!r}" if settings else str(self.source)
                        try:
                            config = _run_config(
                                "campaign",
                                task,
                                method,
                                budget,
                                seed,
                                folder,
                                True,
                                dict(self.options),
                                _run_options(),
                                settings or None,
                            )
                        except UserInputError as err:
                            raise CampaignError(f"{where}: {err}") from None
                        out.append(Run(task, method, budget, seed, folder, {**config, "quiet": True, "allow_fail": True}))
        return out


def _slug(task: str) -> str:
    return Path(task).stem if task.endswith(".toml") else task.replace("/", "-")


def _table(method: str) -> str | None:
    from ._config import settings_table

    return settings_table(method)


def load_campaign(path: str | Path, out: str | Path | None = None) -> Campaign:
    """Read and check a campaign file; `out` replaces its output folder."""
    from ._config import (
        _RUN_FIELD_OPTIONS,
        BUDGETS,
        METHODS,
        RUN_OPTIONS,
        SETTINGS_TABLES,
        RunConfigError,
        _check,
        check_settings,
    )

    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CampaignError(f"{path}: campaign file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise CampaignError(f"{path}: cannot be read ({err})") from None
    except tomllib.TOMLDecodeError as err:
        raise CampaignError(f"{path}: not valid TOML: {err}") from None
    valid_tables = (*TABLES, *SETTINGS_TABLES)
    for key, value in data.items():
        if key not in valid_tables:
            raise CampaignError(
                f"{path}: [{key}] is not a table of a campaign file{did_you_mean(key, valid_tables)}; "
                f"valid: {', '.join(valid_tables)}"
            )
        if not isinstance(value, dict):
            raise CampaignError(f"{path}: [{key}] must be a table ([{key}] then key = value lines), got {value!r}")
    grid = data.get("campaign")
    if grid is None:
        raise CampaignError(f"{path}: no [campaign] table; it names the grid: {', '.join(CAMPAIGN_KEYS)}")
    for key in grid:
        if key not in CAMPAIGN_KEYS:
            raise CampaignError(
                f"{path}: [campaign] {key} is not a key{did_you_mean(key, CAMPAIGN_KEYS)}; valid: {', '.join(CAMPAIGN_KEYS)}"
            )

    def names(key: str, valid: tuple[str, ...] | None, default: list[str] | None = None) -> tuple[str, ...]:
        value = grid.get(key, default)
        if value is None:
            raise CampaignError(
                f"{path}: [campaign] {key} is missing; give a list, e.g. {key} = [{', '.join(repr(v) for v in (valid or ('sho/noisy',))[:2])}]"
            )
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise CampaignError(f"{path}: [campaign] {key} = {value!r} must be a non-empty list of names")
        if len(set(value)) < len(value):
            raise CampaignError(f"{path}: [campaign] {key} = {value!r} names one twice")
        for v in value:
            if valid is not None and v not in valid:
                raise CampaignError(
                    f"{path}: [campaign] {key}: {v!r} is not valid{did_you_mean(v, valid)}; valid: {', '.join(valid)}"
                )
        return tuple(value)

    methods = names("methods", tuple(METHODS))
    budgets = names("budgets", tuple(BUDGETS), ["quick"])
    tasks = tuple(_task_spec(t, path) for t in names("tasks", None))
    seeds = grid.get("seeds")
    if isinstance(seeds, int) and not isinstance(seeds, bool) and seeds >= 1:
        seeds = list(range(seeds))
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
        or len(set(seeds)) < len(seeds)
    ):
        raise CampaignError(
            f"{path}: [campaign] seeds = {seeds!r} is not valid; give a count (seeds = 5: 0..4) or a list of "
            "distinct integers >= 0 (seeds = [0, 1, 2])"
        )
    out_value = out if out is not None else grid.get("out", str(Path("campaigns") / path.stem))
    if not isinstance(out_value, str | Path) or not str(out_value):
        raise CampaignError(f"{path}: [campaign] out = {out_value!r} must be a folder name")

    options = dict(data.get("run", {}))
    for key, value in list(options.items()):
        k = key.replace("-", "_")
        if k in _SET_PER_RUN:
            hint = {
                "task": "list it in [campaign] tasks",
                "method": "list it in [campaign] methods",
                "seed": "list it in [campaign] seeds",
                "budget": "list it in [campaign] budgets",
                "out": "set [campaign] out",
                "workers": "each run is one task on one worker (symctl campaign --workers sizes a local cluster)",
                "address": "give symctl campaign --address",
            }.get(k, "the campaign sets it for every run")
            raise CampaignError(f"{path}: [run] {key} is not set here: {hint}")
        if k not in RUN_OPTIONS:
            valid = [o for o in RUN_OPTIONS if o not in _SET_PER_RUN]
            raise CampaignError(f"{path}: [run] {key} is not a run option{did_you_mean(k, valid)}; valid: {', '.join(valid)}")
        try:
            options[k] = _check(k, value, f"{path}: [run]")
        except RunConfigError as err:
            raise CampaignError(str(err)) from None
        if k != key:
            del options[key]
    settings: dict[str, dict[str, Any]] = {}
    for table in SETTINGS_TABLES:
        if table in data:
            readers = [m for m in methods if m in SETTINGS_TABLES[table]]
            if not readers:
                raise CampaignError(
                    f"{path}: [{table}] is read by {', '.join(SETTINGS_TABLES[table])}, and the campaign runs none of them "
                    f"(methods = {list(methods)})"
                )
            values = {n.replace("-", "_"): v for n, v in data[table].items()}
            for key in values:
                if key in _RUN_FIELD_OPTIONS:
                    raise CampaignError(f"{path}: [{table}] {key} is set by the campaign for each run, not here")
            try:
                settings[table] = check_settings(table, values, f"{path}: [{table}]")
            except RunConfigError as err:
                raise CampaignError(str(err)) from None
    campaign = Campaign(path, tasks, methods, tuple(seeds), budgets, Path(out_value).resolve(), options, settings)
    campaign.runs()  # every run's config resolves (options against methods, settings)
    return campaign


def _task_spec(task: str, path: Path) -> str:
    """A built-in task name, or a task file (relative to the campaign file, else to the working
    folder), checked by loading it."""
    import plants

    spec = task
    if task.endswith(".toml") and not Path(task).is_absolute() and (path.parent / task).is_file():
        spec = str((path.parent / task).resolve())
    try:
        plants.get_task(spec)
    except UserInputError as err:
        raise CampaignError(f"{path}: [campaign] tasks: {task!r}: {err}") from None
    return spec


# Running ------------------------------------------------------------------------------------------
def execute(run: Run) -> dict[str, Any]:
    """One run on a worker: `symctl run` with the run's config (its log in `campaign.log` of the run
    folder), then its row; an error inside the run becomes the row's `error` (the campaign goes on)."""
    from validation._cluster import pin_jax

    pin_jax(x64=True)  # as the CLI: validation compares with float64 references
    import traceback

    from . import _pipeline

    run.folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(run.folder / "campaign.log", "a", encoding="utf-8") as log:

        def say(line: str) -> None:
            log.write(f"{line}\n")
            log.flush()

        try:
            summary = _pipeline.run(run.config, say=say, progress=None, stages=lambda name, frac: say(f"  {name}"))
        except Exception as err:  # noqa: BLE001 - one run's failure is its row, not the campaign's end
            say(traceback.format_exc())
            return {**_key(run), "error": f"{type(err).__name__}: {err}", "total_seconds": time.perf_counter() - t0}
    row = run_row(run, summary)
    row["total_seconds"] = time.perf_counter() - t0
    record = {"schema": RUN_SCHEMA, "config_hash": run.digest, "row": row}
    (run.folder / RUN_FILE).write_text(json.dumps(record, indent=1, default=str) + "\n", encoding="utf-8")
    return row


def _key(run: Run) -> dict[str, Any]:
    return {
        "task": run.config.get("task_name") or run.task,
        "method": run.method,
        "budget": run.budget,
        "seed": run.seed,
        "folder": str(run.folder),
    }


def run_row(run: Run, summary: dict) -> dict[str, Any]:
    """The figures of a finished run: validation's held-out Monte Carlo (the policy's mean cost and
    LQG's on the same trajectories, their ratio), the certificate, the C verification, the policy's
    size, the seconds of synthesis."""
    val = summary["validation"]
    mc = val.get("monte_carlo", {}).get("policies", {})
    mine, lqg = mc.get("policy", {}), mc.get("lqg", {})
    size = val.get("policy", {}).get("complexity", {}) or {}
    stages = json.loads((run.folder / "manifest.json").read_text(encoding="utf-8")).get("stages", {})
    return {
        **_key(run),
        "task": summary.get("task", run.task),
        "cost": mine.get("mean"),
        "lqg_cost": lqg.get("mean"),
        "ratio_to_lqg": mine.get("ratio_to_lqg", {}).get("ratio"),
        "trajectories": mine.get("n"),
        "verdict": val.get("certificate", {}).get("verdict"),
        "c_ok": summary["codegen"].get("ok"),
        "operations": size.get("operations"),
        "constants": size.get("constants"),
        "nodes": size.get("nodes"),
        "synth_seconds": stages.get("synth", {}).get("seconds"),
        "error": None,
    }


def run_campaign(
    campaign: Campaign, workers: int | None = None, address: str | None = None, say: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run the campaign's unfinished runs on a cluster (local with `workers` processes, or the one at
    `address`) and write the aggregate. Returns {"rows", "summary", "skipped", "ran", "failed", "files"}."""
    from validation._cluster import Engine

    runs = campaign.runs()
    rows: list[dict | None] = [run.finished() for run in runs]
    todo = [i for i, row in enumerate(rows) if row is None]
    say(
        f"campaign {campaign.source}: {len(runs)} runs ({len(campaign.tasks)} tasks x {len(campaign.methods)} methods x "
        f"{len(campaign.budgets)} budgets x {len(campaign.seeds)} seeds), {len(runs) - len(todo)} finished before, {len(todo)} to run"
    )
    campaign.out.mkdir(parents=True, exist_ok=True)
    if todo:
        with Engine(workers, address) as engine:
            where = f"the cluster at {address}" if address else "a local cluster"
            say(f"  on {where} of {engine.workers} worker(s)")

            def done(k: int, row: dict) -> None:
                r = runs[todo[k]]
                figure = (
                    f"error: {row['error']}"
                    if row.get("error")
                    else f"cost {_fmt(row.get('cost'))}, {_fmt(row.get('ratio_to_lqg'))} x LQG"
                )
                say(f"  [{sum(x is not None for x in rows) + 1}/{len(runs)}] {r.folder.name}: {figure}")
                rows[todo[k]] = row

            engine.map(execute, [runs[i] for i in todo], on_result=done)
    files = write_aggregate(campaign, [r for r in rows if r is not None])
    failed = [r for r in rows if r is not None and r.get("error")]
    return {
        "rows": rows,
        "summary": aggregate(rows),
        "skipped": len(runs) - len(todo),
        "ran": len(todo),
        "failed": failed,
        "files": files,
    }
