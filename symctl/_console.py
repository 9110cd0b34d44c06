"""What the CLI's commands share: the consoles, the JAX precision switch, policy arguments, progress lines.

`cli` and every `_cmd_*` module read these from here, so a command module never imports `cli` (which
imports the command modules to register them).
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from plants import UserInputError

out_console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def enable_x64() -> None:
    """Float64 in JAX: the commands that simulate or validate compare with float64 references."""
    import jax

    jax.config.update("jax_enable_x64", True)


def resolve_policy(spec: str, task):
    """A policy from `lqg`, `lqg-ss`, a policy.json path or a run folder."""
    from synth import SymbolicPolicy
    from validation import LQG_VARIANTS, lqg

    if spec in LQG_VARIANTS:
        return lqg(task, spec)
    path = Path(spec)
    if not path.exists():
        raise UserInputError(f"--policy {spec!r}: no such file or run folder; give lqg, lqg-ss, a policy.json or a run folder")
    return SymbolicPolicy.load(path)


def progress_printer():
    """A `progress(record)` callback that prints each record as one line on stderr."""
    def show(record: dict) -> None:
        parts = []
        for k, v in record.items():
            parts.append(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}")
        err_console.print("  ".join(parts))

    return show
