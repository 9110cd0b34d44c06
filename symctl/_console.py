"""What the CLI's commands share: the consoles, the JAX precision switch, policy arguments (the progress display is `_progress`).

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
    """A policy from `lqg`, `lqg-ss`, `lqg-i`, `lqg-p`, a policy.json or network.json path, or a run folder."""
    from synth import load_policy
    from validation import LQG_VARIANTS, lqg

    if spec in LQG_VARIANTS:
        return lqg(task, spec)
    path = Path(spec)
    if not path.exists():
        raise UserInputError(
            f"--policy {spec!r}: no such file or run folder; give lqg, lqg-ss, lqg-i, lqg-p, a policy.json or a run folder"
        )
    return load_policy(path)


def run_folder_task(spec) -> str | None:
    """The task a run folder was made for, as its `config.toml` names it (the path of the task file
    where there is one, else a built-in name), for a run folder or a file inside one; None otherwise. A
    policy's provenance holds only the task's name, which names no file for a task of the user's.
    None for a policy object too."""
    import tomllib

    if not isinstance(spec, (str, Path)):
        return None
    path = Path(spec)
    folder = path if path.is_dir() else path.parent
    config = folder / "config.toml"
    if not config.is_file():
        return None
    try:
        cfg = tomllib.loads(config.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    for key in ("task_file", "task"):  # `symctl synth` writes the file beside the name; `symctl run`, the file as task
        if isinstance(cfg.get(key), str) and cfg[key]:
            return cfg[key]
    return None
