"""`symctl run`: from a task to a certified, verified C controller in one run folder."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Literal

import typer

from codegen import REALS

from ._config import BUDGETS, METHODS, OPTION_HELP

SET_HELP = (
    "A GP or ESPL setting (docs/settings.md; in the run config, the [gp] / [espl] table), repeatable: "
    "--set population=300. VALUE is a TOML literal (a string setting also takes a bare word)."
)


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run_cmd(
        task: Annotated[str | None, typer.Argument(help="Built-in task name or path to a task TOML file.")] = None,
        method: Annotated[
            Literal[METHODS] | None,
            typer.Option(help="Synthesis method (default gp-d): genetic programming or the ESPL network; -s static, -d dynamic."),
        ] = None,
        budget: Annotated[
            Literal[BUDGETS] | None, typer.Option(help="quick (default; ESPL: its default preset) or paper.")
        ] = None,
        seed: Annotated[int | None, typer.Option(help=OPTION_HELP["seed"])] = None,
        out: Annotated[Path | None, typer.Option(help=OPTION_HELP["out"])] = None,
        config: Annotated[
            Path | None, typer.Option(help="Run config TOML (keys = these options; [gp] / [espl] tables = --set).")
        ] = None,
        population: Annotated[int | None, typer.Option(help=OPTION_HELP["population"])] = None,
        generations: Annotated[int | None, typer.Option(help=OPTION_HELP["generations"])] = None,
        islands: Annotated[int | None, typer.Option(help=OPTION_HELP["islands"])] = None,
        latent: Annotated[int | None, typer.Option(help=OPTION_HELP["latent"])] = None,
        time_budget: Annotated[float | None, typer.Option(help=OPTION_HELP["time_budget"])] = None,
        seed_policy: Annotated[str | None, typer.Option(help=OPTION_HELP["seed_policy"])] = None,
        robust: Annotated[bool | None, typer.Option("--robust/--no-robust", help=OPTION_HELP["robust"])] = None,
        iterations: Annotated[int | None, typer.Option(help=OPTION_HELP["iterations"])] = None,
        batch: Annotated[int | None, typer.Option(help=OPTION_HELP["batch"])] = None,
        set_: Annotated[list[str] | None, typer.Option("--set", metavar="KEY=VALUE", help=SET_HELP)] = None,
        trajectories: Annotated[int | None, typer.Option(help=OPTION_HELP["trajectories"])] = None,
        sweep: Annotated[int | None, typer.Option(help=OPTION_HELP["sweep"])] = None,
        starts: Annotated[int | None, typer.Option(help=OPTION_HELP["starts"])] = None,
        prefix: Annotated[str | None, typer.Option(help=OPTION_HELP["prefix"])] = None,
        real: Annotated[Literal[REALS] | None, typer.Option(help="C: the real type (default float).")] = None,
        cortex_m4: Annotated[bool | None, typer.Option("--cortex-m4/--no-cortex-m4", help=OPTION_HELP["cortex_m4"])] = None,
        compile_cache: Annotated[
            bool | None, typer.Option("--compile-cache/--no-compile-cache", help=OPTION_HELP["compile_cache"])
        ] = None,
        devices: Annotated[int | None, typer.Option(help=OPTION_HELP["devices"])] = None,
        workers: Annotated[int | None, typer.Option(help=OPTION_HELP["workers"])] = None,
        address: Annotated[str | None, typer.Option(help=OPTION_HELP["address"])] = None,
        resume: Annotated[bool | None, typer.Option("--resume", help=OPTION_HELP["resume"])] = None,
        quiet: Annotated[bool | None, typer.Option("--quiet", help=OPTION_HELP["quiet"])] = None,
        verbose: Annotated[
            bool, typer.Option("--verbose", help="Also print one line per generation or iteration and per validation stage.")
        ] = False,
        as_json: Annotated[
            bool, typer.Option("--json", help="Print a JSON summary on stdout (progress and messages on stderr).")
        ] = False,
        allow_fail: Annotated[bool | None, typer.Option("--allow-fail", help=OPTION_HELP["allow_fail"])] = None,
    ) -> None:
        """Synthesise, validate against LQG, certify, and generate verified C, in one run folder.

        Exit status: 0 when the certificate passes and the C verifies (or with --allow-fail), 2 for a user input error, 3 when the certificate or the C verification fails.
        """
        from . import _pipeline
        from ._config import resolve
        from ._console import enable_x64, err_console, out_console
        from ._progress import ProgressDisplay
        from ._results import RunSummary
        from ._verdict import exit_status, one_line

        cli = dict(
            task=task,
            method=method,
            budget=budget,
            seed=seed,
            out=str(out) if out else None,
            population=population,
            generations=generations,
            islands=islands,
            latent=latent,
            time_budget=time_budget,
            seed_policy=seed_policy,
            robust=robust,
            iterations=iterations,
            batch=batch,
            trajectories=trajectories,
            sweep=sweep,
            starts=starts,
            prefix=prefix,
            real=real,
            cortex_m4=cortex_m4,
            compile_cache=compile_cache,
            resume=resume,
            quiet=quiet,
            allow_fail=allow_fail,
            devices=devices,
            workers=workers,
            address=address,
        )
        cfg = resolve(cli, config, set_)
        enable_x64()
        quiet = cfg["quiet"]
        with ProgressDisplay(err_console, verbose=verbose and not quiet, bars=not quiet) as display:
            summary = _pipeline.run(
                cfg,
                say=(lambda msg: None) if quiet else display.say,
                progress=None if quiet else display.record,
                stages=None if quiet else display.stage,
            )
        status = exit_status(summary["validation"].get("certificate"), summary["codegen"], cfg["allow_fail"])
        if as_json:
            import json

            print(json.dumps(RunSummary.from_pipeline(summary, cfg["seed"]).to_dict()))
            if status:
                err_console.print(
                    f"symctl: {one_line(summary['validation'].get('certificate'), summary['codegen'])} "
                    f"(see {Path(summary['out']) / 'report.html'}); exit status {status}",
                    markup=False,
                    soft_wrap=True,
                )
        else:
            print_summary(summary, out_console, allow_fail=cfg["allow_fail"])
        if status:
            raise typer.Exit(status)


def print_summary(summary: dict, console, allow_fail: bool = False) -> None:
    """The end of a run: where things are, the policy's equations, cost against LQG, the verdict, and
    when something failed, which rows and what to try."""
    from rich.markup import escape

    from ._verdict import EXIT_FAILED, VARIANT_NAMES, failure_lines

    out = Path(summary["out"])
    policy = summary["policy"]
    val = summary["validation"]
    p = console.print
    p("")
    p(f"[bold]run folder[/bold] {out}")
    p(f"  report      {out / 'report.html'}")
    c_files = [f for f in summary["codegen"].get("files", []) if f.endswith((".h", ".c"))]
    skipped = summary["codegen"].get("skipped")
    p(f"  C files     {', '.join(str(out / 'c' / f) for f in c_files) or 'none'}")
    p("[bold]policy[/bold]")
    for line in str(policy).splitlines():
        p(f"  {line}", markup=False)
    mc = val.get("monte_carlo", {}).get("policies", {})
    lqg_name = "lqg"
    mine = mc.get("policy")
    # Where parameters vary, the certificate measures the cost against the per-trajectory LQG oracle,
    # not against the LQG designed at the nominal parameters: say both, and which one it judges.
    oracle = val.get("monte_carlo", {}).get("oracle") or {}
    judged = (oracle.get("ratio_of_policies") or {}).get("policy")
    if mine is not None and lqg_name in mc:
        ratio = mine.get("ratio_to_lqg", {})
        lo, hi = ratio.get("ci95", [math.nan, math.nan])
        p(
            f"[bold]cost[/bold] {_num(mine['mean'])} against LQG{' at the nominal parameters' if judged else ''} "
            f"{_num(mc[lqg_name]['mean'])}: ratio {_num(ratio.get('ratio'))} (95% CI {_num(lo)} to {_num(hi)})"
        )
        for variant, name in VARIANT_NAMES.items():
            if variant in mc:
                p(f"  {name} ({variant}) {_num(mc[variant]['mean'])}")
    if judged:
        lo, hi = judged.get("ci95", [math.nan, math.nan])
        p(
            f"  against the per-trajectory LQG oracle (each trajectory's own parameters; the certificate's reference): "
            f"ratio {_num(judged.get('ratio'))} (95% CI {_num(lo)} to {_num(hi)}) on {oracle.get('designed')} trajectories",
            markup=False,
        )
    cert = val.get("certificate", {})
    p(f"[bold]certificate[/bold] {cert.get('verdict', 'not computed')}")
    for row in cert.get("rows", []):
        p(f"  {row.get('status', '?'):>14}  {row.get('name', '')}: {row.get('value', '')}", markup=False)
    cg = summary["codegen"]
    verdict = (
        f"skipped: {skipped}" if skipped else "PASS" if cg.get("ok") else "FAIL" if "ok" in cg else "see c/verification.json"
    )
    p(f"[bold]C verification[/bold] {escape(verdict)}")
    lines = failure_lines(cert, cg, out / "c" / "verification.log", summary.get("task"), val.get("monte_carlo"))
    for line in lines:
        p(line, markup=False, soft_wrap=True)
    if lines:
        p("exit status 0 (--allow-fail)" if allow_fail else f"exit status {EXIT_FAILED} (--allow-fail keeps 0)", markup=False)


def _num(v) -> str:
    try:
        return f"{float(v):.4g}"
    except (TypeError, ValueError):
        return str(v)
