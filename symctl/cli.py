"""`symctl`: the command line. Thin: every algorithm lives in plants, synth, validation, codegen.

User errors print one line and exit with status 2; `--debug` shows the traceback instead. `run` and
`validate` exit with status 3 when the certificate or the C verification fails (`--allow-fail`: 0), as
does `codegen --verify` when the C fails its verification.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.markup import escape as rich_escape
from rich.table import Table

from plants import UserInputError

from ._config import BUDGETS, OPTION_HELP
from ._console import enable_x64, err_console, out_console, resolve_policy
from ._methods import METHODS

app = typer.Typer(
    name="symctl",
    help="Interpretable symbolic controllers: synthesis, validation against LQG, certification, C code.\n\n"
    "Exit status: 0 success; 2 user input error (one line naming the input, the value and the fix); "
    "3 the certificate (`run`, `validate`) or the C verification (`run`, `codegen --verify`) failed; "
    "--allow-fail keeps `run` and `validate` at 0.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from . import __version__

        print(f"symctl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """symctl turns a plant definition into a certified, flashable symbolic controller."""


@app.command("tasks")
def tasks_cmd(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """List the built-in tasks."""
    import plants

    rows = []
    for name in plants.builtin_tasks():
        t = plants.get_task(name)
        rows.append(
            {
                "name": name,
                "plant": t.plant.name,
                "states": list(t.plant.states),
                "inputs": list(t.plant.inputs),
                "observations": [o.name for o in t.observations],
                "targets": list(t.targets),
                "horizon": t.horizon,
                "dt": t.dt,
                "reward": t.cost.reward,
                "description": t.description,
            }
        )
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="built-in tasks")
    for col in ("task", "states", "inputs", "observed", "T / dt", "description"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["name"],
            " ".join(r["states"]),
            " ".join(r["inputs"]),
            str(len(r["observations"])),
            f"{r['horizon']:g} / {r['dt']:g}",
            r["description"],
        )
    out_console.print(table)


@app.command("show")
def show_cmd(task: Annotated[str, typer.Argument(help="Built-in task name or path to a task TOML file.")]) -> None:
    """Show a task: states, inputs, parameters, equations, noise, cost."""
    import sympy as sp

    import plants

    t = plants.get_task(task)
    pl = t.plant
    p = out_console.print
    p(f"[bold]{t.name}[/bold]  {t.description}")
    p(f"source: {t.source}")
    p(f"plant {pl.name} ({pl.time} time): {pl.description}")
    p(f"horizon {t.horizon:g} s, control period dt = {t.dt:g} s ({t.n_ticks} ticks), plant substeps per tick: {t.substeps}")
    p("\n[bold]states[/bold]")
    for s, e, d, dist in zip(pl.states, pl.dynamics, pl.diffusion, t.initial_state):
        lhs = f"{s}[k+1]" if pl.time == "discrete" else f"d{s}/dt"
        unit = f" [{pl.units[s]}]" if s in pl.units else ""
        unit = rich_escape(unit)
        noise = f"   + {t.process_noise:g}*{sp.sstr(d, full_prec=False)} dW" if t.process_noise and d != 0 else ""
        p(f"  {lhs} = {e}{noise}      ({s}{unit}, initial {dist.as_dict()})")
    p("[bold]inputs[/bold]")
    for u, (lo, hi) in zip(pl.inputs, t.input_limits):
        p(f"  {u} in [{lo:g}, {hi:g}]")
    p("[bold]parameters[/bold]")
    for q, dist in zip(pl.parameters, t.parameter_distribution):
        rng = f", range {list(q.range)}" if q.range else ""
        p(rich_escape(f"  {q.name} = {q.nominal:g} {q.unit}{rng}; in this task: {dist.as_dict()}"))
    p("[bold]observations[/bold] (noise std per tick)")
    for o in t.observations:
        p(f"  {o.name} = {o.expr} + {o.noise:g} n")
    if t.targets:
        p("[bold]targets[/bold]")
        for r, dist in zip(t.targets, t.target_distribution):
            p(f"  {r}: {dist.as_dict()}")
    c = t.cost
    p("[bold]cost[/bold] (lower is better" + ("; return = -cost" if c.reward else "") + ")")
    p(f"  stage cost {c.stage}, {c.aggregate} over a grid every {c.every} ticks")
    if c.terminate_when is not None:
        p(f"  ends when {c.terminate_when} (adds {c.terminal:g})")
    if t.success is not None:
        p(f"  success: {t.success.condition} ({t.success.when})")


@app.command("simulate")
def simulate_cmd(
    task: Annotated[str, typer.Argument(help="Built-in task name or path to a task TOML file.")],
    policy: Annotated[str, typer.Option(help="lqg, lqg-ss, lqg-i, lqg-p, a policy.json, or a run folder.")] = "lqg",
    trajectories: Annotated[int, typer.Option(min=1, help="Number of held-out trajectories.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the held-out trajectories.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Simulate a policy in closed loop and print its mean cost with a 95% confidence interval."""
    import numpy as np

    import plants

    enable_x64()
    from synth import Simulator
    from synth._cost import mean_ci
    from synth._runfolder import stream_key

    t = plants.get_task(task)
    pol = resolve_policy(policy, t)
    sim = Simulator(t)
    scen = sim.scenarios(stream_key(seed, "test"), trajectories)
    res = sim.simulate(pol, scen)
    cost = np.asarray(res.cost, float)
    finite = np.isfinite(cost)
    mean, lo, hi = mean_ci(cost)  # Student t, as validation's Monte Carlo reports it
    half = hi - mean if math.isfinite(mean) else math.nan
    out = {
        "task": t.name,
        "policy": policy,
        "trajectories": trajectories,
        "seed": seed,
        "cost_mean": mean,
        "cost_ci95": [lo, hi],
        "non_finite": int((~finite).sum()),
        "success_rate": float(np.asarray(res.success).mean()),
    }
    if t.cost.reward:
        out["return_mean"] = -mean
    if as_json:
        print(json.dumps(out))
        return
    out_console.print(f"{t.name}: policy {policy} on {trajectories} held-out trajectories (seed {seed})")
    out_console.print(f"  cost  {mean:.6g}  ± {half:.3g} (95% CI)")
    if t.cost.reward:
        out_console.print(f"  return {-mean:.6g}")
    out_console.print(f"  success rate {out['success_rate']:.3f}, non-finite trajectories {out['non_finite']}")


