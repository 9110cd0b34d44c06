"""`symctl campaign CAMPAIGN.toml`: a grid of runs on a Dask cluster, and the table of their results."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("campaign")
    def campaign_cmd(
        file: Annotated[
            Path,
            typer.Argument(
                help="Campaign file (TOML): [campaign] tasks, methods, seeds, budgets, out; "
                "[run] options of every run; [gp] / [espl] / [nde] settings."
            ),
        ],
        workers: Annotated[
            int | None,
            typer.Option(
                min=1,
                help="Local cluster: worker processes, one run each at a time (default: one per core). With --address: ignored.",
            ),
        ] = None,
        address: Annotated[
            str | None,
            typer.Option(
                help="A running Dask cluster (tcp://host:8786, or the file of "
                "`dask scheduler --scheduler-file`); default: a local cluster."
            ),
        ] = None,
        out: Annotated[
            Path | None, typer.Option(help="Campaign folder (default: [campaign] out, else campaigns/<file name>).")
        ] = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="List the runs and which are finished; run nothing.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print the summary rows as JSON on stdout.")] = False,
        quiet: Annotated[bool, typer.Option(help="Print nothing but errors (and --json).")] = False,
    ) -> None:
        """Run every task x method x budget x seed of a campaign file as a `symctl run` run folder, on a
        local Dask cluster or a running one (--address); finished runs are skipped. Writes summary.csv,
        runs.csv and summary.html (mean held-out cost and ratio to LQG over the seeds with 95% intervals,
        size, seconds) in the campaign folder.

        Exit status: 0 when every run finished (whatever its certificate), 1 when a run raised an error,
        2 for a user input error (the campaign file, an option)."""
        from ._campaign import load_campaign, run_campaign
        from ._console import err_console, out_console

        campaign = load_campaign(file, out)
        say = (lambda line: None) if quiet else (lambda line: err_console.print(line, markup=False, soft_wrap=True))
        if dry_run:
            for run in campaign.runs():
                out_console.print(f"{'finished' if run.finished() else 'to run':>9}  {run.folder}", markup=False)
            return
        result = run_campaign(campaign, workers=workers, address=address, say=say)
        if as_json:
            import json

            from synth._json import jsonable

            print(json.dumps(jsonable(result["summary"])))
        elif not quiet:
            _print_summary(result["summary"], out_console)
        for f in result["files"]:
            say(f"wrote {f}")
        if result["failed"]:
            err_console.print(
                f"symctl: {len(result['failed'])} run(s) failed: "
                + "; ".join(f"{Path(r['folder']).name}: {r['error']}" for r in result["failed"]),
                markup=False,
                soft_wrap=True,
            )
            raise typer.Exit(1)


def _print_summary(summary: list[dict], console) -> None:
    from rich.table import Table

    def num(v) -> str:
        return f"{v:.4g}" if isinstance(v, float) and math.isfinite(v) else str(v)

    table = Table(title="campaign")
    for col in ("task", "method", "budget", "seeds", "cost (95% CI)", "x LQG (95% CI)", "PASS", "ops", "synth s"):
        table.add_column(col)
    for r in summary:
        table.add_row(
            r["task"],
            r["method"],
            r["budget"],
            str(r["seeds"]),
            f"{num(r['cost_mean'])} ({num(r['cost_ci_low'])}-{num(r['cost_ci_high'])})",
            f"{num(r['ratio_mean'])} ({num(r['ratio_ci_low'])}-{num(r['ratio_ci_high'])})",
            str(r["certificate_pass"]),
            num(r["operations_mean"]),
            num(r["synth_seconds"]),
        )
    console.print(table)
