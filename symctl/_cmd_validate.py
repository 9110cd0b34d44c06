"""`symctl validate`: Monte Carlo against LQG, sweeps, worst case, margins, certificate, report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("validate")
    def validate_cmd(
        target: Annotated[str, typer.Argument(help="A run folder (with policy.json), a policy.json, or lqg / lqg-ss.")],
        task: Annotated[str | None, typer.Option(help="Task name or TOML file (default: the policy's provenance task).")] = None,
        trajectories: Annotated[int, typer.Option(min=2, help="Monte Carlo trajectories (held-out stream 'test').")] = 1000,
        sweep: Annotated[int, typer.Option(min=0, help="Points of the parameter-box sweep (0: none).")] = 256,
        starts: Annotated[int, typer.Option(min=0, help="Worst-case IPOPT starts (0: no search).")] = 8,
        seed: Annotated[int, typer.Option(help="Seed of the held-out trajectories and the sweep design.")] = 0,
        design: Annotated[str, typer.Option(help="Sweep design: lhs, sobol, grid or random.")] = "lhs",
        widen: Annotated[float, typer.Option(min=0, help="Widen the parameter box about its centre by this factor.")] = 1.0,
        sweep_ticks: Annotated[int | None, typer.Option(min=1, help="Horizon of sweeps and worst case in ticks (default: the task's).")] = None,
        oracle: Annotated[int, typer.Option(min=0, help="Trajectories for the per-trajectory LQG oracle (varying parameters).")] = 50,
        requirements: Annotated[Path | None, typer.Option(help="TOML file overriding the certificate's requirements.")] = None,
        out: Annotated[Path | None, typer.Option(help="Output folder (default: the run folder, or next to policy.json).")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the certificate as JSON.")] = False,
        quiet: Annotated[bool, typer.Option(help="No progress display.")] = False,
        allow_fail: Annotated[bool, typer.Option("--allow-fail", help="Exit 0 even when the certificate fails.")] = False,
    ) -> None:
        """Validate a policy: Monte Carlo vs LQG, CasADi sweeps, worst case, margins; writes validation.json and report.html.

        Exit status: 0 when the certificate passes (or with --allow-fail), 2 for a user input error, 3 when the certificate fails.
        """
        import jax

        import plants
        from synth import SymbolicPolicy
        from synth._runfolder import default_run_folder
        from validation import LQG_VARIANTS, ValidationError, lqg, validate

        from ._console import err_console, out_console
        from ._verdict import EXIT_FAILED, exit_status, failure_lines, one_line

        jax.config.update("jax_enable_x64", True)
        path = Path(target)
        if target in LQG_VARIANTS:
            if task is None:
                raise ValidationError(f"validate {target}: give --task")
            t = plants.get_task(task)
            policy = lqg(t, target)
            out_dir = out or default_run_folder(t.name, target, "validation")
        else:
            if not path.exists():
                raise ValidationError(f"validate {target!r}: no such run folder or policy file; give a run folder, a policy.json, lqg or lqg-ss")
            policy = SymbolicPolicy.load(path)
            out_dir = out or (path if path.is_dir() else path.parent)
            t = plants.get_task(task) if task else None
        settings = {"trajectories": trajectories, "sweep": sweep, "starts": starts, "seed": seed, "sweep_design": design,
                    "widen": widen, "sweep_ticks": sweep_ticks, "oracle_trajectories": oracle,
                    "requirements": str(requirements) if requirements else None}
        if quiet:
            res = validate(policy, t, out_dir, settings)
        else:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=err_console, transient=True) as prog:
                bar = prog.add_task("validation", total=1.0)

                def report(stage: str, frac: float) -> None:
                    prog.update(bar, completed=frac, description=f"validation: {stage}")

                res = validate(policy, t, out_dir, settings, progress=report)
        cert = res["certificate"]
        status = exit_status(cert, None, allow_fail)
        if as_json or quiet:
            if as_json:
                from synth._json import jsonable

                print(json.dumps(jsonable({"verdict": cert["verdict"], "rows": cert["rows"], "out": str(out_dir)})))
            if status:
                err_console.print(f"symctl: certificate {one_line(cert)} (see {Path(out_dir) / 'report.html'}); exit status {status}",
                                  markup=False, soft_wrap=True)
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
            lines = failure_lines(cert, None, task=t.name if t else policy.provenance.get("task"))
            for line in lines:
                out_console.print(line, markup=False, soft_wrap=True)
            if lines:
                out_console.print("exit status 0 (--allow-fail)" if allow_fail else f"exit status {EXIT_FAILED} (--allow-fail keeps 0)",
                                  markup=False)
        if status:
            raise typer.Exit(status)