SET_HELP = (
    "A GP or ESPL setting (docs/settings.md), repeatable: --set population=300 --set 'selection=\"penalty\"'. "
    "VALUE is a TOML literal (a string setting also takes a bare word)."
)


@app.command("synth")
def synth_cmd(
    task: Annotated[str, typer.Argument(help="Built-in task name or path to a task TOML file.")],
    method: Annotated[
        Literal[tuple(METHODS)],
        typer.Option(help="Synthesis method (LQG designs, genetic programming, the ESPL network; -s static, -d dynamic)."),
    ] = "gp-d",
    out: Annotated[Path | None, typer.Option(help=OPTION_HELP["out"])] = None,
    budget: Annotated[
        Literal[BUDGETS],
        typer.Option(help="quick (minutes on a laptop; ESPL: its default preset) or paper (the papers' settings)."),
    ] = "quick",
    seed: Annotated[int, typer.Option(help=OPTION_HELP["seed"])] = 0,
    population: Annotated[int | None, typer.Option(min=1, help=OPTION_HELP["population"])] = None,
    generations: Annotated[int | None, typer.Option(min=1, help=OPTION_HELP["generations"])] = None,
    islands: Annotated[int | None, typer.Option(min=1, help=OPTION_HELP["islands"])] = None,
    latent: Annotated[int | None, typer.Option(min=1, help=OPTION_HELP["latent"])] = None,
    time_budget: Annotated[float | None, typer.Option(min=0, help=OPTION_HELP["time_budget"])] = None,
    seed_policy: Annotated[str | None, typer.Option(help=OPTION_HELP["seed_policy"])] = None,
    iterations: Annotated[int | None, typer.Option(min=1, help=OPTION_HELP["iterations"])] = None,
    batch: Annotated[int | None, typer.Option(min=1, help=OPTION_HELP["batch"])] = None,
    devices: Annotated[int | None, typer.Option(min=1, help=OPTION_HELP["devices"])] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", metavar="KEY=VALUE", help=SET_HELP)] = None,
    resume: Annotated[bool, typer.Option(help=OPTION_HELP["resume"])] = False,
    quiet: Annotated[bool, typer.Option(help=OPTION_HELP["quiet"])] = False,
    verbose: Annotated[bool, typer.Option("--verbose", help="Also print one line per generation or iteration.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary on stdout (progress and messages on stderr).")
    ] = False,
) -> None:
    """Synthesise a policy for a task and write a run folder: the method alone, as its paper defines
    it, in the task's own units at its own parameter distribution. `symctl run` (and
    `symctl.synthesize`) add what a certified controller needs: learning in normalised units,
    training over the parameter box (--robust) and the certificate-aware choice among candidates."""
    import plants
    from synth._runfolder import default_run_folder

    from ._config import SETTINGS_TABLES, RunConfigError, fold_settings, parse_set, settings_table
    from ._methods import get_method

    enable_x64()
    t = plants.get_task(task)
    runner = get_method(method)
    out = out or default_run_folder(t.name, method, seed)
    options = {
        "population": population,
        "generations": generations,
        "islands": islands,
        "latent": latent,
        "time_budget": time_budget,
        "seed_policy": seed_policy,
        "iterations": iterations,
        "batch": batch,
    }
    settings = fold_settings(method, options, dict(options), parse_set(set_, method), "--set")
    if devices is not None:
        if settings_table(method) != "gp":
            raise RunConfigError(
                f"--devices {devices} applies to the GP methods ({', '.join(SETTINGS_TABLES['gp'])}); method {method!r} runs on one device"
            )
        settings = {**settings, "devices": devices}
    from ._progress import ProgressDisplay

    with ProgressDisplay(err_console, verbose=verbose and not quiet, bars=not quiet) as display:
        policy = runner(
            t,
            out,
            seed=seed,
            options=options,
            resume=resume,
            progress=None if quiet else display.record,
            method=method,
            budget=budget,
            settings=settings,
        )
    from ._results import policy_file, policy_summary

    if as_json:
        print(
            json.dumps(
                {
                    "task": t.name,
                    "method": method,
                    "budget": budget,
                    "seed": seed,
                    "out": str(out),
                    "policy": policy_summary(policy, Path(out) / policy_file(policy)),
                }
            )
        )
    elif not quiet:
        out_console.print(f"[bold]{method}[/bold] policy for {t.name} written to {Path(out) / policy_file(policy)}")
        out_console.print(str(policy), markup=False)


