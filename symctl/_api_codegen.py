"""The Python API of `symctl codegen`: `generate_c` writes a policy's C and, with `verify`, checks it
against the float64 reference on a recorded closed loop (`record`), on the host and on an emulated
Cortex-M4F."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from plants import Task, UserInputError
from synth import SymbolicPolicy

from ._results import CCode

MIN_TICKS = 1500  # closed-loop ticks recorded for `generate_c(..., verify=True)`


def default_prefix(policy: SymbolicPolicy) -> str:
    """The C prefix `symctl codegen` uses by default: the task and method of the policy's provenance."""
    import re

    prov = policy.provenance
    text = "_".join(str(prov.get(k, "")) for k in ("task", "method") if prov.get(k)) or "controller"
    text = re.sub(r"[^A-Za-z0-9_]", "_", text).strip("_").lower()
    return text if text[:1].isalpha() else f"ctl_{text}"


def record(policy: SymbolicPolicy, task: Task, seed: int, min_ticks: int = MIN_TICKS):
    """Closed-loop recording from the JAX simulator for C verification: observations (S, T, ny),
    targets (S, nr) and controls (S, T, nu) of enough scenarios of stream "codegen" for `min_ticks`."""
    import numpy as np

    from synth import Simulator
    from synth._runfolder import stream_key

    from ._console import enable_x64

    enable_x64()
    sim = Simulator(task)
    n = max(1, math.ceil(min_ticks / task.n_ticks))
    scen = sim.scenarios(stream_key(seed, "codegen"), n)
    roll = sim.simulate(policy, scen, save=True)
    return np.asarray(roll.y, float), np.asarray(scen.r, float), np.asarray(roll.u, float)


def generate_c(
    policy: SymbolicPolicy | str | Path,
    out_dir: str | Path,
    *,
    task: Task | str | Path | None = None,
    prefix: str | None = None,
    real: str = "float",
    single_header: bool = False,
    verify: bool = False,
    target: str = "host",
    seed: int = 0,
) -> CCode:
    """Generate C for a policy as `symctl codegen` does, and with `verify` check it against the
    Python float64 reference.

    Parameters
    ----------
    policy : SymbolicPolicy, str or path
        A policy, a ``policy.json``, a run folder, or ``"lqg"`` / ``"lqg-ss"`` / ``"lqg-i"`` / ``"lqg-p"`` (designed for `task`).
    out_dir : str or path
        Folder for ``<prefix>.h``, ``<prefix>.c``, ``example/main.c`` and the build fragments.
    task : plants.Task, str or path, optional
        The task for LQG and for the recorded trajectories of `verify`; default the policy's provenance task.
    prefix : str, optional
        Prefix of the generated names and files; default from the provenance's task and method.
    real : {"float", "double"}
        Real type of the generated code.
    single_header : bool
        One header with every function ``static inline``.
    verify : bool
        Compile with strict warnings, run on a recorded closed loop (at least 1,500 ticks) and compare
        with the Python reference; the report is in ``.verification`` and ``out_dir/verification.log``.
    target : {"host", "cortex-m4"}
        Where `verify` runs the code: the host, or also an emulated Cortex-M4F (QEMU).
    seed : int
        Seed of the recorded trajectories.

    Returns
    -------
    CCode
        ``.files``, ``.code`` (`codegen.GeneratedCode`), and with `verify` ``.ok`` and ``.verification``.

    Raises
    ------
    plants.UserInputError
        A bad prefix, real type or target, LQG without a task, a missing policy file.

    Examples
    --------
    >>> c = symctl.generate_c("runs/sho", "runs/sho/c", verify=True)  # doctest: +SKIP
    >>> c.ok, [p.name for p in c.files]  # doctest: +SKIP
    """
    import codegen
    import plants
    from synth import AbstractNetworkPolicy
    from validation import LQG_VARIANTS

    from ._console import resolve_policy, run_folder_task

    if task is None:
        task = run_folder_task(policy)  # a run folder of a task file: its provenance holds only the name
    t = plants.get_task(task) if task is not None else None
    if isinstance(policy, (SymbolicPolicy, AbstractNetworkPolicy)):
        pol = policy
    else:
        if str(policy) in LQG_VARIANTS and t is None:
            raise UserInputError(f"{str(policy)!r} needs a task to design LQG for (--task, or task= in Python)")
        pol = resolve_policy(str(policy), t)
    _refuse_network(pol, policy)
    code = codegen.generate(pol, out_dir, prefix=prefix or default_prefix(pol), real=real, single_header=single_header)
    if not verify:
        return CCode(code)
    if t is None:
        name = pol.provenance.get("task")
        if not name:
            raise UserInputError(
                "--verify needs a task to record observations; the policy names none, so give --task (task= in Python)"
            )
        t = plants.get_task(name)
    targets = ("host",) if target == "host" else ("host", target)
    ys, r, us = record(pol, t, seed)
    log = Path(out_dir) / "verification.log"
    report = codegen.verify(pol, code, ys, r, targets=targets, log=log, recorded_u=us)
    return CCode(code, report, log)


def _refuse_network(policy: Any, source: Any) -> None:
    """Code generation prints expressions: refuse a network policy (the NDE's) in one line."""
    from synth import AbstractNetworkPolicy

    if isinstance(policy, AbstractNetworkPolicy):
        where = (
            "the network policy given"
            if policy is source
            else f"{str(source)!r} holds a network policy (network.json, method nde)"
        )
        raise UserInputError(
            f"codegen: {where}; C is generated from symbolic policies only (policy.json): "
            "synthesise with a symbolic method (gp-d, gp-s, gp-l, espl-d, espl-s) for C"
        )


__all__ = ["MIN_TICKS", "default_prefix", "generate_c", "record"]
