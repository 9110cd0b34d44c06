"""`symctl export`: a policy as LaTeX, Python source, a CasADi Function, or a python-control state space."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export_cmd(
        policy: Annotated[str, typer.Argument(help="A policy.json or a run folder.")],
        latex: Annotated[bool, typer.Option("--latex", help="Print the equations as LaTeX.")] = False,
        python: Annotated[Path | None, typer.Option("--python", help="Write a self-contained Python module.")] = None,
        casadi: Annotated[
            Path | None, typer.Option("--casadi", help="Save a CasADi Function step(z, y, r) -> (u, z_next).")
        ] = None,
        statespace: Annotated[
            bool, typer.Option("--statespace", help="Print the python-control state space (linear policies).")
        ] = False,
    ) -> None:
        """Export a policy beside C: LaTeX, Python, CasADi, python-control."""
        from plants import UserInputError
        from synth import SymbolicPolicy
        from synth._export import to_casadi, to_latex, to_python, to_statespace

        pol = SymbolicPolicy.load(policy)
        if not (latex or python or casadi or statespace):
            raise UserInputError("say what to export: --latex, --python FILE, --casadi FILE or --statespace")
        if latex:
            print(to_latex(pol), end="")
        if python:
            python.write_text(to_python(pol), encoding="utf-8")
            print(f"wrote {python}")
        if casadi:
            to_casadi(pol).save(str(casadi))
            print(f"wrote {casadi} (load with casadi.Function.load)")
        if statespace:
            print(to_statespace(pol))
