"""`symctl codegen`: a policy -> C files, optionally verified on the host and on an emulated Cortex-M4F."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer

from codegen import REALS, TARGETS


def register(app: typer.Typer) -> None:
    @app.command("codegen")
    def codegen_cmd(
        source: Annotated[
            str, typer.Argument(help="A run folder, a policy.json, or lqg / lqg-ss / lqg-i / lqg-p (with --task).")
        ],
        out: Annotated[Path, typer.Option(help="Directory for the generated C files.")],
        prefix: Annotated[str | None, typer.Option(help="C name prefix (default: from task and method).")] = None,
        real: Annotated[Literal[REALS], typer.Option(help="Real type of the generated code.")] = "float",
        single_header: Annotated[bool, typer.Option("--single-header", help="One header, every function static inline.")] = False,
        target: Annotated[
            Literal[TARGETS], typer.Option(help="host, or cortex-m4 (host checks plus QEMU, size, instructions/step).")
        ] = "host",
        verify: Annotated[bool, typer.Option("--verify", help="Compile, run and compare with the Python reference.")] = False,
        task: Annotated[
            str | None, typer.Option(help="Task for LQG and for recording (default: the policy's provenance).")
        ] = None,
        seed: Annotated[int, typer.Option(help="Seed of the recorded closed-loop trajectories.")] = 0,
        as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout (the rest on stderr).")] = False,
    ) -> None:
        """Generate C for a policy (`<prefix>.h/.c`, example main, Makefile/CMake snippets); --verify checks it.

        Exit status: 0 when the C is written (and with --verify, verified), 2 for a user input error, 3 when the verification fails.
        """
        import codegen

        from ._api_codegen import generate_c
        from ._console import err_console, out_console
        from ._verdict import EXIT_FAILED

        console = err_console if as_json else out_console
        result = generate_c(
            source, out, task=task, prefix=prefix, real=real, single_header=single_header, verify=verify, target=target, seed=seed
        )
        console.print(f"wrote {', '.join(str(p) for p in result.files)}", soft_wrap=True)
        if verify:
            for line in codegen.summary_lines(result.verification):
                console.print(line, markup=False, soft_wrap=True)
            console.print(f"report: {result.log} and {result.log}.json")
        if as_json:
            print(json.dumps(result.to_dict()))
        if verify and not result.ok:
            raise typer.Exit(EXIT_FAILED)
