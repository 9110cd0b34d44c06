"""`symctl validate`: Monte Carlo against LQG, sweeps, worst case, margins, certificate, report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer

# The sweep designs of `validation` (validation._sweep.DESIGNS; a test checks they agree): named here
# so that `--help` lists them without importing CasADi.
DESIGNS = ("lhs", "sobol", "grid", "random")


def register(app: typer.Typer) -> None:
    @app.command("validate")
    def validate_cmd(
        target: Annotated[
            str, typer.Argument(help="A run folder (with policy.json), a policy.json, or lqg / lqg-ss / lqg-i / lqg-p.")
        ],
        task: Annotated[str | None, typer.Option(help="Task name or TOML file (default: the policy's provenance task).")] = None,
        trajectories: Annotated[int, typer.Option(min=2, help="Monte Carlo trajectories (held-out stream 'test').")] = 1000,
        sweep: Annotated[int, typer.Option(min=0, help="Points of the parameter-box sweep (0: none).")] = 256,
        starts: Annotated[int, typer.Option(min=0, help="Worst-case IPOPT starts (0: no search).")] = 8,
        seed: Annotated[int, typer.Option(help="Seed of the held-out trajectories and the sweep design.")] = 0,
        design: Annotated[Literal[DESIGNS], typer.Option(help="Sweep design.")] = "lhs",
        widen: Annotated[float, typer.Option(min=0, help="Widen the parameter box about its centre by this factor.")] = 1.0,
        sweep_ticks: Annotated[
            int | None, typer.Option(min=1, help="Horizon of sweeps and worst case in ticks (default: the task's).")
        ] = None,
        oracle: Annotated[
            int, typer.Option(min=0, help="Trajectories for the per-trajectory LQG oracle (varying parameters).")
        ] = 50,
        integration_replays: Annotated[
            int,
            typer.Option(
                min=0,
                help="Replay this many of the policy's costliest held-out trajectories, and as many random others, with CVODES, to check the fixed step (0: none).",
            ),
        ] = 4,
        requirements: Annotated[Path | None, typer.Option(help="TOML file overriding the certificate's requirements.")] = None,
        out: Annotated[Path | None, typer.Option(help="Output folder (default: the run folder, or next to policy.json).")] = None,
        workers: Annotated[
            int | None,
            typer.Option(
                min=1,
                help="Split the Monte Carlo and the parameter-box sweep over this many Dask worker processes (a local cluster unless --address); the same costs as one process.",
            ),
        ] = None,
        address: Annotated[
            str | None,
            typer.Option(
                help="A running Dask cluster for the split Monte Carlo and sweep: tcp://host:8786, or the file of `dask scheduler --scheduler-file`."
            ),
        ] = None,
        as_json: Annotated[
            bool, typer.Option("--json", help="Print the certificate as JSON on stdout (progress on stderr).")
        ] = False,
        quiet: Annotated[bool, typer.Option(help="No progress display.")] = False,
        allow_fail: Annotated[bool, typer.Option("--allow-fail", help="Exit 0 even when the certificate fails.")] = False,
    ) -> None:
        """Validate a policy: Monte Carlo vs LQG, CasADi sweeps, worst case, margins; writes validation.json and report.html.

        Exit status: 0 when the certificate passes (or with --allow-fail), 2 for a user input error, 3 when the certificate fails.
        """
        from ._api import validate
        from ._console import err_console, out_console
        from ._progress import ProgressDisplay
        from ._verdict import EXIT_FAILED, exit_status, failure_lines, one_line

        settings = {
            "trajectories": trajectories,
            "sweep": sweep,
            "starts": starts,
            "seed": seed,
            "sweep_design": design,
            "widen": widen,
            "sweep_ticks": sweep_ticks,
            "oracle_trajectories": oracle,
            "integration_replays": integration_replays,
            "requirements": str(requirements) if requirements else None,
            "workers": workers,
            "address": address,
        }
        with ProgressDisplay(err_console, bars=not quiet) as display:
            result = validate(target, task, out=out, progress=None if quiet else display.stage, **settings)
        res, out_dir = result.results, result.out
        cert = res["certificate"]
        status = exit_status(cert, None, allow_fail)
        if as_json or quiet:
            if as_json:
                print(json.dumps(result.to_dict()))
            if status:
                err_console.print(
                    f"symctl: certificate {one_line(cert)} (see {Path(out_dir) / 'report.html'}); exit status {status}",
                    markup=False,
                    soft_wrap=True,
                )
        else:
            from rich.table import Table

            table = Table(title=f"certificate: {cert['verdict']}")
            for col in ("requirement", "threshold", "status", "evidence"):
                table.add_column(col)
            for row in cert["rows"]:
                colour = {"PASS": "green", "FAIL": "red"}.get(row["status"], "dim")
                table.add_row(row["name"], row["requirement"], f"[{colour}]{row['status']}[/{colour}]", row["evidence"])
            out_console.print(table)
            out_console.print(f"wrote {Path(out_dir) / 'validation.json'} and {Path(out_dir) / 'report.html'}")
            lines = failure_lines(cert, None, task=res.get("task"), monte_carlo=res.get("monte_carlo"))
            for line in lines:
                out_console.print(line, markup=False, soft_wrap=True)
            if lines:
                out_console.print(
                    "exit status 0 (--allow-fail)" if allow_fail else f"exit status {EXIT_FAILED} (--allow-fail keeps 0)",
                    markup=False,
                )
        if status:
            raise typer.Exit(status)
