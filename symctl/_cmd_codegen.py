"""`symctl codegen`: a policy -> C files, optionally verified on the host and on an emulated Cortex-M4F."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated

import typer

from plants import UserInputError

MIN_TICKS = 1500


def _default_prefix(policy) -> str:
    prov = policy.provenance
    text = "_".join(str(prov.get(k, "")) for k in ("task", "method") if prov.get(k)) or "controller"
    text = re.sub(r"[^A-Za-z0-9_]", "_", text).strip("_").lower()
    return text if text[:1].isalpha() else f"ctl_{text}"


def record(policy, task, seed: int, min_ticks: int = MIN_TICKS):
    """Closed-loop recording from the JAX simulator: observations (S, T, ny), targets (S, nr), controls."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import numpy as np

    from synth import Simulator
    from synth._runfolder import stream_key

    sim = Simulator(task)
    n = max(1, math.ceil(min_ticks / task.n_ticks))
    scen = sim.scenarios(stream_key(seed, "codegen"), n)
    roll = sim.simulate(policy, scen, save=True)
    return np.asarray(roll.y, float), np.asarray(scen.r, float), np.asarray(roll.u, float)


def register(app: typer.Typer) -> None:
    @app.command("codegen")
    def codegen_cmd(
        source: Annotated[str, typer.Argument(help="A run folder, a policy.json, or lqg / lqg-ss (with --task).")],
        out: Annotated[Path, typer.Option(help="Directory for the generated C files.")],
        prefix: Annotated[str | None, typer.Option(help="C name prefix (default: from task and method).")] = None,
        real: Annotated[str, typer.Option(help="Real type of the generated code: float or double.")] = "float",
        single_header: Annotated[bool, typer.Option("--single-header", help="One header, every function static inline.")] = False,
        target: Annotated[str, typer.Option(help="host, or cortex-m4 (host checks plus QEMU, size, instructions/step).")] = "host",
        verify: Annotated[bool, typer.Option("--verify", help="Compile, run and compare with the Python reference.")] = False,
        task: Annotated[str | None, typer.Option(help="Task for recording (default: the policy's provenance).")] = None,
        seed: Annotated[int, typer.Option(help="Seed of the recorded closed-loop trajectories.")] = 0,
    ) -> None:
        """Generate C for a policy (`<prefix>.h/.c`, example main, Makefile/CMake snippets); --verify checks it."""
        import codegen
        import plants

        from ._console import out_console, resolve_policy

        if real not in ("float", "double"):
            raise UserInputError(f"--real {real!r} is not valid; use float or double")
        if target not in ("host", "cortex-m4"):
            raise UserInputError(f"--target {target!r} is not valid; use host or cortex-m4")
        t = None
        if task is not None:
            t = plants.get_task(task)
        if source in ("lqg", "lqg-ss"):
            if t is None:
                raise UserInputError(f"{source!r} needs --task (the task to design LQG for)")
            policy = resolve_policy(source, t)
        else:
            policy = resolve_policy(source, t)
        prefix = prefix or _default_prefix(policy)
        code = codegen.generate(policy, out, prefix=prefix, real=real, single_header=single_header)
        out_console.print(f"wrote {', '.join(str(p) for p in code.files)}", soft_wrap=True)
        if not verify:
            return
        if t is None:
            name = policy.provenance.get("task")
            if not name:
                raise UserInputError("--verify needs a task to record observations; the policy names none, so give --task")
            t = plants.get_task(name)
        ys, r, us = record(policy, t, seed)
        targets = ("host",) if target == "host" else ("host", "cortex-m4")
        log = Path(out) / "verification.log"
        report = codegen.verify(policy, code, ys, r, targets=targets, log=log, recorded_u=us)
        for line in codegen.summary_lines(report):
            out_console.print(line, markup=False, soft_wrap=True)
        out_console.print(f"report: {log} and {log}.json")
        if not report["ok"]:
            from ._verdict import EXIT_FAILED

            raise typer.Exit(EXIT_FAILED)