@app.command("demo")
def demo_cmd() -> None:
    """What `make demo` runs: `symctl run examples/dc_motor.toml --budget quick --out runs/demo` (from a
    source checkout; the built-in sho/partial when the examples are not installed)."""
    example = Path(__file__).resolve().parents[1] / "examples" / "dc_motor.toml"
    task = str(example) if example.is_file() else "sho/partial"
    code = main(["run", task, "--budget", "quick", "--out", "runs/demo"])
    if code:
        raise typer.Exit(code)


# Commands that live in their own modules: each has `register(app)`.
_COMMAND_MODULES: tuple[str, ...] = (
    "symctl._cmd_codegen",
    "symctl._cmd_validate",
    "symctl._cmd_run",
    "symctl._cmd_export",
    "symctl._cmd_campaign",
)


def _register_commands() -> None:
    import importlib

    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(app)


_register_commands()


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning user errors into one line and exit status 2."""
    from typer import Abort, Exit

    try:  # typer >= 0.25 carries its own copy of click
        from typer._click.exceptions import ClickException
    except ImportError:  # pragma: no cover - older typer uses click itself
        from click.exceptions import ClickException

    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        # Outside standalone mode click returns a command's `typer.Exit(code)` instead of raising it.
        status = app(args=argv, prog_name="symctl", standalone_mode=False)
    except UserInputError as err:
        if debug:
            raise
        err_console.print(f"symctl: error: {err}", markup=False, soft_wrap=True)
        return 2
    except Exit as err:
        return err.exit_code
    except Abort:
        err_console.print("symctl: interrupted", markup=False)
        return 130
    except KeyboardInterrupt:
        err_console.print("symctl: interrupted", markup=False)
        return 130
    except ClickException as err:
        if debug:
            raise
        err_console.print(f"symctl: error: {_choice_message(err) or err.format_message()}", markup=False, soft_wrap=True)
        return 2
    return status if isinstance(status, int) else 0


def _choice_message(err) -> str | None:
    """A value outside an option's choices as one line with the nearest choice and the valid ones;
    None for any other usage error."""
    import re

    from plants import did_you_mean

    match = re.search(r"'(?P<value>[^']*)' is not one of (?P<choices>.*)$", str(getattr(err, "message", "")))
    param = getattr(err, "param", None)
    if match is None or param is None:
        return None
    value, choices = match["value"], re.findall(r"'([^']*)'", match["choices"])
    name = (getattr(param, "opts", None) or [param.name.upper()])[0]
    return f"{name} {value!r} is not valid{did_you_mean(value, choices)}; choose one of {', '.join(choices)}"


if __name__ == "__main__":
    sys.exit(main())
